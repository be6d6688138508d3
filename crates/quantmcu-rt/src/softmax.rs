//! int8 → int8 SOFTMAX, bit-exact with TFLM's reference kernel.
//!
//! TFLM (`micro/kernels/softmax.cc`, `softmax_common.cc`) runs int8 input with
//! int8 output through the templated `reference_ops::Softmax`, the gemmlowp
//! fixed-point path; lookup tables are only built for int16 input. That path:
//!
//! 1. finds the row maximum (starting from `-128`);
//! 2. for every element whose difference to the maximum is `>= diff_min`,
//!    rescales the difference into Q5.26 with
//!    `MultiplyByQuantizedMultiplierGreaterThanOne` (double-rounding build),
//!    takes `exp_on_negative_values` (Q0.31), rescales it to Q12.19 and sums;
//! 3. inverts the sum with `GetReciprocal` (normalise + `1/(1+x)`);
//! 4. for each element, `RoundingDivideByPOT(srdhm(reciprocal, exp), e)` with
//!    `e = num_bits_over_unit + 31 - 8`, adds `-128` and clamps to int8;
//!    elements below `diff_min` output `-128`.
//!
//! Preparation mirrors `PreprocessSoftmaxScaling` and `CalculateInputRadius`:
//! `real = min(f64(beta) * f64(input_scale) * 2^26, 2^31 - 1)` (double math,
//! the cap being the double-rounding build's), quantized with
//! `QuantizeMultiplierGreaterThanOne`, and
//! `diff_min = -floor(31 * 2^26 / 2^input_left_shift)`.
//!
//! TFLM's Prepare also requires the int8 output to have zero point `-128` and
//! scale exactly `1.0f / 256`; checking that is left to the caller.

use crate::fixedpoint::{
    exp_on_negative_values, get_reciprocal, multiply_by_quantized_multiplier_greater_than_one, quantize_multiplier,
    rescale, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};

/// Integer bits of the scaled input difference fed to `exp` (Q5.26).
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the running sum of exponentials (Q12.19).
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// Per-node constants of the int8 softmax, as TFLM's `SoftmaxParams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxParams {
    /// Q31 multiplier of `beta * input_scale * 2^26` (normalised).
    pub input_multiplier: i32,
    /// Left shift (`>= 0`) paired with `input_multiplier`.
    pub input_left_shift: i32,
    /// Most negative `input - row_max` difference that still contributes;
    /// smaller differences output `-128` (always `<= 0`).
    pub diff_min: i32,
}

/// Computes the softmax constants for `beta` and the input tensor scale, or
/// `None` where TFLM's `QuantizeMultiplierGreaterThanOne` check would abort
/// (when `beta * input_scale * 2^26` is NaN or `<= 1`; an infinite product is
/// capped at `2^31 - 1` like any other large one).
pub fn try_softmax_params(beta: f32, input_scale: f32) -> Option<SoftmaxParams> {
    const MAX_REAL_MULTIPLIER: f64 = 2_147_483_647.0; // (1 << 31) - 1
    let scaled = f64::from(beta) * f64::from(input_scale) * f64::from(1i32 << (31 - SCALED_DIFF_INTEGER_BITS));
    // std::min(scaled, max) returns `scaled` unless max < scaled.
    let real = if MAX_REAL_MULTIPLIER < scaled {
        MAX_REAL_MULTIPLIER
    } else {
        scaled
    };
    // NaN fails both comparisons above and is rejected here; +inf was capped.
    if real.is_nan() || real <= 1.0 {
        return None;
    }
    let (input_multiplier, input_left_shift) = quantize_multiplier(real);
    if input_left_shift < 0 {
        return None;
    }
    // floor((2^5 - 1) * 2^26 / 2^shift): every factor is exact in f64, so an
    // integer floor shift gives the identical value.
    let radius = (((1i64 << SCALED_DIFF_INTEGER_BITS) - 1) << (31 - SCALED_DIFF_INTEGER_BITS)) >> input_left_shift;
    Some(SoftmaxParams {
        input_multiplier,
        input_left_shift,
        diff_min: -(radius as i32),
    })
}

/// Computes the softmax constants exactly as TFLM's Prepare does for int8
/// input (`beta` and `input_scale` widened from `f32` to `f64` before the
/// product).
///
/// # Panics
///
/// Panics where TFLM's Prepare aborts; see [`try_softmax_params`].
pub fn softmax_params(beta: f32, input_scale: f32) -> SoftmaxParams {
    try_softmax_params(beta, input_scale).expect("softmax: beta * input_scale * 2^26 must be > 1")
}

/// Rescaled `exp(input_diff)` in Q0.31 for an element that passed the
/// `diff_min` test.
#[inline]
fn exp_of_diff(params: &SoftmaxParams, input_diff: i32) -> i32 {
    let rescaled =
        multiply_by_quantized_multiplier_greater_than_one(input_diff, params.input_multiplier, params.input_left_shift);
    exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS)
}

/// Softmax of one row of int8 values into int8 probabilities
/// (scale `1/256`, zero point `-128`), bit-exact with TFLM.
///
/// The caller iterates over rows (the innermost dimension).
///
/// # Panics
///
/// Panics if `input.len() != output.len()`, or — as TFLM's `TFLITE_CHECK`
/// does — if the Q12.19 sum of exponentials overflows, which needs at least
/// 4096 elements in the row.
pub fn softmax_int8(params: &SoftmaxParams, input: &[i8], output: &mut [i8]) {
    assert_eq!(input.len(), output.len(), "softmax row length mismatch");
    if input.is_empty() {
        return;
    }
    let max_in_row = i32::from(input.iter().copied().fold(i8::MIN, i8::max));

    let mut sum_of_exps: i32 = 0; // Q12.19
    for &x in input {
        let input_diff = i32::from(x) - max_in_row;
        if input_diff >= params.diff_min {
            let exp = exp_of_diff(params, input_diff);
            sum_of_exps = sum_of_exps.wrapping_add(rescale(exp, 0, ACCUMULATION_INTEGER_BITS));
        }
    }

    let (shifted_scale, num_bits_over_unit) = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
    let exponent = num_bits_over_unit + 31 - 8;
    assert!((0..=31).contains(&exponent), "softmax: sum of exponentials overflowed");

    for (&x, out) in input.iter().zip(output.iter_mut()) {
        let input_diff = i32::from(x) - max_in_row;
        *out = if input_diff >= params.diff_min {
            let exp = exp_of_diff(params, input_diff);
            let unsat = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale, exp), exponent);
            unsat
                .wrapping_add(i32::from(i8::MIN))
                .clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8
        } else {
            i8::MIN
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(params: &SoftmaxParams, input: &[i8]) -> [i8; 16] {
        let mut out = [0i8; 16];
        softmax_int8(params, input, &mut out[..input.len()]);
        out
    }

    /// exp for tests without std (range reduction + series).
    fn exp_f64(x: f64) -> f64 {
        let k = 8;
        let y = x / f64::from(1 << k);
        let (mut term, mut sum) = (1.0, 1.0);
        for n in 1..30 {
            term *= y / f64::from(n);
            sum += term;
        }
        for _ in 0..k {
            sum *= sum;
        }
        sum
    }

    #[test]
    fn params_power_of_two_scale() {
        // 1/16 * 2^26 = 2^22 = 0.5 * 2^23.
        let p = softmax_params(1.0, 1.0 / 16.0);
        assert_eq!(
            p,
            SoftmaxParams {
                input_multiplier: 1 << 30,
                input_left_shift: 23,
                diff_min: -248, // floor(31 * 2^26 / 2^23)
            }
        );
        let p = softmax_params(1.0, 1.0);
        assert_eq!((p.input_multiplier, p.input_left_shift, p.diff_min), (1 << 30, 27, -15));
    }

    #[test]
    fn params_capped_multiplier() {
        // beta * scale * 2^26 far above 2^31 - 1: capped, shift 31, radius 0.
        let p = softmax_params(1.0, 1000.0);
        assert_eq!(
            p,
            SoftmaxParams {
                input_multiplier: i32::MAX,
                input_left_shift: 31,
                diff_min: 0
            }
        );
        let mut out = [0i8; 3];
        softmax_int8(&p, &[5, 5, 4], &mut out);
        assert_eq!(out, [0, 0, -128]);
    }

    #[test]
    fn params_rejected_like_tflm() {
        assert_eq!(try_softmax_params(1.0, 1e-9), None);
        assert_eq!(try_softmax_params(0.0, 0.1), None);
        assert_eq!(try_softmax_params(f32::NAN, 0.1), None);
    }

    #[test]
    fn params_typical_scale() {
        // 0.1f32 widened exactly; multiplier = round(frac * 2^31).
        let p = softmax_params(1.0, 0.1);
        let real = f64::from(0.1f32) * 67_108_864.0;
        let (m, s) = quantize_multiplier(real);
        assert_eq!((p.input_multiplier, p.input_left_shift), (m, s));
        assert_eq!(s, 23); // 6.7e6 = 0.8 * 2^23
        assert_eq!(p.diff_min, -248);
    }

    #[test]
    fn equal_inputs_split_evenly() {
        let p = softmax_params(1.0, 0.05);
        assert_eq!(run(&p, &[7])[0], 127); // 256 counts clamp to 127
        assert_eq!(run(&p, &[3, 3])[..2], [0, 0]); // 128 each
        assert_eq!(run(&p, &[-9, -9, -9])[..3], [-43, -43, -43]); // 85.33 -> 85
        assert_eq!(run(&p, &[1, 1, 1, 1])[..4], [-64; 4]); // 64 each
        assert_eq!(run(&p, &[0; 8])[..8], [-96; 8]); // 32 each
    }

    #[test]
    fn two_values_one_unit_apart_in_real_terms() {
        // scale 1/16: a difference of 16 steps is exactly -1.0.
        // p0 = 1 / (1 + e^-1) = 0.731059 -> 187.15 -> 187 ; p1 -> 68.85 -> 69.
        let p = softmax_params(1.0, 1.0 / 16.0);
        assert_eq!(run(&p, &[0, -16])[..2], [59, -59]);
        assert_eq!(run(&p, &[-16, 0])[..2], [-59, 59]);
    }

    #[test]
    fn below_diff_min_is_zero_probability() {
        // scale 1.0 -> diff_min = -15: a difference of -16 is skipped.
        let p = softmax_params(1.0, 1.0);
        assert_eq!(run(&p, &[10, -6])[..2], [127, -128]);
        // -15 still contributes: exp(-15) * 256 rounds to 0 anyway.
        assert_eq!(run(&p, &[10, -5])[..2], [127, -128]);
    }

    #[test]
    fn beta_scales_like_input_scale() {
        let a = softmax_params(2.0, 0.05);
        let b = softmax_params(1.0, 0.1);
        let input = [12, -3, 40, 40, -100, 0];
        assert_eq!(run(&a, &input), run(&b, &input));
    }

    /// FULLY_CONNECTED logits (tensor 36, scale 0.17185351f, zero point 24)
    /// and the SOFTMAX output (tensor 37) that tflite-micro's reference
    /// interpreter produced for the 20 images of `goldens/resnet8_cifar10`.
    #[test]
    fn matches_tflite_micro_resnet8_goldens() {
        const LOGITS: [[i8; 10]; 20] = [
            [-43, -20, -27, 32, -58, -10, -17, -44, -37, -69],
            [9, 31, -54, -66, -92, -87, -55, -75, 95, -4],
            [4, 29, -28, -51, -47, -60, -27, -52, 66, -2],
            [24, -9, -24, -29, -36, -42, -63, -39, 30, 1],
            [-31, -7, 1, 0, -3, -58, 56, -72, -37, -41],
            [-50, -54, -24, -6, -4, -18, 52, -18, -73, -33],
            [-29, 38, -38, -18, -84, -23, -49, -14, -46, 4],
            [-18, -40, -2, 7, 14, -3, 21, -21, -18, -13],
            [-68, -65, -26, 55, -2, 6, -7, -37, -46, -65],
            [-31, 34, -51, -32, -61, -73, -45, -56, -5, 12],
            [44, -53, -29, -6, -17, -14, -56, -11, -34, -33],
            [-39, 43, -99, -63, -111, -72, -87, -61, -31, 93],
            [-76, -57, -12, -9, -12, 29, -18, -1, -70, -60],
            [-45, -31, -30, -19, -21, -16, -17, 36, -62, -25],
            [-6, 17, -67, -51, -71, -64, -84, -18, -37, 51],
            [5, -10, -45, -54, -40, -53, -12, -70, 31, -23],
            [-39, -80, -39, -22, -63, 10, -69, 12, -84, -40],
            [-40, -25, -37, -28, -35, -18, -43, 48, -75, -20],
            [2, -10, -32, -24, -35, -51, -38, -43, 73, 10],
            [-26, -36, 13, 1, -27, -49, 78, -62, -32, -49],
        ];
        const PROBS: [[i8; 10]; 20] = [
            [-128, -128, -128, 127, -128, -128, -128, -128, -128, -128],
            [-128, -128, -128, -128, -128, -128, -128, -128, 127, -128],
            [-128, -128, -128, -128, -128, -128, -128, -128, 127, -128],
            [-61, -128, -128, -128, -128, -128, -128, -128, 60, -127],
            [-128, -128, -128, -128, -128, -128, 127, -128, -128, -128],
            [-128, -128, -128, -128, -128, -128, 127, -128, -128, -128],
            [-128, 127, -128, -128, -128, -128, -128, -128, -128, -127],
            [-128, -128, -125, -112, -74, -125, 51, -128, -128, -127],
            [-128, -128, -128, 127, -128, -128, -128, -128, -128, -128],
            [-128, 122, -128, -128, -128, -128, -128, -128, -128, -122],
            [127, -128, -128, -128, -128, -128, -128, -128, -128, -128],
            [-128, -128, -128, -128, -128, -128, -128, -128, -128, 127],
            [-128, -128, -128, -128, -128, 126, -128, -127, -128, -128],
            [-128, -128, -128, -128, -128, -128, -128, 127, -128, -128],
            [-128, -127, -128, -128, -128, -128, -128, -128, -128, 127],
            [-125, -128, -128, -128, -128, -128, -128, -128, 125, -128],
            [-128, -128, -128, -128, -128, -22, -128, 21, -128, -128],
            [-128, -128, -128, -128, -128, -128, -128, 127, -128, -128],
            [-128, -128, -128, -128, -128, -128, -128, -128, 127, -128],
            [-128, -128, -128, -128, -128, -128, 127, -128, -128, -128],
        ];
        let p = softmax_params(1.0, f32::from_bits(1_043_331_678)); // 0.17185351
        for (logits, probs) in LOGITS.iter().zip(PROBS.iter()) {
            let mut out = [0i8; 10];
            softmax_int8(&p, logits, &mut out);
            assert_eq!(&out, probs, "logits {logits:?}");
        }
    }

    #[test]
    fn empty_row_is_noop() {
        let p = softmax_params(1.0, 0.1);
        softmax_int8(&p, &[], &mut []);
    }

    proptest! {
        #[test]
        fn prop_softmax_properties(
            input in proptest::collection::vec(any::<i8>(), 1..16),
            scale in 0.001f32..0.5,
        ) {
            let p = softmax_params(1.0, scale);
            let out = run(&p, &input);
            let out = &out[..input.len()];

            // Counts (probability * 256) sum to about 256.
            let counts: i32 = out.iter().map(|&o| i32::from(o) + 128).sum();
            let n = input.len() as i32;
            prop_assert!((counts - 256).abs() <= n + 1, "sum {}", counts);

            // Close to the real softmax (within a count and a little).
            let max = input.iter().copied().max().unwrap();
            let exps: [f64; 16] = core::array::from_fn(|i| {
                if i < input.len() {
                    exp_f64(f64::from(scale) * f64::from(i32::from(input[i]) - i32::from(max)))
                } else { 0.0 }
            });
            let total: f64 = exps.iter().sum();
            for (i, &o) in out.iter().enumerate() {
                let ideal = (exps[i] / total * 256.0 - 128.0).min(127.0);
                prop_assert!((f64::from(o) - ideal).abs() <= 1.01, "{} vs {}", o, ideal);
            }

            // Monotone in the input; the maximum input gets the maximum output.
            for i in 0..input.len() {
                for j in 0..input.len() {
                    if input[i] > input[j] {
                        prop_assert!(out[i] >= out[j]);
                    }
                    if input[i] == input[j] {
                        prop_assert_eq!(out[i], out[j]);
                    }
                }
            }
            let imax = input.iter().position(|&x| x == max).unwrap();
            prop_assert_eq!(out[imax], *out.iter().max().unwrap());
        }
    }
}

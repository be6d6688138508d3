//! MEAN over height and width of an int8 `[H][W][C]` map into `[C]`,
//! bit-exact with tflite-micro's int8 reduce kernel.
//!
//! The per-channel int32 sum of the raw values is divided by `n = H * W`:
//! with equal input and output quantization as `sum / n` truncated toward
//! zero; otherwise `(sum - input_zp * n)` is multiplied by one fixed-point
//! factor `input_scale / (output_scale * n)` (the `1/n` folded into the Q31
//! multiplier, keeping `min(floor(log2 n), 32, 31 + shift)` extra bits; TFLite
//! double rounding), offset by the output zero point and clamped to int8.

use crate::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Channels summed together (stack accumulators).
const CHANNEL_BLOCK: usize = 32;

/// Constants of one spatial MEAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeanParams {
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    /// Q31 multiplier and shift with `1/n` folded in; `None` when input and
    /// output quantization are equal (plain truncating division).
    pub requant: Option<(i32, i32)>,
}

/// The parameters tflite-micro derives for a mean over `n` elements per
/// output value. Scales must be positive and finite.
pub fn mean_params(input_scale: f32, input_zp: i32, output_scale: f32, output_zp: i32, n: usize) -> MeanParams {
    let requant = if input_zp == output_zp && input_scale == output_scale {
        None
    } else {
        let (m, shift) = quantize_multiplier(f64::from(input_scale) / f64::from(output_scale));
        let n = n.max(1) as u64;
        let extra = i64::from(63 - n.leading_zeros() as i32)
            .min(32)
            .min(31 + i64::from(shift));
        let m = (i64::from(m) << extra.max(0)) / n as i64;
        // m < 2^31 * 2^extra / n <= 2^31: the folded multiplier fits.
        Some((m as i32, shift - extra as i32))
    };
    MeanParams {
        input_zero_point: input_zp,
        output_zero_point: output_zp,
        requant,
    }
}

/// Averages the `hw` pixels of `x` (`[hw][c]`) per channel into `y` (`[c]`).
/// `hw == 0` gives 0 sums divided by 1.
pub fn mean_hw(p: &MeanParams, x: &[i8], hw: usize, c: usize, y: &mut [i8]) {
    let n = hw.max(1) as i32;
    let mut c0 = 0;
    while c0 < c {
        let nc = (c - c0).min(CHANNEL_BLOCK);
        let mut sums = [0i32; CHANNEL_BLOCK];
        for px in x.chunks_exact(c).take(hw) {
            for (s, &v) in sums.iter_mut().zip(&px[c0..c0 + nc]) {
                *s = s.wrapping_add(i32::from(v));
            }
        }
        for (v, &sum) in y[c0..c0 + nc].iter_mut().zip(&sums) {
            let r = match p.requant {
                None => sum.wrapping_div(n),
                Some((m, shift)) => {
                    multiply_by_quantized_multiplier(sum.wrapping_sub(p.input_zero_point.wrapping_mul(n)), m, shift)
                        .saturating_add(p.output_zero_point)
                }
            };
            *v = r.clamp(-128, 127) as i8;
        }
        c0 += nc;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::ops::testutil::bytes;

    /// Naive reference, written out from tflite-micro's reduce kernel.
    fn naive(si: f32, zi: i32, so: f32, zo: i32, x: &[i8], hw: usize, c: usize) -> Vec<i8> {
        (0..c)
            .map(|ch| {
                let sum: i64 = (0..hw).map(|i| i64::from(x[i * c + ch])).sum();
                let n = hw as i64;
                let r = if zi == zo && si == so {
                    sum / n
                } else {
                    let (m, s) = quantize_multiplier(f64::from(si) / f64::from(so));
                    let bits = 63 - (n as u64).leading_zeros() as i64;
                    let extra = bits.min(32).min(31 + i64::from(s));
                    let m = ((i64::from(m) << extra) / n) as i32;
                    let v = multiply_by_quantized_multiplier((sum - i64::from(zi) * n) as i32, m, s - extra as i32);
                    i64::from(v) + i64::from(zo)
                };
                r.clamp(-128, 127) as i8
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn mean_matches_naive(
            (hw, c, x) in (1usize..=150, 1usize..=40).prop_flat_map(|(hw, c)| (Just(hw), Just(c), bytes(hw * c))),
            zi in -128i32..=127,
            zo in -128i32..=127,
            e in -3.0f64..3.0,
            equal in prop_oneof![3 => Just(false), 1 => Just(true)],
        ) {
            let si = 0.05f32;
            let (so, zo) = if equal { (si, zi) } else { ((0.05 * e.exp2()) as f32, zo) };
            let p = mean_params(si, zi, so, zo, hw);
            prop_assert_eq!(p.requant.is_none(), equal);
            let mut y = std::vec![0i8; c];
            mean_hw(&p, &x, hw, c, &mut y);
            prop_assert_eq!(y, naive(si, zi, so, zo, &x, hw, c));
        }
    }
}

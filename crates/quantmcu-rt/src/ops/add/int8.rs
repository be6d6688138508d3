//! ADD, int8, elementwise on equally shaped operands, bit-exact with
//! tflite-micro's reference integer `Add`.
//!
//! Each input is offset by minus its zero point, shifted left by
//! [`LEFT_SHIFT`] bits of headroom and rescaled to a common scale with
//! `multiply_by_quantized_multiplier`; the sum is rescaled to the output
//! scale the same way (TFLite double rounding), offset by the output zero
//! point and clamped. A tile of an elementwise op is just the same-rect
//! slices of both inputs and the output.

use crate::fixedpoint::multiply_by_quantized_multiplier;

/// Headroom bits TFLite's int8 ADD gives both inputs.
pub const LEFT_SHIFT: i32 = 20;

/// Constants of one ADD (as tflite-micro's `ArithmeticParams`).
#[derive(Clone, Copy, Debug)]
pub struct AddParams {
    /// Minus the zero points of the two inputs.
    pub input_offsets: [i32; 2],
    /// Q31 multipliers and shifts rescaling each input to the common scale.
    pub input_multipliers: [i32; 2],
    pub input_shifts: [i32; 2],
    /// Q31 multiplier and shift from the common scale to the output scale.
    pub output_multiplier: i32,
    pub output_shift: i32,
    /// Output zero point.
    pub output_offset: i32,
    /// Clamp of the fused activation.
    pub min: i32,
    pub max: i32,
}

/// `y[i] = a[i] + b[i]` in the quantized domain (all three slices the same
/// length; extra elements of the longer slices are ignored).
pub fn add(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    let scaled = |v: i8, k: usize| {
        let shifted = i32::from(v)
            .wrapping_add(p.input_offsets[k])
            .wrapping_mul(1 << LEFT_SHIFT);
        multiply_by_quantized_multiplier(shifted, p.input_multipliers[k], p.input_shifts[k])
    };
    for ((v, &qa), &qb) in y.iter_mut().zip(a).zip(b) {
        let sum = scaled(qa, 0).wrapping_add(scaled(qb, 1));
        let r = multiply_by_quantized_multiplier(sum, p.output_multiplier, p.output_shift);
        *v = r.saturating_add(p.output_offset).clamp(p.min, p.max) as i8;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::fixedpoint::quantize_multiplier;
    use crate::ops::testutil::{bytes, clamp};

    /// Naive reference with the parameters derived from scales the way
    /// tflite-micro's Prepare derives them.
    fn naive(p: &AddParams, a: &[i8], b: &[i8]) -> Vec<i8> {
        a.iter()
            .zip(b)
            .map(|(&qa, &qb)| {
                let s = |q: i8, k: usize| {
                    let v = (i64::from(q) + i64::from(p.input_offsets[k])) << LEFT_SHIFT;
                    i64::from(multiply_by_quantized_multiplier(
                        v as i32,
                        p.input_multipliers[k],
                        p.input_shifts[k],
                    ))
                };
                let sum = s(qa, 0) + s(qb, 1);
                let r = i64::from(multiply_by_quantized_multiplier(
                    sum as i32,
                    p.output_multiplier,
                    p.output_shift,
                ));
                (r + i64::from(p.output_offset)).clamp(i64::from(p.min), i64::from(p.max)) as i8
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn add_matches_naive(
            (a, b) in (1usize..64).prop_flat_map(|n| (bytes(n), bytes(n))),
            zps in [-128i32..=127, -128i32..=127, -128i32..=127],
            scale_exps in [-10.0f64..0.0, -10.0f64..0.0, -10.0f64..0.0],
            range in clamp(),
        ) {
            let (sa, sb, so) = (scale_exps[0].exp2(), scale_exps[1].exp2(), scale_exps[2].exp2());
            let twice_max = 2.0 * sa.max(sb);
            let out_real = twice_max / (f64::from(1 << LEFT_SHIFT) * so);
            let (ma, sha) = quantize_multiplier(sa / twice_max);
            let (mb, shb) = quantize_multiplier(sb / twice_max);
            let (mo, sho) = quantize_multiplier(out_real);
            let p = AddParams {
                input_offsets: [-zps[0], -zps[1]],
                input_multipliers: [ma, mb],
                input_shifts: [sha, shb],
                output_multiplier: mo,
                output_shift: sho,
                output_offset: zps[2],
                min: range.0,
                max: range.1,
            };
            let mut y = std::vec![0i8; a.len()];
            add(&p, &a, &b, &mut y);
            prop_assert_eq!(&y, &naive(&p, &a, &b));
            // Tiles are same-range slices.
            let half = a.len() / 2;
            let mut y2 = std::vec![0i8; a.len()];
            add(&p, &a[..half], &b[..half], &mut y2[..half]);
            add(&p, &a[half..], &b[half..], &mut y2[half..]);
            prop_assert_eq!(&y2, &y);
        }
    }

    #[test]
    fn equal_scales_add_values() {
        // Scales 1, 1 -> output 2: real sum / 2, zero points 0.
        let (m, s) = quantize_multiplier(0.5);
        let (mo, so) = quantize_multiplier(2.0 / (f64::from(1 << LEFT_SHIFT) * 2.0));
        let p = AddParams {
            input_offsets: [0, 0],
            input_multipliers: [m, m],
            input_shifts: [s, s],
            output_multiplier: mo,
            output_shift: so,
            output_offset: 0,
            min: -128,
            max: 127,
        };
        let mut y = [0i8; 3];
        add(&p, &[10, -20, 100], &[30, -40, 100], &mut y);
        assert_eq!(y, [20, -30, 100]);
    }
}

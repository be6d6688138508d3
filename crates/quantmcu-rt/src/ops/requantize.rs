//! int8 -> int8 requantization (tflite-micro QUANTIZE with an int8 input):
//! `y = clamp(multiply_by_quantized_multiplier(x - input_zp, multiplier,
//! shift) + output_zp, -128, 127)` with TFLite's double rounding.

use crate::fixedpoint::multiply_by_quantized_multiplier;

/// Requantizes `x` into `y` (same length; extra elements of the longer slice
/// are ignored). `multiplier`/`shift` represent `input_scale / output_scale`.
pub fn requantize(input_zp: i32, multiplier: i32, shift: i32, output_zp: i32, x: &[i8], y: &mut [i8]) {
    for (v, &q) in y.iter_mut().zip(x) {
        let r = multiply_by_quantized_multiplier(i32::from(q).wrapping_sub(input_zp), multiplier, shift);
        *v = r.saturating_add(output_zp).clamp(-128, 127) as i8;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use proptest::prelude::*;

    use super::*;
    use crate::fixedpoint::quantize_multiplier;
    use crate::ops::testutil::bytes;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn requantize_matches_naive(
            x in (0usize..64).prop_flat_map(bytes),
            zi in -128i32..=127,
            zo in -128i32..=127,
            e in -8.0f64..4.0,
        ) {
            let (m, s) = quantize_multiplier(e.exp2());
            let mut y = std::vec![0i8; x.len()];
            requantize(zi, m, s, zo, &x, &mut y);
            for (&q, &v) in x.iter().zip(&y) {
                let r = i64::from(multiply_by_quantized_multiplier(i32::from(q) - zi, m, s)) + i64::from(zo);
                prop_assert_eq!(i64::from(v), r.clamp(-128, 127));
            }
        }
    }

    #[test]
    fn identity_scale_moves_zero_point() {
        let (m, s) = quantize_multiplier(1.0);
        let mut y = [0i8; 3];
        requantize(-128, m, s, 0, &[-128, 0, 127], &mut y);
        assert_eq!(y, [0, 127, 127]);
    }
}

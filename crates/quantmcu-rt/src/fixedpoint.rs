//! TFLite's integer requantization primitives, reproduced bit for bit.
//!
//! Every function here mirrors the integer arithmetic used by the reference
//! kernels of TensorFlow Lite for Microcontrollers (TFLM) and the gemmlowp
//! fixed-point helpers those kernels build on.
//!
//! # Rounding flavour
//!
//! TFLite can be compiled in two requantization flavours, selected by the
//! `TFLITE_SINGLE_ROUNDING` preprocessor symbol. Upstream TFLM (its Makefile,
//! its Bazel build and the `tflite-micro` Python package built from it) leaves
//! that symbol undefined, so `#if TFLITE_SINGLE_ROUNDING` is false and the
//! **double-rounding** flavour is what runs by default:
//!
//! * `MultiplyByQuantizedMultiplier` = saturating rounding doubling high
//!   multiply (first rounding, half away from zero on the `2^31` division)
//!   followed by a rounding right shift (second rounding, half away from zero);
//! * `QuantizeMultiplier` does *not* clamp `shift > 30`;
//! * softmax caps its input multiplier at `2^31 - 1` (not `2^30 - 1`).
//!
//! This module implements that default. (Some vendor builds define
//! `TFLITE_SINGLE_ROUNDING=1`; those are not what upstream ships.)
//!
//! # Overflow
//!
//! Where the C++ code relies on signed 32-bit wrap-around that is formally
//! undefined but in practice wraps (plain `+`, `-`, `x * (1 << s)`), the Rust
//! code uses explicit wrapping arithmetic so results match two's-complement
//! hardware and never panic.

/// Splits `real` into a Q31 multiplier and a power-of-two exponent such that
/// `real ≈ multiplier * 2^(shift - 31)`, exactly like TFLite's
/// `QuantizeMultiplier` (double-rounding build).
///
/// The mantissa comes from `frexp` (in `[0.5, 1)` in magnitude) and is scaled
/// by `2^31` and rounded half away from zero. A rounded mantissa of exactly
/// `2^31` is halved and `shift` incremented. `0.0` gives `(0, 0)`, and so does
/// any value whose `shift` would be below `-31` (flush to zero, which covers
/// all subnormals). Negative inputs give negative multipliers (magnitude in
/// `[2^30, 2^31]`, `-2^31` possible). `shift` is not clamped from above.
///
/// # Panics
///
/// Panics if `real` is NaN or infinite (TFLite's `frexp` result is
/// unspecified there).
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    assert!(real.is_finite(), "quantize_multiplier: non-finite multiplier");
    let bits = real.to_bits();
    let negative = (bits >> 63) != 0;
    let biased_exp = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    if biased_exp == 0 {
        // Zero or subnormal: |real| < 2^-1022, far below the flush threshold.
        return (0, 0);
    }
    // real = m * 2^(biased_exp - 1075) with m in [2^52, 2^53).
    // frexp: q = m / 2^53 in [0.5, 1), shift = biased_exp - 1022.
    let m = (1u64 << 52) | fraction;
    let mut shift = biased_exp - 1022;
    // q * 2^31 = m / 2^22, rounded half away from zero (symmetric in sign).
    let mut q_fixed = ((m + (1u64 << 21)) >> 22) as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if negative {
        q_fixed = -q_fixed;
    }
    if shift < -31 {
        return (0, 0);
    }
    // For a negative input q_fixed can be -2^31, which still fits an i32.
    (q_fixed as i32, shift)
}

/// TFLite's `QuantizeMultiplierSmallerThanOneExp`: [`quantize_multiplier`]
/// restricted to `0 < real < 1`, so the returned exponent is `<= 0`.
///
/// Returns `(multiplier, left_shift)` with `left_shift <= 0` (a right shift of
/// `-left_shift`).
///
/// # Panics
///
/// Panics where TFLite's `TFLITE_CHECK`s abort: `real` not in `(0, 1)`, or
/// a resulting exponent above zero.
pub fn quantize_multiplier_smaller_than_one_exp(real: f64) -> (i32, i32) {
    assert!(real < 1.0, "multiplier must be < 1");
    assert!(real > 0.0, "multiplier must be > 0");
    let (m, shift) = quantize_multiplier(real);
    assert!(shift <= 0, "multiplier exponent must be <= 0");
    (m, shift)
}

/// TFLite's `QuantizeMultiplierGreaterThanOne`: [`quantize_multiplier`]
/// restricted to `real > 1`, so the returned left shift is `>= 0`.
///
/// # Panics
///
/// Panics where TFLite's `TFLITE_CHECK`s abort: `real <= 1` (or NaN), or a
/// negative resulting shift.
pub fn quantize_multiplier_greater_than_one(real: f64) -> (i32, i32) {
    assert!(real > 1.0, "multiplier must be > 1");
    let (m, shift) = quantize_multiplier(real);
    assert!(shift >= 0, "multiplier exponent must be >= 0");
    (m, shift)
}

/// gemmlowp `SaturatingRoundingDoublingHighMul` for `i32` (ARM `VQRDMULH`):
/// `a * b / 2^31` rounded to nearest with ties toward **+infinity**, i.e.
/// `floor((a * b + 2^30) / 2^31)` (gemmlowp writes it as a sign-dependent
/// nudge followed by a truncating division, which is the same thing). The
/// single overflowing case `a == b == i32::MIN` saturates to `i32::MAX`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // |ab| <= 2^62 here, so `ab + nudge` cannot overflow and the quotient
    // fits in an i32.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties
/// away from zero (a rounding arithmetic right shift). Valid for
/// `0 <= exponent <= 31`; never overflows.
///
/// # Panics
///
/// Panics (debug builds) if `exponent` is outside `0..=31`.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent), "exponent out of range");
    let exponent = exponent as u32;
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// TFLite's `MultiplyByQuantizedMultiplier(int32 x, ...)` in the default
/// double-rounding build: `x * multiplier * 2^(shift - 31)` evaluated as
/// `rounding_divide_by_pot(srdhm(x << max(shift, 0), multiplier), max(-shift, 0))`.
///
/// The high multiply rounds ties toward +infinity, the shift rounds ties away
/// from zero. The pre-shift `x * 2^shift` wraps on
/// overflow (as the C++ does in practice); callers keep it in range. Intended
/// for `shift` in `-31..=30` (a left shift of 31 only makes sense for `x == 0`).
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = shift.max(0);
    let right_shift = (-shift).max(0);
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left_shift as u32));
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift)
}

/// TFLite's `MultiplyByQuantizedMultiplier(int64 x, ...)` (used by 16-bit
/// activation kernels with 64-bit accumulators; identical in both rounding
/// builds).
///
/// The multiplier is first reduced to 16 bits, `(multiplier + 2^15) >> 16`
/// (or `0x7FFF` when `multiplier >= 0x7FFF0000`), then
/// `(x * reduced + 2^(14 - shift)) >> (15 - shift)` with an arithmetic
/// (floor) shift, i.e. round half up. Contract: `multiplier >= 0`,
/// `-31 <= shift < 8`, `-2^47 <= x < 2^47`; the result is truncated to 32 bits.
#[inline]
pub fn multiply_by_quantized_multiplier_i64(x: i64, multiplier: i32, shift: i32) -> i32 {
    debug_assert!(multiplier >= 0);
    debug_assert!((-31..8).contains(&shift));
    let reduced: i64 = if multiplier < 0x7FFF_0000 {
        i64::from((multiplier + (1 << 15)) >> 16)
    } else {
        0x7FFF
    };
    let total_shift = (15 - shift) as u32;
    let v = x.wrapping_mul(reduced).wrapping_add(1i64 << (total_shift - 1));
    (v >> total_shift) as i32
}

/// TFLite's `MultiplyByQuantizedMultiplierSmallerThanOneExp` (double-rounding
/// build): `rounding_divide_by_pot(srdhm(x, multiplier), -left_shift)` with
/// `left_shift <= 0`. Used by the int8 ADD/SUB kernels. Ties round toward
/// +infinity in the high multiply and away from zero in the shift.
#[inline]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    debug_assert!(left_shift <= 0);
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -left_shift)
}

/// TFLite's `MultiplyByQuantizedMultiplierGreaterThanOne` (double-rounding
/// build): `srdhm(x * 2^left_shift, multiplier)` with `left_shift >= 0`.
/// The pre-shift wraps on overflow exactly as the C++ does in practice; the
/// softmax kernel only feeds values for which it cannot overflow.
#[inline]
pub fn multiply_by_quantized_multiplier_greater_than_one(x: i32, multiplier: i32, left_shift: i32) -> i32 {
    debug_assert!((0..=31).contains(&left_shift));
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left_shift as u32));
    saturating_rounding_doubling_high_mul(shifted, multiplier)
}

// ---------------------------------------------------------------------------
// gemmlowp-style fixed-point helpers (raw `i32` values; the number of integer
// bits of each operand is tracked in the comments and function names).
// ---------------------------------------------------------------------------

/// gemmlowp `SaturatingRoundingMultiplyByPOT<exponent>` on a raw `i32`:
/// for `exponent > 0` a left shift that saturates to `i32::MIN`/`i32::MAX`
/// (values above `2^(31-e) - 1` or below `-(2^(31-e) - 1)` saturate); for
/// `exponent < 0` a [`rounding_divide_by_pot`] by `-exponent`; identity for 0.
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        debug_assert!(exponent < 31);
        let threshold: i32 = (1i32 << (31 - exponent)) - 1;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x << exponent
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// gemmlowp `Rescale<dst_bits>` from a fixed-point value with `src_bits`
/// integer bits: a [`saturating_rounding_multiply_by_pot`] by
/// `src_bits - dst_bits`.
#[inline]
pub(crate) fn rescale(x: i32, src_bits: i32, dst_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_bits - dst_bits)
}

/// gemmlowp `RoundingHalfSum` for `i32`: `(a + b) / 2` computed in 64 bits,
/// rounded to nearest with ties away from zero.
#[inline]
pub(crate) fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign: i64 = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// Raw Q0.31 value of `exp(-1/8)` (gemmlowp constant).
const EXP_MINUS_ONE_EIGHTH_Q31: i32 = 1_895_147_668;
/// Raw Q0.31 value of `1/3` (gemmlowp constant).
const ONE_THIRD_Q31: i32 = 715_827_883;

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl`:
/// `exp(a)` for a Q0.31 `a` in `[-1/4, 0)`, returned as Q0.31, via a
/// fourth-order Taylor expansion around `-1/8`.
pub(crate) fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    let srdhm = saturating_rounding_doubling_high_mul;
    // Change of variable x = a + 1/8 (1/8 is 2^28 in Q0.31).
    let x = a.wrapping_add(1 << 28);
    let x2 = srdhm(x, x);
    let x3 = srdhm(x2, x);
    let x4 = srdhm(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let poly =
        saturating_rounding_multiply_by_pot(srdhm(x4_over_4.wrapping_add(x3), ONE_THIRD_Q31).wrapping_add(x2), -1);
    EXP_MINUS_ONE_EIGHTH_Q31.wrapping_add(srdhm(EXP_MINUS_ONE_EIGHTH_Q31, x.wrapping_add(poly)))
}

/// Raw Q0.31 values of `exp(-2^k)` for `k = -2..=4` (gemmlowp barrel-shifter
/// constants), paired with `k`.
const EXP_BARREL: [(i32, i32); 7] = [
    (-2, 1_672_461_947),
    (-1, 1_302_514_674),
    (0, 790_015_084),
    (1, 290_630_308),
    (2, 39_332_535),
    (3, 720_401),
    (4, 242),
];

/// gemmlowp `exp_on_negative_values`: `exp(a)` for a fixed-point `a <= 0` with
/// `integer_bits` integer bits (raw `i32`, `31 - integer_bits` fractional
/// bits), returned as Q0.31. `a == 0` returns `i32::MAX` (gemmlowp's "one").
///
/// The argument is split into a remainder in `[-1/4, 0)` (Taylor polynomial)
/// and multiples of `1/4 .. 16` applied as exact-power constants; for more than
/// 5 integer bits, inputs below `-32` give 0.
pub fn exp_on_negative_values(a: i32, integer_bits: i32) -> i32 {
    debug_assert!((0..31).contains(&integer_bits));
    let fractional_bits = 31 - integer_bits;
    let one_quarter: i32 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        integer_bits,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for &(exponent, multiplier) in EXP_BARREL.iter() {
        if integer_bits > exponent {
            let bit = fractional_bits + exponent;
            if remainder & (1i32 << bit) != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1i32 << (36 - integer_bits)); // -32.0 in this format
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1`: `1 / (1 + a)` for a Q0.31 `a`
/// in `[0, 1)`, returned as Q0.31, via three Newton–Raphson iterations in Q2.29
/// starting from `48/17 - 32/17 * d` (with `d = (1 + a) / 2`).
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let srdhm = saturating_rounding_doubling_high_mul;
    /// `48/17` in Q2.29.
    const C_48_OVER_17: i32 = 1_515_870_810;
    /// `-32/17` in Q2.29.
    const C_NEG_32_OVER_17: i32 = -1_010_580_540;
    /// `1.0` in Q2.29.
    const ONE_Q2: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX); // Q0.31
                                                           // Q0 * Q2 -> Q2.
    let mut x = C_48_OVER_17.wrapping_add(srdhm(half_denominator, C_NEG_32_OVER_17));
    for _ in 0..3 {
        let half_denominator_times_x = srdhm(half_denominator, x); // Q2
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x); // Q2
                                                                       // Q2 * Q2 -> Q4, rescaled back to Q2.
        x = x.wrapping_add(rescale(srdhm(x, one_minus), 4, 2));
    }
    // x / 2 is exact by reinterpreting Q2 as Q1, then rescale Q1 -> Q0.
    rescale(x, 1, 0)
}

/// TFLite's `GetReciprocal`: for a positive fixed-point `x` with
/// `x_integer_digits` integer bits, returns `(scale, num_bits_over_unit)` where
/// `scale` (Q0.31) ≈ `2^num_bits_over_unit / x`, i.e. `x` is normalised to
/// `[1, 2)` by its leading-zero count and inverted with
/// [`one_over_one_plus_x_for_x_in_0_1`].
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted_sum_minus_one = ((x as u32).wrapping_shl(headroom_plus_one as u32)).wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: x / 2^e rounded half away from zero, exact in i64.
    fn ref_rdbpot(x: i32, e: i32) -> i32 {
        let x = i64::from(x);
        let d = 1i64 << e;
        let q = x.abs() / d;
        let r = x.abs() % d;
        let q = if 2 * r >= d { q + 1 } else { q };
        (if x < 0 { -q } else { q }) as i32
    }

    /// Reference: a*b/2^31 rounded to nearest, ties toward +infinity,
    /// saturated; computed in i128 with Euclidean (floor) division.
    fn ref_srdhm(a: i32, b: i32) -> i32 {
        let p = i128::from(a) * i128::from(b);
        let q = (p + (1i128 << 30)).div_euclid(1i128 << 31);
        q.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
    }

    #[test]
    fn quantize_multiplier_known_values() {
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1.0), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(2.0), (1 << 30, 2));
        // 0.75 = 0.75 * 2^0 -> 0.75 * 2^31 = 1610612736.
        assert_eq!(quantize_multiplier(0.75), (1_610_612_736, 0));
        // 1/3 = 0.666.. * 2^-1 -> round(2^32 / 3) = 1431655765.
        assert_eq!(quantize_multiplier(1.0 / 3.0), (1_431_655_765, -1));
        assert_eq!(quantize_multiplier(-0.5), (-(1 << 30), 0));
        // Largest double below 1: mantissa rounds up to 2^31, so halved.
        let just_below_one = f64::from_bits(1.0f64.to_bits() - 1);
        assert_eq!(quantize_multiplier(just_below_one), (1 << 30, 1));
        // Flush to zero below 2^-32 (shift < -31); 2^-32 itself is kept.
        assert_eq!(quantize_multiplier(2f64.powi(-32)), (1 << 30, -31));
        assert_eq!(quantize_multiplier(2f64.powi(-33)), (0, 0));
        assert_eq!(quantize_multiplier(f64::MIN_POSITIVE / 4.0), (0, 0));
        // Large values keep their shift (double-rounding build: no clamp).
        assert_eq!(quantize_multiplier(2f64.powi(40)), (1 << 30, 41));
    }

    #[test]
    fn quantize_multiplier_round_half_away() {
        // mantissa m = 2^52 + 2^21 lands exactly on a .5 when divided by 2^22.
        let m: u64 = (1 << 52) | (1 << 21);
        let v = f64::from_bits((1022u64 << 52) | (m & ((1 << 52) - 1)));
        assert_eq!(quantize_multiplier(v), ((1 << 30) + 1, 0));
        assert_eq!(quantize_multiplier(-v), (-((1 << 30) + 1), 0));
    }

    #[test]
    fn quantize_multiplier_smaller_than_one() {
        assert_eq!(quantize_multiplier_smaller_than_one_exp(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier_smaller_than_one_exp(0.125), (1 << 30, -2));
    }

    #[test]
    #[should_panic]
    fn quantize_multiplier_smaller_than_one_rejects_one() {
        let _ = quantize_multiplier_smaller_than_one_exp(1.0);
    }

    #[test]
    fn srdhm_known_values() {
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1); // 0.5 -> 1
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0); // -0.5 -> 0
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1); // -1.5 -> -1
        assert_eq!(saturating_rounding_doubling_high_mul(1, (1 << 30) - 1), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX), -i32::MAX);
    }

    #[test]
    fn rdbpot_known_values() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(3, 1), 2);
        assert_eq!(rounding_divide_by_pot(-3, 1), -2);
        assert_eq!(rounding_divide_by_pot(7, 2), 2);
        assert_eq!(rounding_divide_by_pot(-6, 2), -2);
        assert_eq!(rounding_divide_by_pot(-7, 0), -7);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 30), -2);
    }

    #[test]
    fn mbqm_known_values() {
        // 0.75 multiplier
        let (m, s) = quantize_multiplier(0.75);
        assert_eq!(multiply_by_quantized_multiplier(100, m, s), 75);
        assert_eq!(multiply_by_quantized_multiplier(-2, m, s), -1); // -1.5 -> -1
        assert_eq!(multiply_by_quantized_multiplier(2, m, s), 2); // 1.5 -> 2
                                                                  // 3.0 multiplier: shift 2, left shift applied first.
        let (m, s) = quantize_multiplier(3.0);
        assert_eq!((m, s), (1_610_612_736, 2));
        assert_eq!(multiply_by_quantized_multiplier(7, m, s), 21);
        assert_eq!(multiply_by_quantized_multiplier(-7, m, s), -21);
        // 1/3 multiplier (m = 1431655765, shift -1). 10/3 = 3.33 but double
        // rounding gives srdhm = round(6.67) = 7, then 7 / 2 = 3.5 -> 4.
        // 5/3: srdhm = round(3.33) = 3, 3 / 2 -> 2. -5/3: -3 -> -2.
        let (m, s) = quantize_multiplier(1.0 / 3.0);
        assert_eq!(multiply_by_quantized_multiplier(10, m, s), 4);
        assert_eq!(multiply_by_quantized_multiplier(5, m, s), 2);
        assert_eq!(multiply_by_quantized_multiplier(-5, m, s), -2);
    }

    #[test]
    fn mbqm_double_rounding_behaviour() {
        // x = 1, multiplier 0.5 (2^30), shift -1: the exact product is 0.25,
        // which single rounding would send to 0. Double rounding first rounds
        // 0.5 up to 1 in the high multiply, then 1 / 2 rounds to 1 again.
        assert_eq!(multiply_by_quantized_multiplier(1, 1 << 30, -1), 1);
        // Negative side: -0.5 rounds up to 0 in the high multiply.
        assert_eq!(multiply_by_quantized_multiplier(-1, 1 << 30, -1), 0);
        // x = -3: -1.5 -> -1 (high multiply), then -1 / 2 = -0.5 -> -1.
        assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, -1), -1);
    }

    #[test]
    fn mbqm_i64_known_values() {
        // multiplier 0.5 (2^30) -> reduced 2^14; shift 0: x * 2^14 / 2^15.
        assert_eq!(multiply_by_quantized_multiplier_i64(10, 1 << 30, 0), 5);
        assert_eq!(multiply_by_quantized_multiplier_i64(3, 1 << 30, 0), 2); // 1.5 -> 2
        assert_eq!(multiply_by_quantized_multiplier_i64(-3, 1 << 30, 0), -1); // -1.5 -> -1
        assert_eq!(multiply_by_quantized_multiplier_i64(1000, i32::MAX, 1), 2000);
    }

    #[test]
    fn smaller_than_one_exp_matches_general_form() {
        let (m, s) = quantize_multiplier_smaller_than_one_exp(0.3);
        for x in [-1000, -3, -1, 0, 1, 7, 12345, 1 << 20] {
            assert_eq!(
                multiply_by_quantized_multiplier_smaller_than_one_exp(x, m, s),
                multiply_by_quantized_multiplier(x, m, s)
            );
        }
    }

    #[test]
    fn exp_known_values() {
        // exp(0) is "one" (i32::MAX).
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
        // Inputs in Q5.26 (-1.0 is -(1 << 26)).
        for input in [-1.0f64, -0.5, -3.7, -10.0] {
            let raw = (input * f64::from(1 << 26)) as i32;
            let got = f64::from(exp_on_negative_values(raw, 5)) / 2f64.powi(31);
            let want = libm_exp(input);
            // gemmlowp's 4th-order polynomial is accurate to ~3e-7 relative.
            assert!((got - want).abs() < 4e-7 * want + 1e-9, "{input}: {got} vs {want}");
        }
        // a = -1/4 goes entirely through the polynomial; compare with the
        // exp(-1/4) barrel constant.
        let quarter = -(1i32 << 24);
        let got = exp_on_negative_values(quarter, 5);
        assert!((i64::from(got) - 1_672_461_947).abs() <= 700);
    }

    /// exp for tests without std: a short series with range reduction.
    fn libm_exp(x: f64) -> f64 {
        // exp(x) = exp(x/2^k)^(2^k)
        let k = 8;
        let y = x / f64::from(1 << k);
        let mut term = 1.0;
        let mut sum = 1.0;
        for n in 1..30 {
            term *= y / f64::from(n);
            sum += term;
        }
        let mut r = sum;
        for _ in 0..k {
            r *= r;
        }
        r
    }

    #[test]
    fn one_over_one_plus_x_known_values() {
        // 1/(1+0) ≈ 1, 1/(1+0.5) = 2/3, 1/(1+0.25) = 0.8.
        let cases = [(0i32, 1.0f64), (1 << 30, 2.0 / 3.0), (1 << 29, 0.8)];
        for (a, want) in cases {
            let got = f64::from(one_over_one_plus_x_for_x_in_0_1(a)) / 2f64.powi(31);
            assert!((got - want).abs() < 4e-9, "{a}: {got} vs {want}");
        }
    }

    #[test]
    fn reciprocal_known_values() {
        // x = 3.0 in Q12.19: 1/3 = (2/3) * 2^-1 -> num_bits_over_unit 1.
        let x = 3 << 19;
        let (scale, bits) = get_reciprocal(x, 12);
        assert_eq!(bits, 1);
        let got = f64::from(scale) / 2f64.powi(31);
        assert!((got - 2.0 / 3.0).abs() < 4e-9);
    }

    #[test]
    fn saturating_pot() {
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 28, 2), 1 << 30);
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 29, 2), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 29), 2), i32::MIN);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 29) + 1, 2), i32::MIN + 4);
        assert_eq!(saturating_rounding_multiply_by_pot(6, -2), 2);
        assert_eq!(saturating_rounding_multiply_by_pot(-6, -2), -2);
    }

    proptest! {
        #[test]
        fn prop_rdbpot_matches_exact(x in any::<i32>(), e in 0i32..=31) {
            prop_assert_eq!(rounding_divide_by_pot(x, e), ref_rdbpot(x, e));
        }

        #[test]
        fn prop_srdhm_matches_exact(a in any::<i32>(), b in any::<i32>()) {
            prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), ref_srdhm(a, b));
        }

        #[test]
        fn prop_mbqm_is_double_rounding(x in -(1i32 << 24)..(1i32 << 24), real in 1e-6f64..0.999) {
            let (m, s) = quantize_multiplier(real);
            prop_assert!(s <= 0);
            let want = ref_rdbpot(ref_srdhm(x, m), -s);
            prop_assert_eq!(multiply_by_quantized_multiplier(x, m, s), want);
            // Double rounding is within one unit of the exact product.
            let exact = f64::from(x) * f64::from(m) * 2f64.powi(s - 31);
            prop_assert!((f64::from(want) - exact).abs() <= 1.0);
        }

        #[test]
        fn prop_quantize_multiplier_reconstructs(real in 1e-9f64..1e9) {
            let (m, s) = quantize_multiplier(real);
            prop_assert!((1 << 30..=i32::MAX).contains(&m));
            let back = f64::from(m) * 2f64.powi(s - 31);
            // Rounding error at most half an ulp of a 31-bit mantissa.
            prop_assert!(((back - real) / real).abs() <= 2f64.powi(-31));
        }

        #[test]
        fn prop_saturating_pot_matches_exact(x in any::<i32>(), e in -31i32..31) {
            let got = saturating_rounding_multiply_by_pot(x, e);
            let want = if e >= 0 {
                (i64::from(x) << e).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
            } else {
                ref_rdbpot(x, -e)
            };
            prop_assert_eq!(got, want);
        }

        #[test]
        fn prop_rounding_half_sum(a in any::<i32>(), b in any::<i32>()) {
            let s = i64::from(a) + i64::from(b);
            let q = (s.abs() + 1) / 2;
            let want = if s < 0 { -q } else { q };
            prop_assert_eq!(i64::from(rounding_half_sum(a, b)), want);
        }

        #[test]
        fn prop_exp_accuracy(raw in -(31i32 << 26)..=0) {
            let got = f64::from(exp_on_negative_values(raw, 5)) / 2f64.powi(31);
            let want = libm_exp(f64::from(raw) / f64::from(1 << 26));
            prop_assert!((got - want).abs() < 4e-7 * want + 1e-9, "{} vs {}", got, want);
        }

        #[test]
        fn prop_one_over_one_plus_x_accuracy(a in 0i32..=i32::MAX) {
            let x = f64::from(a) / 2f64.powi(31);
            let got = f64::from(one_over_one_plus_x_for_x_in_0_1(a)) / 2f64.powi(31);
            prop_assert!((got - 1.0 / (1.0 + x)).abs() < 1e-8);
        }
    }
}

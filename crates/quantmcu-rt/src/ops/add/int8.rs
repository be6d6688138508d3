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

/// Input `k`'s value `v` on the common scale: `(v + offset) << LEFT_SHIFT`
/// rescaled by its multiplier (TFLite double rounding, wrapping like the C
/// kernel).
#[inline(always)]
pub(crate) fn scaled(p: &AddParams, v: i8, k: usize) -> i32 {
    let shifted = i32::from(v)
        .wrapping_add(p.input_offsets[k])
        .wrapping_mul(1 << LEFT_SHIFT);
    multiply_by_quantized_multiplier(shifted, p.input_multipliers[k], p.input_shifts[k])
}

/// `y[i] = a[i] + b[i]` in the quantized domain (all three slices the same
/// length; extra elements of the longer slices are ignored): the reference
/// [`super::table::AddTable`] equals.
pub fn add(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    for ((v, &qa), &qb) in y.iter_mut().zip(a).zip(b) {
        let sum = scaled(p, qa, 0).wrapping_add(scaled(p, qb, 1));
        let r = multiply_by_quantized_multiplier(sum, p.output_multiplier, p.output_shift);
        *v = r.saturating_add(p.output_offset).clamp(p.min, p.max) as i8;
    }
}

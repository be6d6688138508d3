//! ADD of two equally shaped maps of any widths: each input value plus its
//! offset is shifted left by [`LEFT_SHIFT`] and rescaled to the common scale,
//! the sum (the accumulator the clean check sees) is rescaled to the output
//! and offset (TFLite double rounding, as [`super::int8::add`], which
//! it equals at 8 bits everywhere).

use super::int8::{AddParams, LEFT_SHIFT};
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::view::{Clean, Codes, CodesMut, Outlier};

/// Computes the pixels of `y.rect` (`channels` each) from the same pixels of
/// `a` and `b` (whose rects contain `y.rect`); stops at the first sum outside
/// `clean`.
pub fn add_lowbit(
    p: &AddParams,
    a: Codes,
    b: Codes,
    mut y: CodesMut,
    channels: usize,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let scaled = |x: &Codes, i: usize, k: usize| {
        let shifted = x
            .value(i)
            .wrapping_add(p.input_offsets[k])
            .wrapping_mul(1 << LEFT_SHIFT);
        multiply_by_quantized_multiplier(shifted, p.input_multipliers[k], p.input_shifts[k])
    };
    let r = y.rect;
    for py in r.y..r.y + r.h {
        for px in r.x..r.x + r.w {
            let (ia, ib, iy) = (
                a.rect.offset(py, px, channels),
                b.rect.offset(py, px, channels),
                r.offset(py, px, channels),
            );
            for c in 0..channels {
                let sum = scaled(&a, ia + c, 0).wrapping_add(scaled(&b, ib + c, 1));
                if let Some(k) = &clean {
                    k.check(sum, c)?;
                }
                let v = multiply_by_quantized_multiplier(sum, p.output_multiplier, p.output_shift);
                y.store(iy + c, v.saturating_add(p.output_offset).clamp(p.min, p.max));
            }
        }
    }
    Ok(())
}

//! FULLY_CONNECTED over inputs of any width: `x` holds `rows x depth` values,
//! `y` `rows x units`; `acc = bias[u] + sum((v + input_offset) * w[u])`,
//! then the clean check and the output stage. At 8 bits in and out this is
//! exactly [`super::int8::fully_connected`].

use super::int8::FullyConnectedParams;
use crate::view::{emit, Clean, Codes, CodesMut, Outlier};

/// Computes every row of `y` (its element count decides the rows); stops at
/// the first accumulator outside `clean`.
pub fn fully_connected_lowbit(
    p: &FullyConnectedParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let units = p.bias.len();
    if units == 0 {
        return Ok(());
    }
    let depth = p.filter.len() / units;
    let rows = y.rect.area() / units;
    for r in 0..rows {
        for u in 0..units {
            let mut acc = p.bias[u];
            for (d, &w) in p.filter[u * depth..(u + 1) * depth].iter().enumerate() {
                let v = x.value(r * depth + d).wrapping_add(p.input_offset);
                acc = acc.wrapping_add(v.wrapping_mul(i32::from(w)));
            }
            emit(&mut y, r * units + u, acc, u, &p.output, clean.as_ref())?;
        }
    }
    Ok(())
}

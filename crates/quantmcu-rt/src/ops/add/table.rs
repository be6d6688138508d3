//! ADD, int8, by lookup: the same sums as [`super::int8::add`] in fewer
//! instructions per element. An int8 input takes only 256 values, so each
//! input's rescaled value (offset, [`super::LEFT_SHIFT`] headroom, per-input
//! multiplier) is computed once per value into a table; per element two
//! loads and an add give the sum, which the output stage rescales with its
//! constants resolved once (`Requant`, the same TFLite double rounding).

use super::int8::{scaled, AddParams};
use crate::view::{OutputStage, Requant};

/// Elements of one ADD call from which building an [`AddTable`] (512
/// rescales) pays for itself.
pub const TABLE_MIN: usize = 1024;

/// One ADD's per-input tables and resolved output stage (2 KiB): build once
/// per op, then [`AddTable::add`] each row or slice.
pub struct AddTable {
    a: [i32; 256],
    b: [i32; 256],
    q: Requant,
}

impl AddTable {
    pub fn new(p: &AddParams) -> Self {
        let table = |k: usize| -> [i32; 256] { core::array::from_fn(|i| scaled(p, i as u8 as i8, k)) };
        let stage = OutputStage {
            multiplier: &[p.output_multiplier],
            shift: &[p.output_shift],
            offset: p.output_offset,
            min: p.min,
            max: p.max,
        };
        AddTable {
            a: table(0),
            b: table(1),
            q: Requant::new(&stage, 0),
        }
    }

    /// `y[i] = a[i] + b[i]` in the quantized domain, equal to
    /// [`super::int8::add`] with the same parameters bit for bit (all three
    /// slices the same length; extra elements of the longer slices are
    /// ignored).
    pub fn add(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        for ((v, &qa), &qb) in y.iter_mut().zip(a).zip(b) {
            let sum = self.a[usize::from(qa as u8)].wrapping_add(self.b[usize::from(qb as u8)]);
            *v = self.q.value(sum) as i8;
        }
    }
}

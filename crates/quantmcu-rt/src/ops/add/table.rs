//! ADD, int8, by lookup: the same sums as [`super::int8::add_portable`] in
//! fewer instructions per element. An int8 input takes only 256 values, so
//! each input's rescaled value (offset, [`LEFT_SHIFT`] headroom, per-input
//! multiplier) is computed once per value into a table; per element two
//! loads and an add give the sum, which the output stage rescales with its
//! constants resolved once (`Requant`, the same TFLite double rounding).

use super::int8::{scaled, AddParams};
use crate::view::{OutputStage, Requant};

/// Elements from which [`super::add`] builds the tables (512 rescales):
/// shorter slices rescale each element directly.
pub const TABLE_MIN: usize = 1024;

/// `y[i] = a[i] + b[i]` in the quantized domain, equal to
/// [`super::int8::add_portable`] bit for bit (all three slices the same
/// length; extra elements of the longer slices are ignored). Uses 2 KiB of
/// stack for the tables.
#[inline(never)]
pub fn add_table(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    let table = |k: usize| -> [i32; 256] { core::array::from_fn(|i| scaled(p, i as u8 as i8, k)) };
    let (ta, tb) = (table(0), table(1));
    let stage = OutputStage {
        multiplier: &[p.output_multiplier],
        shift: &[p.output_shift],
        offset: p.output_offset,
        min: p.min,
        max: p.max,
    };
    let q = Requant::new(&stage, 0);
    for ((v, &qa), &qb) in y.iter_mut().zip(a).zip(b) {
        let sum = ta[usize::from(qa as u8)].wrapping_add(tb[usize::from(qb as u8)]);
        *v = q.value(sum) as i8;
    }
}

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
    /// The parameters, for the AVX2 form's output stage.
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    p: AddParams,
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
            #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
            p: *p,
        }
    }

    /// The tables of inputs `a` and `b` and the parameters they came from.
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    pub(super) fn parts(&self) -> (&[i32; 256], &[i32; 256], &AddParams) {
        (&self.a, &self.b, &self.p)
    }

    /// `y[i] = a[i] + b[i]` in the quantized domain, equal to
    /// [`super::int8::add`] with the same parameters bit for bit (all three
    /// slices the same length; extra elements of the longer slices are
    /// ignored): [`super::x86::add_table_x86`] on x86-64 host builds (AVX2
    /// if detected), else [`AddTable::add_portable`].
    pub fn add(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
        return super::x86::add_table_x86(self, a, b, y);
        #[allow(unreachable_code)]
        self.add_portable(a, b, y)
    }

    /// [`AddTable::add`] in portable code.
    pub fn add_portable(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        for ((v, &qa), &qb) in y.iter_mut().zip(a).zip(b) {
            let sum = self.a[usize::from(qa as u8)].wrapping_add(self.b[usize::from(qb as u8)]);
            *v = self.q.value(sum) as i8;
        }
    }
}

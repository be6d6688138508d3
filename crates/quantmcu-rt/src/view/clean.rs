//! The clean range of a map that may turn outlier: accumulator bounds, and
//! the signal that a value left them.

/// Accumulator bounds of a map's clean range: an accumulator of channel `c`
/// is clean when `lo[c] <= acc <= hi[c]` (one entry serves every channel).
/// The host derives them from the 8-bit output variant: exactly the
/// accumulators whose int8 output lies inside the clean range.
#[derive(Clone, Copy, Debug)]
pub struct Clean<'a> {
    pub lo: &'a [i32],
    pub hi: &'a [i32],
}

impl Clean<'_> {
    #[inline]
    pub(crate) fn check(&self, acc: i32, c: usize) -> Result<(), Outlier> {
        let (lo, hi) = self.bounds(c);
        if acc < lo || acc > hi {
            Err(Outlier)
        } else {
            Ok(())
        }
    }

    /// The bounds `(lo, hi)` of channel `c`.
    #[inline]
    pub(crate) fn bounds(&self, c: usize) -> (i32, i32) {
        let c = if self.lo.len() == 1 { 0 } else { c };
        (self.lo[c], self.hi[c])
    }
}

/// The bounds of channel `c` under `clean`, or the whole `i32` range.
#[inline]
pub(crate) fn bounds(clean: Option<&Clean>, c: usize) -> (i32, i32) {
    clean.map_or((i32::MIN, i32::MAX), |k| k.bounds(c))
}

/// A value of the tile left the clean range of the map being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outlier;

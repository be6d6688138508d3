//! Reproducible subsets of a data set.

/// A deterministic subset of a data set of `len` items: positions
/// `start .. start + count` (clamped to `len`) of either the data set's own
/// order, or, with `shuffle: Some(seed)`, of a seeded permutation of it.
///
/// **The permutation** (fixed; changing it would change every recorded
/// result): a Fisher-Yates shuffle of `0..len` driven by xorshift64*:
///
/// ```text
/// state = seed ^ 0x9E37_79B9_7F4A_7C15   (0x9E37_79B9_7F4A_7C15 if that is 0)
/// next():  state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
///          return state * 0x2545_F491_4F6C_DD1D   (wrapping)
/// for i in (1..len).rev(): swap(i, next() % (i + 1))
/// ```
///
/// Disjoint ranges of the same seeded permutation give disjoint subsets, e.g.
/// calibration = `Split::range(0, 500).shuffled(7)` and test =
/// `Split::range(500, 1000).shuffled(7)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// First position taken.
    pub start: usize,
    /// Number of positions taken (fewer when the data set ends first).
    pub count: usize,
    /// Seed of the permutation, or `None` for the data set's own order.
    pub shuffle: Option<u64>,
}

impl Split {
    /// Every item, in order.
    pub fn all() -> Self {
        Self::range(0, usize::MAX)
    }

    /// The first `count` items.
    pub fn first(count: usize) -> Self {
        Self::range(0, count)
    }

    /// Items `start .. start + count`, in order.
    pub fn range(start: usize, count: usize) -> Self {
        Split {
            start,
            count,
            shuffle: None,
        }
    }

    /// The same positions taken from the permutation seeded with `seed`.
    pub fn shuffled(self, seed: u64) -> Self {
        Split {
            shuffle: Some(seed),
            ..self
        }
    }

    /// The chosen item indices for a data set of `len` items.
    pub fn indices(&self, len: usize) -> Vec<usize> {
        let start = self.start.min(len);
        let end = start.saturating_add(self.count).min(len);
        match self.shuffle {
            None => (start..end).collect(),
            Some(seed) => permutation(len, seed)[start..end].to_vec(),
        }
    }
}

/// The seeded permutation of `0..len` documented on [`Split`].
fn permutation(len: usize, seed: u64) -> Vec<usize> {
    const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut state = seed ^ MIX;
    if state == 0 {
        state = MIX;
    }
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut p: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

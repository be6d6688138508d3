//! Host SIMD selection: whether the kernels' x86-64 AVX2 forms may run.
//! Detected once per process at run time (`is_x86_feature_detected!`), so a
//! binary built for baseline x86-64 uses the portable forms on a CPU without
//! AVX2. Setting the environment variable `QUANTMCU_RT_PORTABLE` (to any
//! value) forces the portable forms, so tests can cover both paths.

use core::sync::atomic::{AtomicU8, Ordering};

/// 0: not yet decided, 1: portable, 2: AVX2.
static SELECTED: AtomicU8 = AtomicU8::new(0);

/// True when the AVX2 forms run: the CPU has AVX2 and
/// `QUANTMCU_RT_PORTABLE` is unset.
pub fn avx2() -> bool {
    match SELECTED.load(Ordering::Relaxed) {
        0 => {
            let on = detect();
            SELECTED.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

fn detect() -> bool {
    if std::env::var_os("QUANTMCU_RT_PORTABLE").is_some() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Constants a host SIMD kernel derived from an op's parameters (repacked
/// weights, folded biases, resolved output stages), kept per thread across
/// calls and reused only when the parameters they came from are equal value
/// for value: each entry keeps a copy of its source and every lookup
/// compares it in full (a compare of the weights costs far less than their
/// repacking). At most [`Derived::CAPACITY`] entries; the oldest goes
/// first.
pub(crate) struct Derived<T> {
    entries: std::vec::Vec<(Source, T)>,
}

/// The parameters an entry of [`Derived`] came from: int8 weights and
/// int32 values (biases, multipliers, shifts, scalars), each list's length
/// kept apart so no two sources compare equal by concatenation.
struct Source {
    bytes: std::vec::Vec<i8>,
    words: std::vec::Vec<i32>,
    lengths: std::vec::Vec<usize>,
}

impl Source {
    fn matches(&self, bytes: &[i8], words: &[&[i32]]) -> bool {
        self.bytes == bytes
            && self.lengths.len() == words.len()
            && self.lengths.iter().zip(words).all(|(&n, w)| n == w.len())
            && self.words.iter().eq(words.iter().flat_map(|w| w.iter()))
    }
}

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived {
            entries: std::vec::Vec::new(),
        }
    }
}

impl<T> Derived<T> {
    /// Most entries kept (more than the weighted ops of the models run).
    const CAPACITY: usize = 64;

    /// The constants derived from `(bytes, words)`: a kept entry whose
    /// source equals them, else `derive()` (kept, the oldest entry dropped
    /// when full).
    pub(crate) fn get(&mut self, bytes: &[i8], words: &[&[i32]], derive: impl FnOnce() -> T) -> &T {
        let found = self.entries.iter().position(|(s, _)| s.matches(bytes, words));
        let at = match found {
            Some(at) => at,
            None => {
                if self.entries.len() == Self::CAPACITY {
                    self.entries.remove(0);
                }
                let source = Source {
                    bytes: bytes.to_vec(),
                    words: words.iter().flat_map(|w| w.iter().copied()).collect(),
                    lengths: words.iter().map(|w| w.len()).collect(),
                };
                self.entries.push((source, derive()));
                self.entries.len() - 1
            }
        };
        &self.entries[at].1
    }
}

//! The output stage's x86-64 AVX2 form (host builds with the feature `std`):
//! [`OutputStage::apply`] on eight int32 accumulators at once, each lane
//! with its own channel's multiplier and shift, and the store of sixteen
//! results as int8.
//!
//! Per lane, exactly TFLite's double rounding as [`OutputStage::apply`]
//! computes it: the pre-shift `acc << max(shift, 0)` wraps (`vpsllvd`), the
//! saturating rounding doubling high multiply is `(x * m + 2^30) >> 31` on
//! the exact 64-bit product (`vpmuldq` on the even and on the odd lanes;
//! `x * m + 2^30` cannot overflow 64 bits) with the one overflowing case
//! `x == m == i32::MIN` mapped to `i32::MAX`, the rounding divide by
//! `2^max(-shift, 0)` rounds ties away from zero (`(h >> s) + (h & mask >
//! mask / 2 + (h < 0))`), and `clamp(r.saturating_add(offset), min, max)`
//! is `clamp(r, min - offset, max - offset) + offset`, equal whenever
//! `min <= max` and both differences fit an `i32` (see [`OutputLanes::new`]:
//! if `r + offset` saturates, the clamp sends both forms to the same bound).
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_add_epi64, _mm256_and_si256, _mm256_blend_epi32, _mm256_castsi256_si128,
    _mm256_cmpeq_epi32, _mm256_cmpgt_epi32, _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_max_epi32,
    _mm256_min_epi32, _mm256_mul_epi32, _mm256_packs_epi32, _mm256_set1_epi32, _mm256_set1_epi64x, _mm256_slli_epi64,
    _mm256_sllv_epi32, _mm256_srai_epi32, _mm256_srav_epi32, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_sub_epi32,
    _mm_packs_epi16,
};

use super::{Clean, CodesMut, Outlier, OutputStage};

/// The per-channel constants of [`OutputStage::apply`] for eight lanes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Requant8 {
    multiplier: __m256i,
    left: __m256i,
    right: __m256i,
    mask: __m256i,
    half: __m256i,
}

/// An output stage whose int8 results the AVX2 form computes: the clamp
/// lies inside int8 and the offset-shifted clamp fits an `i32`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutputLanes<'a> {
    stage: OutputStage<'a>,
    lo: i32,
    hi: i32,
}

impl<'a> OutputLanes<'a> {
    /// `Some` when `-128 <= stage.min <= stage.max <= 127` and `min -
    /// offset`, `max - offset` fit an `i32`; every entry of the multiplier
    /// and shift lists must be present (one, or one per channel) and each
    /// shift in `-31..=31`.
    pub(crate) fn new(stage: &OutputStage<'a>) -> Option<Self> {
        let (min, max) = (stage.min, stage.max);
        if !(-128 <= min && min <= max && max <= 127) {
            return None;
        }
        let lo = i32::try_from(i64::from(min) - i64::from(stage.offset)).ok()?;
        let hi = i32::try_from(i64::from(max) - i64::from(stage.offset)).ok()?;
        let shifts_ok = stage.shift.iter().all(|s| (-31..=31).contains(s));
        (shifts_ok && stage.multiplier.len() == stage.shift.len() && !stage.shift.is_empty()).then_some(OutputLanes {
            stage: *stage,
            lo,
            hi,
        })
    }

    /// The constants of channels `channels` (one per lane).
    ///
    /// # Panics
    ///
    /// Panics if a channel has no multiplier (per-channel lists shorter
    /// than a channel index).
    #[target_feature(enable = "avx2")]
    pub(crate) fn lanes(&self, channels: [usize; 8]) -> Requant8 {
        let per_tensor = self.stage.multiplier.len() == 1;
        let at = |j: usize| if per_tensor { 0 } else { channels[j] };
        let mut m = [0i32; 8];
        let mut left = [0i32; 8];
        let mut right = [0i32; 8];
        let mut mask = [0i32; 8];
        let mut half = [0i32; 8];
        for j in 0..8 {
            let shift = self.stage.shift[at(j)];
            m[j] = self.stage.multiplier[at(j)];
            left[j] = shift.max(0);
            right[j] = (-shift).max(0);
            mask[j] = ((1i64 << right[j]) - 1) as i32;
            half[j] = mask[j] >> 1;
        }
        Requant8 {
            multiplier: load8(&m),
            left: load8(&left),
            right: load8(&right),
            mask: load8(&mask),
            half: load8(&half),
        }
    }

    /// The int8 results (as int32 lanes) of the eight accumulators `acc`,
    /// lane `j` with the constants `q` hold for it: [`OutputStage::apply`].
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn apply(&self, q: &Requant8, acc: __m256i) -> __m256i {
        let x = _mm256_sllv_epi32(acc, q.left);
        let nudge = _mm256_set1_epi64x(1 << 30);
        // Even lanes: bits 31..62 of `x * m + 2^30` land in the low half of
        // each 64-bit lane; odd lanes: in the high half.
        let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, q.multiplier), nudge));
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), _mm256_srli_epi64::<32>(q.multiplier));
        let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, nudge));
        let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);
        // x == m == MIN: the product 2^62 gives MIN; minus 1 wraps to MAX.
        let min = _mm256_set1_epi32(i32::MIN);
        let both_min = _mm256_and_si256(_mm256_cmpeq_epi32(x, min), _mm256_cmpeq_epi32(q.multiplier, min));
        let high = _mm256_add_epi32(high, both_min);
        // Rounding divide: the threshold is mask / 2, plus 1 below zero.
        let threshold = _mm256_sub_epi32(q.half, _mm256_srai_epi32::<31>(high));
        let up = _mm256_cmpgt_epi32(_mm256_and_si256(high, q.mask), threshold);
        let r = _mm256_sub_epi32(_mm256_srav_epi32(high, q.right), up);
        let r = _mm256_min_epi32(
            _mm256_max_epi32(r, _mm256_set1_epi32(self.lo)),
            _mm256_set1_epi32(self.hi),
        );
        _mm256_add_epi32(r, _mm256_set1_epi32(self.stage.offset))
    }
}

/// The channel of lane `j` of half `h` (0 or 1) of sixteen channels from
/// `c0` as [`pack16`] orders them: half 0 holds channels 0..4 and 8..12,
/// half 1 channels 4..8 and 12..16 (the order `vpunpck*` and `vpackssdw`
/// work in, 128-bit lane by lane).
#[inline(always)]
pub(crate) fn lane_channel(c0: usize, h: usize, j: usize) -> usize {
    c0 + (j / 4) * 8 + h * 4 + j % 4
}

/// Sixteen int8 values in channel order from the two halves of
/// [`lane_channel`] (each lane already an int8 value).
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn pack16(h0: __m256i, h1: __m256i) -> __m128i {
    let w = _mm256_packs_epi32(h0, h1);
    _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w))
}

impl OutputLanes<'_> {
    /// Stores the first `n` of sixteen channels from `c0` (the two halves
    /// `acc` of accumulators in [`lane_channel`] order, requantized with
    /// `q`) as elements `at..at + n` of `y`, each accumulator first checked
    /// against `clean` (channel `c0 + k`): the low-bit output of the blocked
    /// kernels.
    #[target_feature(enable = "avx2")]
    pub(crate) fn store_codes16(
        &self,
        q: [&Requant8; 2],
        acc: [__m256i; 2],
        y: &mut CodesMut,
        (at, c0, n): (usize, usize, usize),
        clean: Option<&Clean>,
    ) -> Result<(), Outlier> {
        let (mut a, mut v) = ([0i32; 16], [0i32; 16]);
        // SAFETY: `a` and `v` hold 16 values (unaligned stores).
        unsafe {
            _mm256_storeu_si256(a.as_mut_ptr().cast(), acc[0]);
            _mm256_storeu_si256(a[8..].as_mut_ptr().cast(), acc[1]);
            _mm256_storeu_si256(v.as_mut_ptr().cast(), self.apply(q[0], acc[0]));
            _mm256_storeu_si256(v[8..].as_mut_ptr().cast(), self.apply(q[1], acc[1]));
        }
        let mut vals = [0i32; 16];
        for (k, val) in vals.iter_mut().enumerate().take(n) {
            // Channel k sits in half (k % 8) / 4, lane (k / 8) * 4 + k % 4.
            let lane = (k % 8) / 4 * 8 + (k / 8) * 4 + k % 4;
            if let Some(b) = clean {
                b.check(a[lane], c0 + k)?;
            }
            *val = v[lane];
        }
        y.store_run(at, &vals[..n]);
        Ok(())
    }
}

#[target_feature(enable = "avx2")]
#[inline]
fn load8(v: &[i32; 8]) -> __m256i {
    // SAFETY: `v` holds 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
}

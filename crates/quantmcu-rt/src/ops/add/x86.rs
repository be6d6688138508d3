//! ADD, int8, by lookup, x86-64 AVX2 form (host builds with the feature
//! `std`): [`AddTable::add_portable`]'s sums 8 elements at a time. Each
//! input's table entry is fetched with `_mm256_i32gather_epi32` (the int8
//! value's byte, zero-extended, is its index), the two are added in int32
//! lanes (wrapping, as the portable `wrapping_add`), and the output stage is
//! the AVX2 form of [`crate::view::OutputStage::apply`]
//! (`view::output_x86`), equal to the portable table's resolved `Requant`.
//! Fewer than 16 trailing elements, and clamps outside int8, take the
//! portable code.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepu8_epi32, _mm256_extracti128_si256,
    _mm256_i32gather_epi32, _mm256_packs_epi32, _mm256_permute4x64_epi64, _mm_loadl_epi64, _mm_packs_epi16,
    _mm_storeu_si128,
};

use super::table::AddTable;
use crate::simd;
use crate::view::output_x86::OutputLanes;
use crate::view::OutputStage;

/// [`AddTable::add_portable`]'s result, computed with AVX2 when
/// [`simd::avx2`] holds. Same contract.
pub fn add_table_x86(t: &AddTable, a: &[i8], b: &[i8], y: &mut [i8]) {
    let (ta, tb, p) = t.parts();
    let (multiplier, shift) = ([p.output_multiplier], [p.output_shift]);
    let stage = OutputStage {
        multiplier: &multiplier,
        shift: &shift,
        offset: p.output_offset,
        min: p.min,
        max: p.max,
    };
    let n = y.len().min(a.len()).min(b.len());
    let whole = n / 16 * 16;
    match OutputLanes::new(&stage) {
        Some(out) if simd::avx2() && whole > 0 => {
            // SAFETY: `simd::avx2()` held, so the CPU executes AVX2
            // instructions.
            unsafe { lanes(ta, tb, &out, &a[..whole], &b[..whole], &mut y[..whole]) };
            t.add_portable(&a[whole..n], &b[whole..n], &mut y[whole..n]);
        }
        _ => t.add_portable(a, b, y),
    }
}

/// `y[i]` from table entries `ta[a[i]] + tb[b[i]]` through `out`, 16
/// elements at a time (all slices of the same multiple of 16 elements).
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn lanes(ta: &[i32; 256], tb: &[i32; 256], out: &OutputLanes, a: &[i8], b: &[i8], y: &mut [i8]) {
    let q = out.lanes([0; 8]);
    let sum8 = |i: usize| {
        // SAFETY: `i + 8 <= len` of both inputs (the caller's multiple of 16
        // and the steps below); each index is a byte, 0..=255, inside the
        // 256-entry tables.
        unsafe {
            let ia = _mm256_cvtepu8_epi32(_mm_loadl_epi64(a.as_ptr().add(i).cast::<__m128i>()));
            let ib = _mm256_cvtepu8_epi32(_mm_loadl_epi64(b.as_ptr().add(i).cast::<__m128i>()));
            let ga = _mm256_i32gather_epi32::<4>(ta.as_ptr(), ia);
            let gb = _mm256_i32gather_epi32::<4>(tb.as_ptr(), ib);
            out.apply(&q, _mm256_add_epi32(ga, gb))
        }
    };
    assert!(a.len() == y.len() && b.len() == y.len() && y.len().is_multiple_of(16));
    for i in (0..y.len()).step_by(16) {
        let v = pack(sum8(i), sum8(i + 8));
        // SAFETY: `i + 16 <= y.len()` (unaligned store).
        unsafe { _mm_storeu_si128(y.as_mut_ptr().add(i).cast(), v) };
    }
}

/// Sixteen int8 values in order from elements 0..8 (`lo`) and 8..16
/// (`hi`), each lane already an int8 value.
#[target_feature(enable = "avx2")]
#[inline]
fn pack(lo: __m256i, hi: __m256i) -> __m128i {
    let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(lo, hi));
    _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w))
}

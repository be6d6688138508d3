//! CONV_2D, int8, x86-64 AVX2 form (host builds with the feature `std`):
//! the portable kernel compiled with AVX2 enabled, its general path's dot
//! products in AVX2 intrinsics (1x1 convolutions keep the packed-pair path,
//! which the compiler vectorizes; on VWW it beats the general path). The
//! low-bit form is the portable low-bit code compiled with AVX2 enabled
//! (same integer operations, only instruction selection differs).
//!
//! Exactness: each step sign-extends 16 int8 values of input and of weights
//! to int16 (`_mm256_cvtepi8_epi16`, exact) and `_mm256_madd_epi16` adds
//! adjacent products into int32 lanes; a product of two int8 values lies in
//! [-16256, 16384], so a pair's sum lies in [-32512, 32768] and never
//! overflows. Lane accumulation (`_mm256_add_epi32`) and the horizontal sum
//! wrap modulo 2^32 like the portable `wrapping_add` chain, and wrapping
//! addition is associative and commutative, so the regrouped sum equals the
//! portable one bit for bit. The output stage is the portable scalar code.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_extracti128_si256,
    _mm256_madd_epi16, _mm256_setzero_si256, _mm_add_epi32, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_shuffle_epi32,
};

use super::lowbit::{conv2d_lowbit_portable, lowbit};
use super::portable::{conv2d_portable, conv2d_with, Dots};
use super::Conv2dParams;
use crate::simd;
use crate::view::{Clean, Codes, CodesMut, Outlier, Window, WindowMut};

/// [`conv2d_lowbit_portable`]'s result, compiled for AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn conv2d_lowbit_x86(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    if !simd::avx2() {
        return conv2d_lowbit_portable(p, x, y, clean);
    }
    // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
    unsafe { lowbit_avx2(p, x, y, clean) }
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn lowbit_avx2(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    lowbit(p, x, y, clean)
}

/// [`conv2d_portable`]'s result, computed with AVX2 when [`simd::avx2`]
/// holds (else by [`conv2d_portable`] itself). Same contract and panics.
pub fn conv2d_x86(p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
    if !simd::avx2() {
        return conv2d_portable(p, x, y, scratch);
    }
    // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
    unsafe { run(&Avx2(()), p, x, y, scratch) }
}

/// The kernel compiled with AVX2 enabled.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn run(k: &Avx2, p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
    conv2d_with(k, p, x, y, scratch)
}

/// Proof that the CPU has AVX2: only [`conv2d_x86`] makes one, after
/// [`simd::avx2`] held.
struct Avx2(());

impl Dots for Avx2 {
    const PACKED_POINTWISE: bool = true;

    #[inline(always)]
    fn rows4(&self, x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
        let n = x.len();
        let rows = [&rows[0][..n], &rows[1][..n], &rows[2][..n], &rows[3][..n]];
        // SAFETY: an `Avx2` exists only once AVX2 was detected; every row
        // is `n` long (sliced just above).
        unsafe { rows4(x, rows) }
    }

    #[inline(always)]
    fn one(&self, x: &[i8], w: &[i8]) -> i32 {
        let w = &w[..x.len()];
        // SAFETY: as in `rows4`; `w` is `x.len()` long.
        unsafe { one(x, w) }
    }
}

/// 16 int8 values at `s[i..i + 16]`, sign-extended to int16.
///
/// # Safety
///
/// AVX2 must be available and `i + 16 <= s.len()`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load16(s: &[i8], i: usize) -> __m256i {
    debug_assert!(i + 16 <= s.len());
    // SAFETY: the caller guarantees 16 readable bytes at `i`; the load is
    // unaligned.
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>()) })
}

/// Wrapping sum of the eight int32 lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Four dot products of `x` with four rows of `x.len()` values.
///
/// # Safety
///
/// AVX2 must be available and every row `x.len()` long.
#[target_feature(enable = "avx2")]
unsafe fn rows4(x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    let n = x.len();
    let mut acc = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n` and every row is `n` long.
        let xv = unsafe { load16(x, i) };
        for (a, r) in acc.iter_mut().zip(rows) {
            // SAFETY: as above.
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, unsafe { load16(r, i) }));
        }
        i += 16;
    }
    let mut out = [0i32; 4];
    for ((o, a), r) in out.iter_mut().zip(acc).zip(rows) {
        *o = tail(&x[i..], &r[i..], hsum(a));
    }
    out
}

/// One dot product of `x` with `w` (`x.len()` values).
///
/// # Safety
///
/// AVX2 must be available and `w.len() == x.len()`.
#[target_feature(enable = "avx2")]
unsafe fn one(x: &[i8], w: &[i8]) -> i32 {
    let n = x.len();
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n == w.len()`.
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(unsafe { load16(x, i) }, unsafe { load16(w, i) }));
        i += 16;
    }
    tail(&x[i..], &w[i..], hsum(acc))
}

/// `acc + dot(x, w)` in wrapping int32, scalar (the last < 16 values).
#[inline(always)]
fn tail(x: &[i8], w: &[i8], acc: i32) -> i32 {
    x.iter()
        .zip(w)
        .fold(acc, |s, (&a, &b)| s.wrapping_add(i32::from(a) * i32::from(b)))
}

//! CONV_2D, int8, x86-64 AVX2 form (host builds with the feature `std`).
//!
//! One-group convolutions whose output clamp lies inside int8 (every
//! ordinary layer) run register-blocked: per call the filter is repacked
//! into int16 pairs of input taps for blocks of [`OC_BLOCK`] (16) output
//! channels and the folded biases `bias + input_offset * sum(w)` computed;
//! then [`PX_BLOCK`] (4) output pixels at a time get their receptive fields
//! as int16 rows (im2col; a padding tap holds the input zero point
//! `-input_offset`, whose offset value is 0, so it adds nothing, exactly as
//! skipping the tap does), and each block of 4 pixels x 16 channels keeps
//! its 8 accumulator vectors in registers: per pair of taps, one broadcast
//! of each pixel's pair and one `_mm256_madd_epi16` per (pixel, 8
//! channels). The output stage is the AVX2 form of
//! [`crate::view::OutputStage::apply`] (`view::output_x86`), storing 16
//! int8 values per pixel. The repacked weights, rows and constants live in
//! a per-thread buffer of the host, reused across calls.
//!
//! The low-bit form unpacks its input codes into int8 values once (a code
//! below 8 bits is at most 127) and runs the same kernel, checking each
//! accumulator against the clean bounds before storing its code. Other
//! convolutions (grouped, or a clamp outside int8) run the portable kernel
//! compiled with AVX2 enabled, its general path's dot products in AVX2
//! intrinsics (16 int8 values of input and of weights sign-extended to
//! int16 per step), and the portable low-bit code compiled with AVX2
//! enabled (same integer operations, only instruction selection differs).
//!
//! Exactness: a product of two values within int16 whose magnitudes are at
//! most 2^15 and 2^7 lies within 2^22, so `_mm256_madd_epi16`'s pair sums
//! are exact int32 values; lane accumulation (`_mm256_add_epi32`) and the
//! horizontal sums wrap modulo 2^32 like the portable `wrapping_add` chain,
//! and wrapping addition is associative and commutative, so every regrouped
//! sum equals the portable one bit for bit (padding taps: `(z +
//! input_offset) * w = 0` with `z = -input_offset`, and the folded bias
//! carries `input_offset` times every weight).
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_castsi256_si128, _mm256_cvtepi8_epi16, _mm256_extracti128_si256,
    _mm256_loadu_si256, _mm256_madd_epi16, _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256, _mm_add_epi32,
    _mm_cvtepi8_epi16, _mm_cvtsi128_si32, _mm_loadl_epi64, _mm_loadu_si128, _mm_shuffle_epi32, _mm_storeu_si128,
};
use core::cell::RefCell;
use std::vec::Vec;

use super::lowbit::{conv2d_lowbit_portable, lowbit};
use super::params::is_pointwise;
use super::portable::{conv2d_portable, conv2d_with, Dots};
use super::Conv2dParams;
use crate::geometry::{Geometry, Rect};
use crate::simd;
use crate::view::output_x86::{lane_channel, pack16, OutputLanes, Requant8};
use crate::view::{Clean, Codes, CodesMut, Outlier, TapRange, Window, WindowMut};

/// Output channels of one register block (two vectors of 8 int32 lanes).
const OC_BLOCK: usize = 16;

/// Output pixels of one register block.
const PX_BLOCK: usize = 4;

/// [`conv2d_lowbit_portable`]'s result, compiled for AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn conv2d_lowbit_x86(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    if !simd::avx2() {
        return conv2d_lowbit_portable(p, x, y, clean);
    }
    if let Some(b) = Blocked::new(p) {
        if y.rect.area() == 0 {
            return Ok(());
        }
        // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
        return SCRATCH.with_borrow_mut(|s| unsafe { blocked_codes(s, &b, p, x, y, clean) });
    }
    // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
    unsafe { lowbit_avx2(p, x, y, clean) }
}

/// [`conv2d_portable`] through the blocked kernel: each block requantized
/// and stored as 16 int8 values.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn blocked_int8(s: &mut Scratch, b: &Blocked, p: &Conv2dParams, x: Window, y: WindowMut) {
    let out = y.data;
    let store16 = |(at, c0, nc): (usize, usize, usize), acc: [__m256i; 2], [q0, q1]: [&Requant8; 2]| {
        store(
            &mut out[at + c0..][..nc],
            pack16(b.out.apply(q0, acc[0]), b.out.apply(q1, acc[1])),
        );
        Ok(())
    };
    // SAFETY: AVX2 is available; `store16` never fails.
    let _ = unsafe { blocked(s, b, p, x, y.rect, store16) };
}

/// [`conv2d_lowbit_portable`] through the blocked kernel: the input codes
/// unpacked once into int8 values (a code below 8 bits is at most 127),
/// each block's accumulators checked against `clean` channel by channel,
/// then requantized and stored as codes.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn blocked_codes(
    s: &mut Scratch,
    b: &Blocked,
    p: &Conv2dParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let mut values = core::mem::take(&mut s.values);
    values.clear();
    values.resize(x.rect.area() * b.ic, 0);
    x.for_each(0, values.len(), |j, v| values[j] = v as i8);
    let xw = Window {
        data: &values,
        rect: x.rect,
    };
    let r = y.rect;
    let codes = |(at, c0, nc): (usize, usize, usize), acc: [__m256i; 2], q: [&Requant8; 2]| {
        b.out.store_codes16(q, acc, &mut y, (at + c0, c0, nc), clean.as_ref())
    };
    // SAFETY: AVX2 is available.
    let result = unsafe { blocked(s, b, p, xw, r, codes) };
    s.values = values;
    result
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
    if let Some(b) = Blocked::new(p) {
        if y.rect.area() > 0 {
            // SAFETY: `simd::avx2()` held, so the CPU executes AVX2
            // instructions.
            SCRATCH.with_borrow_mut(|s| unsafe { blocked_int8(s, &b, p, x, y) });
        }
        return;
    }
    // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
    unsafe { run(&Avx2(()), p, x, y, scratch) }
}

/// A convolution the blocked kernel takes: one group, an output clamp
/// inside int8 ([`OutputLanes`]) and an input zero point within int16.
struct Blocked<'a> {
    out: OutputLanes<'a>,
    ic: usize,
    oc: usize,
    /// Filter row length `kh * kw * ic`.
    k: usize,
    /// `k` rounded up to even (whole tap pairs; the last pair's second
    /// weight is 0).
    k2: usize,
    /// The input zero point `-input_offset`: the value of a padding tap.
    zero: i16,
    /// Every output pixel reads exactly one input pixel (1x1, no padding).
    pointwise: bool,
}

impl<'a> Blocked<'a> {
    fn new(p: &Conv2dParams<'a>) -> Option<Self> {
        let g = &p.geometry;
        let (ic, oc) = (g.input[2], g.output[2]);
        let taps = oc * g.kernel[0] * g.kernel[1];
        if taps == 0 || ic == 0 || p.filter.len() / taps != ic {
            return None;
        }
        let k = g.kernel[0] * g.kernel[1] * ic;
        Some(Blocked {
            out: OutputLanes::new(&p.output)?,
            ic,
            oc,
            k,
            k2: k.next_multiple_of(2),
            zero: i16::try_from(-i64::from(p.input_offset)).ok()?,
            pointwise: is_pointwise(g),
        })
    }
}

/// The blocked kernel's constants of one convolution.
struct Packed {
    /// The filter, per block of [`OC_BLOCK`] output channels and pair of
    /// taps `t`: two vectors (halves `h`) of 8 lanes `j`, each lane the
    /// weights of taps `2t` and `2t + 1` of channel `lane_channel(16 b, h,
    /// j)` (0 past the last channel or tap).
    weights: Vec<i16>,
    /// `bias + input_offset * sum(w)` in the same lane order (0 past the
    /// last channel).
    folded: Vec<i32>,
    /// Output-stage constants, two per block (its halves).
    lanes: Vec<Requant8>,
}

impl Packed {
    /// Repacks `p`'s filter, folds its biases and resolves its output stage.
    #[target_feature(enable = "avx2")]
    fn new(b: &Blocked, p: &Conv2dParams) -> Self {
        let (k, oc) = (b.k, b.oc);
        let blocks = oc.div_ceil(OC_BLOCK);
        let pairs = b.k2 / 2;
        let mut weights = std::vec![0i16; blocks * pairs * 2 * OC_BLOCK];
        let mut folded = std::vec![0i32; blocks * OC_BLOCK];
        let mut lanes = Vec::with_capacity(2 * blocks);
        for blk in 0..blocks {
            for h in 0..2 {
                for j in 0..8 {
                    let o = lane_channel(blk * OC_BLOCK, h, j);
                    if o >= oc {
                        continue;
                    }
                    let row = &p.filter[o * k..][..k];
                    let mut wsum = 0i32;
                    for (t, &w) in row.iter().enumerate() {
                        weights[((blk * pairs + t / 2) * 2 + h) * OC_BLOCK + 2 * j + t % 2] = i16::from(w);
                        wsum = wsum.wrapping_add(i32::from(w));
                    }
                    folded[blk * OC_BLOCK + h * 8 + j] = p.bias[o].wrapping_add(p.input_offset.wrapping_mul(wsum));
                }
                let ch = core::array::from_fn(|j| lane_channel(blk * OC_BLOCK, h, j).min(oc - 1));
                lanes.push(b.out.lanes(ch));
            }
        }
        Packed { weights, folded, lanes }
    }
}

/// The blocked kernel's per-thread buffers, reused across calls.
#[derive(Default)]
struct Scratch {
    /// Constants of the convolutions run, by their parameters.
    packed: simd::Derived<Packed>,
    /// The receptive fields of one block of pixels, `k2` values each.
    cols: Vec<i16>,
    /// The low-bit form's input codes unpacked to int8 values.
    values: Vec<i8>,
}

std::thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The blocked kernel: [`conv2d_portable`]'s accumulators for a convolution
/// [`Blocked`] takes, over the output pixels of `r`: for each pixel and
/// block of channels `sink((pixel offset, first channel, channels), the
/// accumulators of the block's two halves, their output-stage constants)`
/// (the accumulators in [`lane_channel`] order, biases included); stops at
/// the first error of `sink`.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn blocked(
    s: &mut Scratch,
    b: &Blocked,
    p: &Conv2dParams,
    x: Window,
    r: Rect,
    mut sink: impl FnMut((usize, usize, usize), [__m256i; 2], [&Requant8; 2]) -> Result<(), Outlier>,
) -> Result<(), Outlier> {
    let (oc, k2) = (b.oc, b.k2);
    let st = &p.output;
    let scalars = [p.input_offset, st.offset, st.min, st.max, oc as i32, b.k as i32];
    let words: [&[i32]; 4] = [&p.bias[..oc], st.multiplier, st.shift, &scalars];
    let pk = s.packed.get(&p.filter[..oc * b.k], &words, || Packed::new(b, p));
    s.cols.clear();
    s.cols.resize(PX_BLOCK * k2, 0);
    let pairs = k2 / 2;
    let area = r.area();
    let mut i = 0;
    while i < area {
        let n = (area - i).min(PX_BLOCK);
        let mut at = [0usize; PX_BLOCK];
        for (q, at) in at.iter_mut().enumerate().take(n) {
            let (oy, ox) = (r.y + (i + q) / r.w, r.x + (i + q) % r.w);
            *at = r.offset(oy, ox, oc);
            gather(b, &p.geometry, &x, oy, ox, &mut s.cols[q * k2..][..k2]);
        }
        // Pixels past `n` keep the last block's rows: computed, not stored.
        for blk in 0..oc.div_ceil(OC_BLOCK) {
            let w = &pk.weights[blk * pairs * 2 * OC_BLOCK..][..pairs * 2 * OC_BLOCK];
            // SAFETY: AVX2 is available; `cols` holds `PX_BLOCK` rows of
            // `k2` values and `w` the block's `pairs` pairs of vectors.
            let acc = unsafe { dot_block(&s.cols, pairs, w) };
            let folded = &pk.folded[blk * OC_BLOCK..][..OC_BLOCK];
            // SAFETY: `folded` holds 16 values (unaligned loads).
            let (f0, f1) = unsafe {
                (
                    _mm256_loadu_si256(folded.as_ptr().cast()),
                    _mm256_loadu_si256(folded[8..].as_ptr().cast()),
                )
            };
            let (q0, q1) = (&pk.lanes[2 * blk], &pk.lanes[2 * blk + 1]);
            let c0 = blk * OC_BLOCK;
            let nc = (oc - c0).min(OC_BLOCK);
            for (a, &at) in acc.iter().zip(&at).take(n) {
                let a = [_mm256_add_epi32(a[0], f0), _mm256_add_epi32(a[1], f1)];
                sink((at, c0, nc), a, [q0, q1])?;
            }
        }
        i += n;
    }
    Ok(())
}

/// Writes the receptive field of output pixel `(oy, ox)` as int16 values in
/// filter order (`[kh][kw][ic]`) into `col[..k]`: the input where the tap
/// is inside it, `b.zero` where it is padding (`col[k]`, if any, stays 0).
#[target_feature(enable = "avx2")]
#[inline]
fn gather(b: &Blocked, g: &Geometry, x: &Window, oy: usize, ox: usize, col: &mut [i16]) {
    let (ic, [kh, kw]) = (b.ic, g.kernel);
    if b.pointwise {
        let at = x.rect.offset(oy * g.stride[0], ox * g.stride[1], ic);
        return widen(&x.data[at..][..ic], &mut col[..ic]);
    }
    let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
    let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
    let run = kw * ic;
    for ky in 0..kh {
        let row = &mut col[ky * run..][..run];
        if !(ry.lo..ry.hi).contains(&ky) {
            row.fill(b.zero);
            continue;
        }
        let iy = ry.at(ky);
        row[..rx.lo * ic].fill(b.zero);
        row[rx.hi * ic..].fill(b.zero);
        if g.dilation[1] <= 1 {
            if rx.hi > rx.lo {
                let src = &x.data[x.rect.offset(iy, rx.at(rx.lo), ic)..][..(rx.hi - rx.lo) * ic];
                widen(src, &mut row[rx.lo * ic..rx.hi * ic]);
            }
        } else {
            for kx in rx.lo..rx.hi {
                widen(
                    &x.data[x.rect.offset(iy, rx.at(kx), ic)..][..ic],
                    &mut row[kx * ic..][..ic],
                );
            }
        }
    }
}

/// `dst[i] = src[i]` sign-extended (`dst` as long as `src`).
#[target_feature(enable = "avx2")]
fn widen(src: &[i8], dst: &mut [i16]) {
    let n = src.len();
    assert_eq!(dst.len(), n);
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: `i + 16 <= n` values are readable in `src` and writable
        // in `dst` (unaligned load and store).
        unsafe {
            let v = _mm256_cvtepi8_epi16(_mm_loadu_si128(src.as_ptr().add(i).cast()));
            _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), v);
        }
        i += 16;
    }
    if i + 8 <= n {
        // SAFETY: as above, for 8 values.
        unsafe {
            let v = _mm_cvtepi8_epi16(_mm_loadl_epi64(src.as_ptr().add(i).cast()));
            _mm_storeu_si128(dst.as_mut_ptr().add(i).cast(), v);
        }
        i += 8;
    }
    for (d, &s) in dst[i..].iter_mut().zip(&src[i..]) {
        *d = i16::from(s);
    }
}

/// The accumulators of [`PX_BLOCK`] pixels x [`OC_BLOCK`] channels: for
/// pixel `q` and half `h`, lane `j` sums `cols[q][t] * w[channel][t]` over
/// the `2 * pairs` taps (the channel of [`lane_channel`]).
///
/// # Safety
///
/// AVX2 must be available, `cols` must hold `PX_BLOCK * 2 * pairs` values
/// and `w` `pairs * 2 * OC_BLOCK`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_block(cols: &[i16], pairs: usize, w: &[i16]) -> [[__m256i; 2]; PX_BLOCK] {
    debug_assert!(cols.len() >= PX_BLOCK * 2 * pairs && w.len() >= pairs * 2 * OC_BLOCK);
    let c = cols.as_ptr().cast::<i32>();
    let wv = w.as_ptr().cast::<__m256i>();
    let mut acc = [[_mm256_setzero_si256(); 2]; PX_BLOCK];
    for t in 0..pairs {
        // SAFETY: pair `t` of every row and the block's vectors `2t`, `2t +
        // 1` lie inside the slices (the caller's lengths); unaligned reads.
        let (w0, w1) = unsafe { (_mm256_loadu_si256(wv.add(2 * t)), _mm256_loadu_si256(wv.add(2 * t + 1))) };
        for (q, a) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let v = _mm256_set1_epi32(unsafe { c.add(q * pairs + t).read_unaligned() });
            a[0] = _mm256_add_epi32(a[0], _mm256_madd_epi16(v, w0));
            a[1] = _mm256_add_epi32(a[1], _mm256_madd_epi16(v, w1));
        }
    }
    acc
}

/// Stores the first `dst.len()` (at most 16) bytes of `v`.
#[target_feature(enable = "avx2")]
fn store(dst: &mut [i8], v: __m128i) {
    if dst.len() == 16 {
        // SAFETY: `dst` has 16 writable bytes (unaligned store).
        unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), v) };
    } else {
        let mut all = [0i8; 16];
        // SAFETY: `all` has 16 writable bytes.
        unsafe { _mm_storeu_si128(all.as_mut_ptr().cast(), v) };
        let n = dst.len();
        dst.copy_from_slice(&all[..n]);
    }
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

//! DEPTHWISE_CONV_2D, int8, x86-64 AVX2 forms (host builds with the feature
//! `std`).
//!
//! Multiplier 1 with an output clamp inside int8 and an int8 input zero
//! point (every ordinary layer) runs vectorized over channels: per call the
//! filter is repacked into int16 pairs of taps for blocks of [`C_BLOCK`]
//! (16) channels and the folded biases `bias + input_offset * sum(w)`
//! computed; then each output pixel loads 16 channels of two taps at a
//! time, interleaves them (`_mm256_unpack{lo,hi}_epi16`) and adds both
//! taps' products per channel with one `_mm256_madd_epi16` per 8 channels
//! into int32 lanes. A padding tap reads a row holding the input zero point
//! `-input_offset`, whose offset value is 0, so it adds nothing, exactly as
//! skipping the tap does. The output stage is the AVX2 form of
//! [`crate::view::OutputStage::apply`] (`view::output_x86`). The in-place
//! form copies the input map into a host buffer and runs the same kernel
//! into the map's buffer (the host has the memory; the result is the
//! in-place kernel's by the out-of-place kernel's equality). The repacked
//! weights, constants and the copy live in a per-thread buffer, reused
//! across calls.
//!
//! The low-bit form unpacks its input codes into int8 values once (a code
//! below 8 bits is at most 127) and runs the same kernel, checking each
//! accumulator against the clean bounds before storing its code. Other
//! depthwise convolutions run the portable kernels' own code compiled with
//! AVX2 enabled, so the compiler vectorizes their channel loops: the
//! portable integer operations, only instruction selection differs.
//!
//! Exactness: the int8 products lie within 2^14, so the pair sums of
//! `_mm256_madd_epi16` are exact; the int32 lanes wrap modulo 2^32 like the
//! portable `wrapping_add` chain, whose sum may be regrouped freely (the
//! folded bias carries `input_offset` times every weight, a padding tap
//! `(z + input_offset) * w = 0`).
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, __m256i, _mm256_add_epi32, _mm256_cvtepi8_epi16, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_setzero_si256, _mm256_unpackhi_epi16, _mm256_unpacklo_epi16, _mm_loadl_epi64, _mm_loadu_si128,
    _mm_storeu_si128,
};
use core::cell::RefCell;
use std::vec::Vec;

use super::in_place::{can_run_in_place, depthwise_conv2d_in_place_portable, in_place, in_place_offset_ok};
use super::lowbit::{depthwise_conv2d_lowbit_portable, lowbit};
use super::portable::{depthwise_conv2d_portable, portable};
use super::DepthwiseConv2dParams;
use crate::geometry::Rect;
use crate::simd;
use crate::view::output_x86::{lane_channel, pack16, OutputLanes, Requant8};
use crate::view::{Clean, Codes, CodesMut, Outlier, TapRange, Window, WindowMut};

/// Channels of one vector block (two vectors of 8 int32 lanes).
const C_BLOCK: usize = 16;

/// [`depthwise_conv2d_portable`]'s result, computed with AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn depthwise_conv2d_x86(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    if !simd::avx2() {
        return depthwise_conv2d_portable(p, x, y);
    }
    match Vectorized::new(p) {
        // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
        Some(v) => SCRATCH.with_borrow_mut(|s| unsafe { vectorized_int8(s, &v, p, x, y) }),
        // SAFETY: as above.
        None => unsafe { out_of_place_avx2(p, x, y) },
    }
}

/// [`depthwise_conv2d_in_place_portable`]'s result, computed with AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn in_place_x86(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    if !simd::avx2() {
        return depthwise_conv2d_in_place_portable(p, buf, temp);
    }
    let Some(v) = Vectorized::new(p) else {
        // SAFETY: as in `depthwise_conv2d_x86`.
        return unsafe { in_place_avx2(p, buf, temp) };
    };
    let g = &p.geometry;
    assert!(
        can_run_in_place(g) && in_place_offset_ok(p.input_offset),
        "depthwise in place needs multiplier 1, no upsampling and an int8 input zero point"
    );
    let [h, w, c] = g.input;
    let [oh, ow, _] = g.output;
    SCRATCH.with_borrow_mut(|s| {
        let mut copy = core::mem::take(&mut s.input);
        copy.clear();
        copy.extend_from_slice(&buf[..h * w * c]);
        let x = Window {
            data: &copy,
            rect: Rect::full(h, w),
        };
        let y = WindowMut {
            data: &mut buf[..oh * ow * c],
            rect: Rect::full(oh, ow),
        };
        // SAFETY: as in `depthwise_conv2d_x86`.
        unsafe { vectorized_int8(s, &v, p, x, y) };
        s.input = copy;
    });
}

/// A depthwise convolution the vectorized kernel takes: multiplier 1, an
/// output clamp inside int8 ([`OutputLanes`]) and an int8 input zero point.
struct Vectorized<'a> {
    out: OutputLanes<'a>,
    /// Channels (in and out).
    c: usize,
    /// Kernel taps `kh * kw`.
    taps: usize,
    /// The input zero point `-input_offset`: the value of a padding tap.
    zero: i8,
}

impl<'a> Vectorized<'a> {
    fn new(p: &DepthwiseConv2dParams<'a>) -> Option<Self> {
        let g = &p.geometry;
        let c = g.input[2];
        let taps = g.kernel[0] * g.kernel[1];
        if c == 0 || g.output[2] != c || taps == 0 {
            return None;
        }
        Some(Vectorized {
            out: OutputLanes::new(&p.output)?,
            c,
            taps,
            zero: i8::try_from(-i64::from(p.input_offset)).ok()?,
        })
    }
}

/// The vectorized kernel's constants of one depthwise convolution.
struct Packed {
    /// The filter, per block of [`C_BLOCK`] channels and pair of taps `t`:
    /// two vectors (halves `h`) of 8 lanes `j`, each lane the weights of
    /// taps `2t` and `2t + 1` of channel `lane_channel(16 b, h, j)` (0 past
    /// the last channel or tap).
    weights: Vec<i16>,
    /// `bias + input_offset * sum(w)` in the same lane order.
    folded: Vec<i32>,
    /// Output-stage constants, two per block (its halves).
    lanes: Vec<Requant8>,
}

impl Packed {
    /// Repacks `p`'s filter, folds its biases and resolves its output stage.
    #[target_feature(enable = "avx2")]
    fn new(v: &Vectorized, p: &DepthwiseConv2dParams) -> Self {
        let c = v.c;
        let blocks = c.div_ceil(C_BLOCK);
        let pairs = v.taps.div_ceil(2);
        let mut weights = std::vec![0i16; blocks * pairs * 2 * C_BLOCK];
        let mut folded = std::vec![0i32; blocks * C_BLOCK];
        let mut lanes = Vec::with_capacity(2 * blocks);
        for blk in 0..blocks {
            for h in 0..2 {
                for j in 0..8 {
                    let ch = lane_channel(blk * C_BLOCK, h, j);
                    if ch >= c {
                        continue;
                    }
                    let mut wsum = 0i32;
                    for t in 0..v.taps {
                        let w = p.filter[t * c + ch];
                        weights[((blk * pairs + t / 2) * 2 + h) * C_BLOCK + 2 * j + t % 2] = i16::from(w);
                        wsum = wsum.wrapping_add(i32::from(w));
                    }
                    folded[blk * C_BLOCK + h * 8 + j] = p.bias[ch].wrapping_add(p.input_offset.wrapping_mul(wsum));
                }
                let chs = core::array::from_fn(|j| lane_channel(blk * C_BLOCK, h, j).min(c - 1));
                lanes.push(v.out.lanes(chs));
            }
        }
        Packed { weights, folded, lanes }
    }
}

/// The vectorized kernel's per-thread buffers, reused across calls.
#[derive(Default)]
struct Scratch {
    /// Constants of the depthwise convolutions run, by their parameters.
    packed: simd::Derived<Packed>,
    /// Per tap of one pixel: the offset of its channels in the input
    /// window, or `None` for a padding tap (an odd last pair's second tap
    /// too).
    at: Vec<Option<usize>>,
    /// Per tap: its offset from the pixel's first tap when every tap is
    /// inside the input (`None` past the last tap).
    from_first: Vec<Option<usize>>,
    /// The in-place form's copy of the input map, or the low-bit form's
    /// input codes unpacked to int8 values.
    input: Vec<i8>,
}

std::thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The vectorized kernel: [`depthwise_conv2d_portable`]'s accumulators for
/// a convolution [`Vectorized`] takes, over the output pixels of `r`: for
/// each pixel and block of channels `sink((offset of the block's first
/// output, channels), the accumulators of the block's two halves, their
/// output-stage constants)` (the accumulators in [`lane_channel`] order,
/// biases included); stops at the first error of `sink`.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn vectorized(
    s: &mut Scratch,
    v: &Vectorized,
    p: &DepthwiseConv2dParams,
    x: Window,
    r: Rect,
    mut sink: impl FnMut((usize, usize), [__m256i; 2], [&Requant8; 2]) -> Result<(), Outlier>,
) -> Result<(), Outlier> {
    if r.area() == 0 {
        return Ok(());
    }
    let g = &p.geometry;
    let [kh, kw] = g.kernel;
    let (c, pairs) = (v.c, v.taps.div_ceil(2));
    let st = &p.output;
    let scalars = [p.input_offset, st.offset, st.min, st.max, c as i32, v.taps as i32];
    let words: [&[i32]; 4] = [&p.bias[..c], st.multiplier, st.shift, &scalars];
    let pk = s.packed.get(&p.filter[..v.taps * c], &words, || Packed::new(v, p));
    // The taps' offsets from a pixel's first tap when all are inside.
    let [dy, dx] = g.dilation.map(|d| d.max(1));
    s.from_first.clear();
    s.from_first
        .extend((0..2 * pairs).map(|t| (t < v.taps).then(|| ((t / kw) * dy * x.rect.w + (t % kw) * dx) * c)));
    s.at.clear();
    s.at.resize(2 * pairs, None);
    let zero = [v.zero; C_BLOCK];
    for blk in 0..c.div_ceil(C_BLOCK) {
        let c0 = blk * C_BLOCK;
        let n = (c - c0).min(C_BLOCK);
        let w = &pk.weights[blk * pairs * 2 * C_BLOCK..][..pairs * 2 * C_BLOCK];
        let folded = &pk.folded[blk * C_BLOCK..][..C_BLOCK];
        let (q0, q1) = (&pk.lanes[2 * blk], &pk.lanes[2 * blk + 1]);
        for oy in r.y..r.y + r.h {
            let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
            for ox in r.x..r.x + r.w {
                let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
                if ry.full(kh) && rx.full(kw) {
                    let first = x.rect.offset(ry.at(0), rx.at(0), c) + c0;
                    for (at, d) in s.at.iter_mut().zip(&s.from_first) {
                        *at = d.map(|d| first + d);
                    }
                } else {
                    for (t, at) in s.at.iter_mut().enumerate().take(v.taps) {
                        let (ky, kx) = (t / kw, t % kw);
                        let inside = (ry.lo..ry.hi).contains(&ky) && (rx.lo..rx.hi).contains(&kx);
                        *at = inside.then(|| x.rect.offset(ry.at(ky), rx.at(kx), c) + c0);
                    }
                }
                let mut acc = [_mm256_setzero_si256(); 2];
                for (t, at) in s.at.chunks_exact(2).enumerate() {
                    let tap = |a: Option<usize>| match a {
                        Some(a) => &x.data[a..][..n],
                        None => &zero[..n],
                    };
                    // SAFETY: AVX2 is available; each tap slice holds `n`
                    // values; the pair's weights are vectors `2t`, `2t + 1`
                    // of the block's `2 * pairs`.
                    unsafe {
                        let (a, b) = (load(tap(at[0])), load(tap(at[1])));
                        let wv = w.as_ptr().cast::<__m256i>();
                        let (w0, w1) = (_mm256_loadu_si256(wv.add(2 * t)), _mm256_loadu_si256(wv.add(2 * t + 1)));
                        acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), w0));
                        acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), w1));
                    }
                }
                // SAFETY: `folded` holds 16 values (unaligned loads).
                let (f0, f1) = unsafe {
                    (
                        _mm256_loadu_si256(folded.as_ptr().cast()),
                        _mm256_loadu_si256(folded[8..].as_ptr().cast()),
                    )
                };
                let acc = [_mm256_add_epi32(acc[0], f0), _mm256_add_epi32(acc[1], f1)];
                sink((r.offset(oy, ox, c) + c0, n), acc, [q0, q1])?;
            }
        }
    }
    Ok(())
}

/// The values of `src` (16, or fewer then padded with 0) sign-extended to
/// int16 lanes in channel order.
#[target_feature(enable = "avx2")]
#[inline]
fn load(src: &[i8]) -> __m256i {
    let bytes = match src.len() {
        // SAFETY: 16 readable bytes (unaligned load).
        16 => unsafe { _mm_loadu_si128(src.as_ptr().cast()) },
        // SAFETY: 8 readable bytes; the upper 8 lanes are 0.
        8 => unsafe { _mm_loadl_epi64(src.as_ptr().cast()) },
        n => {
            let mut all = [0i8; 16];
            all[..n].copy_from_slice(src);
            // SAFETY: `all` has 16 readable bytes.
            unsafe { _mm_loadu_si128(all.as_ptr().cast::<__m128i>()) }
        }
    };
    _mm256_cvtepi8_epi16(bytes)
}

/// Stores the first `dst.len()` (at most 16) bytes of `v`.
#[target_feature(enable = "avx2")]
#[inline]
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

/// [`depthwise_conv2d_lowbit_portable`]'s result, compiled for AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn depthwise_conv2d_lowbit_x86(
    p: &DepthwiseConv2dParams,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    if !simd::avx2() {
        return depthwise_conv2d_lowbit_portable(p, x, y, clean);
    }
    match Vectorized::new(p) {
        // SAFETY: as in `depthwise_conv2d_x86`.
        Some(v) => SCRATCH.with_borrow_mut(|s| unsafe { vectorized_codes(s, &v, p, x, y, clean) }),
        // SAFETY: as in `depthwise_conv2d_x86`.
        None => unsafe { lowbit_avx2(p, x, y, clean) },
    }
}

/// [`depthwise_conv2d_portable`] through the vectorized kernel: each block
/// requantized and stored as int8 values.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn vectorized_int8(s: &mut Scratch, v: &Vectorized, p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    let out = y.data;
    let store16 = |(at, n): (usize, usize), acc: [__m256i; 2], [q0, q1]: [&Requant8; 2]| {
        store(
            &mut out[at..][..n],
            pack16(v.out.apply(q0, acc[0]), v.out.apply(q1, acc[1])),
        );
        Ok(())
    };
    // SAFETY: AVX2 is available; `store16` never fails.
    let _ = unsafe { vectorized(s, v, p, x, y.rect, store16) };
}

/// [`depthwise_conv2d_lowbit_portable`] through the vectorized kernel: the
/// input codes unpacked once into int8 values (a code below 8 bits is at
/// most 127), each block's accumulators checked against `clean` channel by
/// channel, then requantized and stored as codes.
///
/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
unsafe fn vectorized_codes(
    s: &mut Scratch,
    v: &Vectorized,
    p: &DepthwiseConv2dParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let mut values = core::mem::take(&mut s.input);
    values.clear();
    values.resize(x.rect.area() * v.c, 0);
    x.for_each(0, values.len(), |j, c| values[j] = c as i8);
    let xw = Window {
        data: &values,
        rect: x.rect,
    };
    let r = y.rect;
    let c = v.c;
    let codes = |(at, n): (usize, usize), acc: [__m256i; 2], q: [&Requant8; 2]| {
        v.out.store_codes16(q, acc, &mut y, (at, at % c, n), clean.as_ref())
    };
    // SAFETY: AVX2 is available.
    let result = unsafe { vectorized(s, v, p, xw, r, codes) };
    s.input = values;
    result
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn lowbit_avx2(p: &DepthwiseConv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    lowbit(p, x, y, clean)
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn out_of_place_avx2(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    portable(p, x, y)
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn in_place_avx2(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    in_place(p, buf, temp)
}

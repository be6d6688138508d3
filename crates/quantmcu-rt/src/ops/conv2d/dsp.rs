//! CONV_2D with one group as dot products of 16-bit pairs, the Cortex-M DSP
//! form of the convolution: `acc = bias[o] + sum((v + input_offset) *
//! w)` over the taps inside the input (padding taps contribute nothing), in
//! wrapping 32-bit arithmetic, for input maps of any width ([`Codes`]: int8
//! or packed codes) — the same integer formula as the portable kernels, so
//! the results are equal bit for bit.
//!
//! Up to [`CHUNK`] output pixels at a time: each pixel's receptive field
//! (`kh x kw x ic` offset values in filter-row order, 0 for padding taps) is
//! expanded once into halfword pairs ordered like [`dsp::sxtb16`] splits a
//! word of four weights (positions `p, p+2` then `p+1, p+3`); then two output
//! channels at a time, their weight rows are split into halfword pairs once
//! and [`dsp_loops::dot_pairs_2x2`] runs every pixel pair of the chunk (no
//! unpacking in the inner loop: 2 LDM and 8 SMLAD per 16 MACs), handing the
//! sums to a [`Sink`] or, for int8 outputs in the short requantization form,
//! requantizing and storing them itself. A filter row longer than
//! [`MAX_ROW`] is cut into its kernel rows: one dot-product pass per
//! segment, the sums added (no fused output stage). A 1x1 convolution
//! expands int8 input a word at a time, 4- and 2-bit codes a word or byte at
//! a time; an int8 receptive field inside the input whose kernel rows are
//! whole words is expanded a word at a time straight from those rows, one
//! crossing the border is staged as bytes first (a row longer than
//! [`MAX_ROW`] gathered value by value). Offset values must
//! fit an `i16` ([`crate::view::offset_values_fit_lane`]).

use super::dsp_loops::{self, PairSums};
use super::params::{is_pointwise, Conv2dParams};
use crate::dsp;
use crate::geometry::Rect;
use crate::view::{Codes, Outlier, Requant, ShortRequant, TapRange, Window, WindowMut};

/// Longest row segment [`dsp_loops::dot_pairs_2x2`] takes: a filter row
/// `kh * kw * ic` up to this long is one segment, a longer one is cut into
/// its `kh` kernel rows (`kw * ic` each), whose dot products are summed.
pub const MAX_ROW: usize = 4 * dsp_loops::MAX_GROUPS;

/// Words of the stack buffer holding the split weight rows of one segment
/// (`4 * ceil(segment / 4)` words) and the expanded pixel pairs (4 KiB: at
/// least three pairs of a 256-value row, one of a 576-value row; measured
/// on the MCU, 6x6x128 1x1 convolutions need 0.91 / 0.85 instructions per
/// MAC with 4 / 5 KiB).
const BUF_WORDS: usize = 1024;

/// Most output pixels per chunk (the weight rows are split once per channel
/// pair and chunk).
pub const CHUNK: usize = 32;

/// Where the halfword pairs of a chunk's receptive fields live in the pixel
/// buffer: each row cut into `segs` segments of `seg` positions, `sw` groups
/// of 4 each (the last zero-padded), segment `s` of pixel pair `q` at words
/// `(s * cpairs + q) * 4 * sw..` (one segment's pairs adjacent, as
/// [`dsp_loops::dot_pairs_2x2`] reads them).
#[derive(Clone, Copy)]
struct Layout {
    seg: usize,
    segs: usize,
    sw: usize,
    cpairs: usize,
}

impl Layout {
    /// The segments of `p`'s filter rows (no pairs yet).
    fn new(p: &Conv2dParams) -> Self {
        let g = &p.geometry;
        let k = g.kernel[0] * g.kernel[1] * g.input[2];
        let seg = if k <= MAX_ROW { k } else { g.kernel[1] * g.input[2] };
        Layout {
            seg,
            segs: k / seg.max(1),
            sw: seg.div_ceil(4),
            cpairs: 0,
        }
    }

    /// Words of one segment of one pixel pair (and of one segment of two
    /// split weight rows).
    fn pw(&self) -> usize {
        4 * self.sw
    }

    /// First word of segment `s` of pixel pair `q`.
    fn base(&self, q: usize, s: usize) -> usize {
        (s * self.cpairs + q) * self.pw()
    }
}

/// True when [`conv2d_dsp`] computes this convolution on an input of `bits`
/// bits: one group, filter rows in segments of at most [`MAX_ROW`] values, the stack buffer holding one segment's weights
/// and one pixel pair, offset values fitting a halfword.
pub fn is_dsp_conv(p: &Conv2dParams, bits: u32) -> bool {
    let g = &p.geometry;
    let row = g.kernel[0] * g.kernel[1] * g.input[2];
    let l = Layout::new(p);
    row > 0
        && l.seg <= MAX_ROW
        && l.seg * l.segs == row
        && (1 + l.segs) * l.pw() <= BUF_WORDS
        && p.filter.len() == row * g.output[2]
        && crate::view::offset_values_fit_lane(p.input_offset, bits)
}

/// The consumer of [`conv2d_dsp`]'s accumulators; any `FnMut` with
/// [`Sink::emit`]'s signature is one.
pub trait Sink {
    /// Takes `(o, at, [acc_o, acc_o+1])`, `acc_c[i]` belonging to channel `c`
    /// of the pixel at element index `at[i]`; `acc_o+1` is empty when `o` is
    /// the last channel. An `Err` stops the kernel.
    fn emit(&mut self, o: usize, at: &[usize], acc: [&[i32]; 2]) -> Result<(), Outlier>;

    /// An int8 output map and the requantizations of channels `o` and `o1`
    /// when the kernel may write those channels itself: element `at + c` of
    /// the map is `ssat::<8>(q_c.scaled(acc))`; `None` (the default) sends
    /// the accumulators to [`Sink::emit`].
    fn int8(&mut self, _o: usize, _o1: usize) -> Option<(&mut [i8], [ShortRequant; 2])> {
        None
    }
}

impl<F: FnMut(usize, &[usize], [&[i32]; 2]) -> Result<(), Outlier>> Sink for F {
    fn emit(&mut self, o: usize, at: &[usize], acc: [&[i32]; 2]) -> Result<(), Outlier> {
        self(o, at, acc)
    }
}

/// Computes `acc` for every output pixel of `out` and output channel and
/// hands them to `sink` two channels and up to [`CHUNK`] pixels at a time in
/// raster order ([`Sink::int8`], else [`Sink::emit`]), stopping at the first
/// `Err`. `x` must hold `p.geometry.input_rect(&out)`; `p` must satisfy
/// [`is_dsp_conv`]. Not inlined and `sink` dynamic (called once per channel
/// pair and chunk): one copy of the kernel serves every output width.
///
/// # Panics
///
/// Panics if `x` lacks pixels the output rect reads or the filter/bias are
/// shorter than the shapes say.
#[inline(never)]
pub fn conv2d_dsp(p: &Conv2dParams, x: Codes, out: Rect, sink: &mut dyn Sink) -> Result<(), Outlier> {
    let g = &p.geometry;
    let oc = g.output[2];
    let k = g.kernel[0] * g.kernel[1] * g.input[2];
    let pointwise = is_pointwise(g);
    let mut lay = Layout::new(p);
    let pw = lay.pw();
    let mut buf = [0u32; BUF_WORDS];
    let (wp, pixels) = buf.split_at_mut(pw);
    let area = out.area();
    if area == 0 {
        return Ok(());
    }
    // Equal chunks (even sizes) rather than full ones and a short rest.
    let most = (2 * (pixels.len() / (lay.segs * pw))).min(CHUNK);
    let chunk = area.div_ceil(area.div_ceil(most)).next_multiple_of(2).min(most);
    lay.cpairs = chunk / 2;
    // An int8 receptive field crossing the border is staged as bytes
    // (padding taps as the zero point, whose offset value is 0), then
    // expanded a word at a time; one inside the input is expanded straight
    // from its kernel rows. Positions past a segment meet zero weights.
    let int8_zero = i8::try_from(-p.input_offset).ok().filter(|_| x.bits >= 8 && !pointwise);
    let mut raw = [int8_zero.unwrap_or(0); MAX_ROW];
    let direct = (g.kernel[1] * g.input[2]).is_multiple_of(4);
    let mut acc = [[0i32; CHUNK]; 2];
    let mut part = [[0i32; CHUNK]; 2];
    let mut i = 0;
    while i < area {
        let n = (area - i).min(chunk);
        let pairs = n.div_ceil(2);
        let mut at = [0usize; CHUNK];
        for (j, at) in at.iter_mut().enumerate().take(2 * pairs) {
            let e = i + j.min(n - 1);
            let (oy, ox) = (out.y + e / out.w, out.x + e % out.w);
            *at = out.offset(oy, ox, oc);
            let (q, side) = (j / 2, j % 2);
            if pointwise {
                let src = x.rect.offset(oy * g.stride[0], ox * g.stride[1], k);
                expand(&mut pixels[lay.base(q, 0)..][..pw], side, x, src, k, p.input_offset);
            } else if let Some(zero) = int8_zero {
                if !(direct && expand_inside(pixels, &lay, q, side, x, p, oy, ox)) {
                    if lay.segs == 1 {
                        stage(&mut raw[..k], x, p, oy, ox, zero);
                        let field = Codes { data: &raw[..pw], ..x };
                        expand(&mut pixels[lay.base(q, 0)..][..pw], side, field, 0, pw, p.input_offset);
                    } else {
                        // A long row crossing the border: value by value.
                        gather(pixels, &lay, q, side, x, p, oy, ox);
                    }
                }
            } else {
                gather(pixels, &lay, q, side, x, p, oy, ox);
            }
        }
        let offsets = dsp_loops::Offsets::new(&at[..2 * pairs]);
        let mut o = 0;
        while o < oc {
            let o1 = (o + 1).min(oc - 1);
            let bias = [p.bias[o], p.bias[o1]];
            let fused = if lay.segs == 1 { sink.int8(o, o1) } else { None };
            let emit = fused.is_none();
            if lay.segs == 1 {
                split(wp, &p.filter[o * k..][..k], &p.filter[o1 * k..][..k]);
                let out = match fused {
                    Some((y, q)) => PairSums::Int8 {
                        y,
                        at: offsets,
                        base: [o, o1],
                        q,
                    },
                    None => {
                        let [acc0, acc1] = &mut acc;
                        PairSums::Raw([&mut acc0[..], &mut acc1[..]])
                    }
                };
                dsp_loops::dot_pairs_2x2(&pixels[..pairs * pw], wp, lay.sw, pairs, bias, out);
            } else {
                segment_sums(p, &lay, wp, pixels, pairs, [o, o1], &mut acc, &mut part);
            }
            if emit {
                let second: &[i32] = if o1 > o { &acc[1][..n] } else { &[] };
                sink.emit(o, &at[..n], [&acc[0][..n], second])?;
            }
            o += 2;
        }
        i += n;
    }
    Ok(())
}

/// The sums of channels `o` (`acc[0]`) and `o[1]` (`acc[1]`) for a chunk's
/// `pairs` pixel pairs over every segment of their rows: one
/// [`dsp_loops::dot_pairs_2x2`] pass per segment (the first with the biases,
/// the others into `part`, then added, wrapping).
#[allow(clippy::too_many_arguments)]
fn segment_sums(
    p: &Conv2dParams,
    lay: &Layout,
    wp: &mut [u32],
    pixels: &[u32],
    pairs: usize,
    o: [usize; 2],
    acc: &mut [[i32; CHUNK]; 2],
    part: &mut [[i32; CHUNK]; 2],
) {
    let k = lay.seg * lay.segs;
    for s in 0..lay.segs {
        let row = |c: usize| &p.filter[c * k + s * lay.seg..][..lay.seg];
        split(wp, row(o[0]), row(o[1]));
        let xs = &pixels[lay.base(0, s)..][..pairs * lay.pw()];
        let (sums, bias) = if s == 0 {
            (&mut *acc, [p.bias[o[0]], p.bias[o[1]]])
        } else {
            (&mut *part, [0, 0])
        };
        let [s0, s1] = sums;
        dsp_loops::dot_pairs_2x2(xs, wp, lay.sw, pairs, bias, PairSums::Raw([&mut s0[..], &mut s1[..]]));
        if s > 0 {
            for (acc, part) in acc.iter_mut().zip(&*part) {
                for (a, &v) in acc[..2 * pairs].iter_mut().zip(part) {
                    *a = a.wrapping_add(v);
                }
            }
        }
    }
}

/// Splits weight rows `a` and `b` (equal lengths) into `wp`'s halfword pairs,
/// per group of 4 positions `[a (p, p+2), a (p+1, p+3), b (p, p+2), b (p+1,
/// p+3)]`, positions past the rows 0.
#[inline(always)]
fn split(wp: &mut [u32], a: &[i8], b: &[i8]) {
    let full = a.len() / 4;
    dsp_loops::split_pairs(a, b, wp, full);
    if full * 4 < a.len() {
        // The last positions, zero-padded to a word.
        let tail = |r: &[i8]| {
            let mut t = [0i8; 4];
            t[..r.len() - 4 * full].copy_from_slice(&r[4 * full..]);
            t
        };
        dsp_loops::split_pairs(&tail(a), &tail(b), &mut wp[4 * full..], 1);
    }
}

/// Copies the int8 receptive field of output pixel `(oy, ox)` into `raw`
/// (filter-row order), padding taps as `zero`.
fn stage(raw: &mut [i8], x: Codes, p: &Conv2dParams, oy: usize, ox: usize, zero: i8) {
    let g = &p.geometry;
    let ic = g.input[2];
    let [kh, kw] = g.kernel;
    let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
    let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
    if ry.full(kh) && rx.full(kw) && rx.step == 1 {
        // Inside the input (most pixels): one copy per kernel row.
        let top = x.rect.offset(ry.at(0), rx.at(0), ic);
        dsp_loops::copy_rows(raw, &x.data[top..], kw * ic, ry.step * x.rect.w * ic);
        return;
    }
    for (ky, row) in raw.chunks_exact_mut(kw * ic).enumerate() {
        if !(ry.lo..ry.hi).contains(&ky) || rx.lo == rx.hi {
            row.fill(zero);
            continue;
        }
        row[..rx.lo * ic].fill(zero);
        row[rx.hi * ic..].fill(zero);
        let iy = ry.at(ky);
        if rx.step == 1 {
            // The taps inside are adjacent input pixels: one copy.
            let src = x.rect.offset(iy, rx.at(rx.lo), ic);
            let n = (rx.hi - rx.lo) * ic;
            row[rx.lo * ic..rx.hi * ic].copy_from_slice(&x.data[src..src + n]);
        } else {
            for kx in rx.lo..rx.hi {
                let src = x.rect.offset(iy, rx.at(kx), ic);
                row[kx * ic..][..ic].copy_from_slice(&x.data[src..src + ic]);
            }
        }
    }
}

/// Expands the int8 receptive field of output pixel `(oy, ox)` straight
/// from the input into side `j` (0 = A, 1 = B) of pixel pair `q` when every
/// tap lies inside; false (nothing written) otherwise. Each kernel row
/// (`kw * ic` adjacent values) must be whole groups.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn expand_inside(
    pixels: &mut [u32],
    lay: &Layout,
    q: usize,
    j: usize,
    x: Codes,
    p: &Conv2dParams,
    oy: usize,
    ox: usize,
) -> bool {
    let g = &p.geometry;
    let ic = g.input[2];
    let [kh, kw] = g.kernel;
    let n = kw * ic;
    let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
    let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
    if !(ry.full(kh) && rx.full(kw) && rx.step == 1) {
        return false;
    }
    for ky in 0..kh {
        let (s, l) = (ky * n / lay.seg, ky * n % lay.seg);
        let src = x.rect.offset(ry.at(ky), rx.at(0), ic);
        expand(&mut pixels[lay.base(q, s) + l..][..n], j, x, src, n, p.input_offset);
    }
    true
}

/// Writes side `j`'s (0 = A, 1 = B) receptive field for output pixel
/// `(oy, ox)` into pixel pair `q`'s segments: each kernel row's taps inside
/// the input as offset values, 0 for padding taps.
#[allow(clippy::too_many_arguments)]
fn gather(pixels: &mut [u32], lay: &Layout, q: usize, j: usize, x: Codes, p: &Conv2dParams, oy: usize, ox: usize) {
    let g = &p.geometry;
    let ic = g.input[2];
    let [kh, kw] = g.kernel;
    let pw = lay.pw();
    for s in 0..lay.segs {
        for w in pixels[lay.base(q, s)..][..pw].chunks_exact_mut(4) {
            w[2 * j] = 0;
            w[2 * j + 1] = 0;
        }
    }
    let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
    let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
    for ky in ry.lo..ry.hi {
        for kx in rx.lo..rx.hi {
            let src = x.rect.offset(ry.at(ky), rx.at(kx), ic);
            let at = (ky * kw + kx) * ic;
            x.for_each(src, ic, |c, v| {
                let (s, l) = ((at + c) / lay.seg, (at + c) % lay.seg);
                set(&mut pixels[lay.base(q, s)..][..pw], j, l, v + p.input_offset);
            });
        }
    }
}

/// Sets row position `at` of pixel `j`'s pairs to `v` (the halfword was 0).
#[inline(always)]
fn set(xp: &mut [u32], j: usize, at: usize, v: i32) {
    let q = &mut xp[4 * (at / 4) + 2 * j + at % 2];
    let v = v as u32 & 0xffff;
    *q |= if at % 4 < 2 { v } else { v << 16 };
}

/// Writes pixel `k`'s (0 = A, 1 = B) `ic` offset values from element `src`
/// of `x` into its pairs of `xp`; channels past `ic` in the last word are 0.
#[inline(always)]
fn expand(xp: &mut [u32], k: usize, x: Codes, src: usize, ic: usize, offset: i32) {
    let off = dsp::pair(offset, offset);
    if x.bits >= 8 {
        // Four int8 values per word: SXTAB16 splits and offsets them.
        let bytes = &x.data[src..][..ic];
        for (q, v) in xp.chunks_exact_mut(4).zip(bytes.chunks_exact(4)) {
            let v = dsp::load_u32(v, 0);
            q[2 * k] = dsp::sxtab16(off, v);
            q[2 * k + 1] = dsp::sxtab16_ror8(off, v);
        }
        let rest = &bytes[4 * (ic / 4)..];
        if !rest.is_empty() {
            let q = &mut xp[4 * (ic / 4)..];
            let mut v = [0i32; 4];
            for (d, &s) in v.iter_mut().zip(rest) {
                *d = i32::from(s) + offset;
            }
            q[2 * k] = dsp::pair(v[0], v[2]);
            q[2 * k + 1] = dsp::pair(v[1], v[3]);
        }
        return;
    }
    if x.bits == 4 && ic.is_multiple_of(8) {
        // Eight codes per word: nibble masks, then each group's pairs moved
        // to bytes 0 and 2 for UXTAB16.
        let bytes = &x.data[src / 2..][..ic / 2];
        let spread = |t: u32| dsp::uxtab16(off, t | (t << 8));
        for (g, q) in xp.chunks_exact_mut(8).enumerate() {
            let v = dsp::load_u32(bytes, 4 * g);
            let (e, o) = (v & 0x0f0f_0f0f, (v >> 4) & 0x0f0f_0f0f);
            q[2 * k] = spread(e & 0xffff);
            q[2 * k + 1] = spread(o & 0xffff);
            q[4 + 2 * k] = spread(e >> 16);
            q[4 + 2 * k + 1] = spread(o >> 16);
        }
        return;
    }
    if x.bits == 2 && ic.is_multiple_of(4) {
        // Four codes per byte: codes 0 and 2 (1 and 3) moved to bytes 0 and 2.
        let bytes = &x.data[src / 4..][..ic / 4];
        for (q, &b) in xp.chunks_exact_mut(4).zip(bytes) {
            let b = u32::from(b as u8);
            q[2 * k] = dsp::uxtab16(off, (b & 0x03) | ((b & 0x30) << 12));
            q[2 * k + 1] = dsp::uxtab16(off, ((b >> 2) & 0x03) | ((b & 0xc0) << 10));
        }
        return;
    }
    for q in xp.chunks_exact_mut(4) {
        q[2 * k] = 0;
        q[2 * k + 1] = 0;
    }
    x.for_each(src, ic, |c, v| set(xp, k, c, v + offset));
}

/// The int8 convolution through [`conv2d_dsp`] (the `dsp` feature's path;
/// equal to [`super::conv2d_portable`]): the output pixels of `y.rect` from
/// `x`, which must hold `p.geometry.input_rect(&y.rect)`; `p` must satisfy
/// [`is_dsp_conv`] at 8 bits. Not inlined: its stack buffer stays out of the callers' frames.
#[inline(never)]
pub fn conv2d_dsp_int8(p: &Conv2dParams, x: Window, y: WindowMut) {
    let codes = Codes {
        data: x.data,
        rect: x.rect,
        bits: 8,
    };
    let _ = conv2d_dsp(p, codes, y.rect, &mut Int8Sink { p, y: y.data });
}

/// [`conv2d_dsp_int8`]'s output: the kernel requantizes channels in the short form
/// with a whole int8 clamp itself, [`Sink::emit`] the others.
pub(super) struct Int8Sink<'a, 'p> {
    pub(super) p: &'a Conv2dParams<'p>,
    pub(super) y: &'a mut [i8],
}

impl Sink for Int8Sink<'_, '_> {
    fn emit(&mut self, o: usize, at: &[usize], acc: [&[i32]; 2]) -> Result<(), Outlier> {
        for (c, acc) in acc.into_iter().enumerate().filter(|(_, acc)| !acc.is_empty()) {
            let q = Requant::new(&self.p.output, o + c);
            let y = &mut self.y[o + c..];
            for (&at, &acc) in at.iter().zip(acc) {
                y[at] = q.value(acc) as i8;
            }
        }
        Ok(())
    }

    fn int8(&mut self, o: usize, o1: usize) -> Option<(&mut [i8], [ShortRequant; 2])> {
        let q = [
            Requant::new(&self.p.output, o).int8()?,
            Requant::new(&self.p.output, o1).int8()?,
        ];
        Some((&mut *self.y, q))
    }
}

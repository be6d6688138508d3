//! CONV_2D, int8, portable: the reference the other forms equal.
//!
//! Because wrapping integer arithmetic is a ring, the kernel may regroup the
//! accumulator's sum freely and stays bit-exact: pixels whose taps all lie
//! inside the input use `bias + input_offset * sum(w)` folded once per call
//! into the scratch buffer plus a plain `sum(x * w)` dot product. 1x1
//! convolutions without padding take `PIXELS` (4) output pixels at a time:
//! their input values are packed in pairs (`pixel_pairs`), so each
//! 32x32->64-bit multiply-accumulate adds two products and each loaded weight
//! feeds four; the exact per-pixel sums are split off the 64-bit
//! accumulators every 255 channels. Requantization uses `Requant`, the
//! output stage with its per-channel constants resolved.

use super::params::{is_pointwise, Conv2dParams};
use super::pixel_pairs::{dot_packed, pack_pair, PACK_CHANNELS, PIXELS};
use crate::view::{Requant, TapRange, Window, WindowMut};

/// Shape constants derived from the parameters.
#[derive(Clone, Copy)]
struct Dims {
    ic: usize,
    oc: usize,
    kh: usize,
    kw: usize,
    /// Filter depth (input channels per group).
    fc: usize,
    groups: usize,
    /// Output channels per group.
    opg: usize,
    /// Filter row length `kh * kw * fc`.
    k: usize,
}

impl Dims {
    fn new(p: &Conv2dParams) -> Option<Self> {
        let g = &p.geometry;
        let [_, _, ic] = g.input;
        let oc = g.output[2];
        let [kh, kw] = g.kernel;
        let taps = oc * kh * kw;
        if taps == 0 || ic == 0 {
            return None;
        }
        let fc = p.filter.len() / taps;
        if fc == 0 {
            return None;
        }
        let groups = ic / fc;
        if groups == 0 || groups * fc != ic || oc / groups * groups != oc {
            return None;
        }
        Some(Dims {
            ic,
            oc,
            kh,
            kw,
            fc,
            groups,
            opg: oc / groups,
            k: kh * kw * fc,
        })
    }
}

/// Number of `i32` words of scratch [`conv2d_portable`] uses: one folded bias per
/// output channel. With less scratch the kernel still computes the same
/// result, only without the folded-bias fast paths.
pub fn conv2d_scratch_len(p: &Conv2dParams) -> usize {
    p.geometry.output[2]
}

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)` (map coordinates; `x.rect`
/// may be larger), in portable code: the reference the DSP form is checked
/// against (on the host and on the target). `scratch` should hold
/// [`conv2d_scratch_len`] words. Not inlined: its stack buffers stay out of
/// the dispatching caller's frame.
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads, `y.data` is
/// shorter than `y.rect`, or the filter/bias are shorter than the shapes say.
#[inline(never)]
pub fn conv2d_portable(p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
    conv2d_with(&Scalar, p, x, y, scratch)
}

/// The dot products of the general path: four rows or one row against one
/// run of input, each `sum(x * w)` in wrapping int32 (any regrouping of the
/// sum is exact). [`Scalar`] is the portable form; other forms supply SIMD
/// ones.
pub(super) trait Dots {
    /// True when 1x1 convolutions take the packed-pair `pointwise` path
    /// (tuned for 32-bit cores) rather than the general one.
    const PACKED_POINTWISE: bool;
    /// `dot(x, rows[j])` for each row (each at least `x.len()` long).
    fn rows4(&self, x: &[i8], rows: [&[i8]; 4]) -> [i32; 4];
    /// `dot(x, w)` (`w` at least `x.len()` long).
    fn one(&self, x: &[i8], w: &[i8]) -> i32;
}

/// The portable dot products.
pub(super) struct Scalar;

impl Dots for Scalar {
    const PACKED_POINTWISE: bool = true;
    #[inline(always)]
    fn rows4(&self, x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
        dot_rows4(x, rows)
    }
    #[inline(always)]
    fn one(&self, x: &[i8], w: &[i8]) -> i32 {
        dot(x, w)
    }
}

/// [`conv2d_portable`] with the general path's dot products from `k`.
#[inline(always)]
pub(super) fn conv2d_with<K: Dots>(k: &K, p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
    let Some(d) = Dims::new(p) else {
        return;
    };
    if y.rect.area() == 0 {
        return;
    }
    let folded = if scratch.len() >= d.oc {
        let folded = &mut scratch[..d.oc];
        for (o, (f, w)) in folded.iter_mut().zip(p.filter.chunks_exact(d.k)).enumerate() {
            let wsum = w.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)));
            *f = p.bias[o].wrapping_add(p.input_offset.wrapping_mul(wsum));
        }
        Some(&*folded)
    } else {
        None
    };
    match folded {
        Some(folded) if K::PACKED_POINTWISE && is_pointwise(&p.geometry) && d.ic <= PACK_CHANNELS => {
            pointwise(p, &d, x, y, folded)
        }
        _ => general(k, p, &d, x, y, folded),
    }
}

/// 1x1, unpadded: the output rect's pixels in raster order, [`PIXELS`] at a
/// time (a last short group repeats its last pixel), packed in pairs once per
/// group, times one filter row at a time.
#[inline(always)]
fn pointwise(p: &Conv2dParams, d: &Dims, x: Window, y: WindowMut, folded: &[i32]) {
    let g = &p.geometry;
    let (ic, oc, fc) = (d.ic, d.oc, d.fc);
    let mut buf = [0i32; 2 * PACK_CHANNELS];
    let xp = &mut buf[..2 * ic];
    let r = y.rect;
    let area = r.area();
    let mut i = 0;
    while i < area {
        let n = (area - i).min(PIXELS);
        let mut at = [0usize; PIXELS];
        let mut src = [0usize; PIXELS];
        for k in 0..PIXELS {
            let j = i + k.min(n - 1);
            let (oy, ox) = (r.y + j / r.w, r.x + j % r.w);
            at[k] = r.offset(oy, ox, oc);
            src[k] = x.rect.offset(oy * g.stride[0], ox * g.stride[1], ic);
        }
        let px = |k: usize| &x.data[src[k]..][..ic];
        let (a, b, c, e) = (px(0), px(1), px(2), px(3));
        for (xx, ((&a, &b), (&c, &e))) in xp.chunks_exact_mut(2).zip(a.iter().zip(b).zip(c.iter().zip(e))) {
            xx[0] = pack_pair(a.into(), b.into());
            xx[1] = pack_pair(c.into(), e.into());
        }
        for grp in 0..d.groups {
            let xg = &xp[2 * grp * fc..][..2 * fc];
            let mut o = grp * d.opg;
            let o_end = o + d.opg;
            // One filter row at a time: with two rows' accumulators (8
            // registers) plus pointers the loop spills on Cortex-M4.
            while o < o_end {
                let s = dot_packed(xg, &p.filter[o * fc..][..fc]);
                let q = Requant::new(&p.output, o);
                let f = folded[o];
                for (&at, &s) in at.iter().zip(&s).take(n) {
                    y.data[at + o] = q.value(f.wrapping_add(s)) as i8;
                }
                o += 1;
            }
        }
        i += n;
    }
}

/// Any geometry: per pixel, blocks of 4 output channels over the valid taps.
/// Interior pixels start from the folded bias; border pixels (or all pixels
/// without scratch) add `input_offset` times the sum of the valid weights.
#[inline(always)]
fn general<K: Dots>(k: &K, p: &Conv2dParams, d: &Dims, x: Window, y: WindowMut, folded: Option<&[i32]>) {
    let g = &p.geometry;
    let (ic, oc, fc, kw) = (d.ic, d.oc, d.fc, d.kw);
    // With one group and unit horizontal dilation a kernel row reads one
    // contiguous run of input, matching one contiguous run of the filter.
    let rows_contiguous = d.groups == 1 && g.dilation[1] <= 1;
    for oy in y.rect.y..y.rect.y + y.rect.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], d.kh, g.input[0]);
        for ox in y.rect.x..y.rect.x + y.rect.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
            let base = if ry.full(d.kh) && rx.full(kw) { folded } else { None };
            let need_wsum = base.is_none();
            let out_at = y.rect.offset(oy, ox, oc);
            let out = &mut y.data[out_at..out_at + oc];
            for grp in 0..d.groups {
                let mut o = grp * d.opg;
                let o_end = o + d.opg;
                while o < o_end {
                    let n = (o_end - o).min(4);
                    let w = &p.filter[o * d.k..(o + n) * d.k];
                    let mut acc = [0i32; 4];
                    let mut wsum = [0i32; 4];
                    for ky in ry.lo..ry.hi {
                        let iy = ry.at(ky);
                        if rows_contiguous {
                            if rx.hi == rx.lo {
                                continue; // The row's taps all fall in the padding.
                            }
                            let len = (rx.hi - rx.lo) * ic;
                            let xs = &x.data[x.rect.offset(iy, rx.at(rx.lo), ic)..][..len];
                            let w_at = (ky * kw + rx.lo) * fc;
                            accumulate(k, xs, w, d.k, w_at, n, &mut acc, need_wsum.then_some(&mut wsum));
                        } else {
                            for kx in rx.lo..rx.hi {
                                let xs = &x.data[x.rect.offset(iy, rx.at(kx), ic) + grp * fc..][..fc];
                                let w_at = (ky * kw + kx) * fc;
                                accumulate(k, xs, w, d.k, w_at, n, &mut acc, need_wsum.then_some(&mut wsum));
                            }
                        }
                    }
                    for j in 0..n {
                        let start = match base {
                            Some(f) => f[o + j],
                            None => p.bias[o + j].wrapping_add(p.input_offset.wrapping_mul(wsum[j])),
                        };
                        out[o + j] = Requant::new(&p.output, o + j).value(start.wrapping_add(acc[j])) as i8;
                    }
                    o += n;
                }
            }
        }
    }
}

/// Adds `dot(xs, w_j[w_at..])` for the `n <= 4` filter rows `w_j` (each `k`
/// long) of `w` to `acc[j]`, and the sums of those weights to `wsum` if given.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn accumulate<K: Dots>(
    dots: &K,
    xs: &[i8],
    w: &[i8],
    k: usize,
    w_at: usize,
    n: usize,
    acc: &mut [i32; 4],
    wsum: Option<&mut [i32; 4]>,
) {
    let len = xs.len();
    if n == 4 {
        let rows = [
            &w[w_at..][..len],
            &w[k + w_at..][..len],
            &w[2 * k + w_at..][..len],
            &w[3 * k + w_at..][..len],
        ];
        let r = dots.rows4(xs, rows);
        for j in 0..4 {
            acc[j] = acc[j].wrapping_add(r[j]);
        }
    } else {
        for (j, a) in acc.iter_mut().enumerate().take(n) {
            *a = a.wrapping_add(dots.one(xs, &w[j * k + w_at..][..len]));
        }
    }
    if let Some(ws) = wsum {
        for (j, s) in ws.iter_mut().enumerate().take(n) {
            let row = &w[j * k + w_at..][..len];
            *s = row.iter().fold(*s, |s, &v| s.wrapping_add(i32::from(v)));
        }
    }
}

/// `sum(x * w)` in wrapping int32.
#[inline]
fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .fold(0i32, |acc, (&a, &b)| acc.wrapping_add(i32::from(a) * i32::from(b)))
}

/// Four dot products of `x` with four equally long rows.
#[inline(always)]
fn dot_rows4(x: &[i8], rows: [&[i8]; 4]) -> [i32; 4] {
    let n = x.len();
    let (w0, w1, w2, w3) = (&rows[0][..n], &rows[1][..n], &rows[2][..n], &rows[3][..n]);
    let mut acc = [0i32; 4];
    for i in 0..n {
        let v = i32::from(x[i]);
        acc[0] = acc[0].wrapping_add(v * i32::from(w0[i]));
        acc[1] = acc[1].wrapping_add(v * i32::from(w1[i]));
        acc[2] = acc[2].wrapping_add(v * i32::from(w2[i]));
        acc[3] = acc[3].wrapping_add(v * i32::from(w3[i]));
    }
    acc
}

//! CONV_2D, int8 activations, int8 per-channel weights, int32 bias, bit-exact
//! with tflite-micro's reference `ConvPerChannel` (grouped convolutions
//! included).
//!
//! For output channel `o` of group `g` the int32 accumulator is
//! `bias[o] + sum((x + input_offset) * w)` over the taps inside the input
//! (padding taps contribute nothing, i.e. the border holds the input zero
//! point), evaluated in wrapping 32-bit arithmetic like the C kernel; it is
//! then requantized by [`OutputStage::apply`] (TFLite double rounding).
//!
//! Because wrapping integer arithmetic is a ring, the kernel may regroup that
//! sum freely and stays bit-exact: pixels whose taps all lie inside the input
//! use `bias + input_offset * sum(w)` folded once per call into the scratch
//! buffer plus a plain `sum(x * w)` dot product. 1x1 convolutions without
//! padding take `PIXELS` (4) output pixels at a time: their input values are
//! packed in pairs (`a + b * 2^23`, one `i32` per channel and pair), so each
//! 32x32->64-bit multiply-accumulate (SMLAL on a Cortex-M4) adds two products
//! and each loaded weight feeds four; the exact per-pixel sums are split off
//! the 64-bit accumulators every 255 channels. Requantization uses
//! `Requant`, the output stage with its per-channel constants resolved.
//!
//! With the crate feature `dsp`, [`conv2d`] runs one-group convolutions
//! through [`super::conv2d_smlad`] instead; [`conv2d_portable`] is always
//! the code above.

use super::conv2d_smlad::{conv2d_smlad, is_smlad_conv, Sink};
use crate::dsp::ShortRequant;
use crate::geometry::Geometry;
use crate::view::{Codes, Outlier, OutputStage, Requant, TapRange, Window, WindowMut};

/// Constants of one convolution.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dParams<'a> {
    /// Full input and output maps, kernel, stride, dilation, padding.
    pub geometry: Geometry,
    /// Minus the input zero point.
    pub input_offset: i32,
    /// `[out_c][kh][kw][in_c / groups]`.
    pub filter: &'a [i8],
    /// `[out_c]`.
    pub bias: &'a [i32],
    /// Requantization to the int8 output (per output channel or per tensor).
    pub output: OutputStage<'a>,
}

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

/// Number of `i32` words of scratch [`conv2d`] uses: one folded bias per
/// output channel. With less scratch the kernel still computes the same
/// result, only without the folded-bias fast paths.
pub fn conv2d_scratch_len(p: &Conv2dParams) -> usize {
    p.geometry.output[2]
}

/// True when every output pixel reads exactly one input pixel (1x1 kernel, no
/// padding, the strided grid inside the input).
pub(crate) fn is_pointwise(g: &Geometry) -> bool {
    let inside = |a: usize| g.output[a] == 0 || (g.output[a] - 1) * g.stride[a] < g.input[a];
    g.kernel == [1, 1] && g.pad == [0, 0] && inside(0) && inside(1)
}

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)` (map coordinates; `x.rect`
/// may be larger). `scratch` should hold [`conv2d_scratch_len`] words.
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads, `y.data` is
/// shorter than `y.rect`, or the filter/bias are shorter than the shapes say.
pub fn conv2d(p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
    if cfg!(feature = "dsp") && is_smlad_conv(p, 8) {
        return smlad(p, x, y);
    }
    conv2d_portable(p, x, y, scratch)
}

/// [`conv2d`] without the `dsp` feature's SMLAD forms: the reference those
/// are checked against (on the host and on the target). Not inlined: its
/// stack buffers stay out of the dispatching caller's frame.
#[inline(never)]
pub fn conv2d_portable(p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
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
        Some(folded) if is_pointwise(&p.geometry) && d.ic <= PACK_CHANNELS => pointwise(p, &d, x, y, folded),
        _ => general(p, &d, x, y, folded),
    }
}

/// The convolution through [`conv2d_smlad`] (the `dsp` feature's path;
/// equal to [`conv2d_portable`]); `p` must satisfy [`is_smlad_conv`] at 8
/// bits. Not inlined: its stack buffer stays out of the callers' frames.
#[inline(never)]
pub fn smlad(p: &Conv2dParams, x: Window, y: WindowMut) {
    let codes = Codes {
        data: x.data,
        rect: x.rect,
        bits: 8,
    };
    let _ = conv2d_smlad(p, codes, y.rect, &mut Int8Sink { p, y: y.data });
}

/// [`smlad`]'s output: the kernel requantizes channels in the short form
/// with a whole int8 clamp itself, [`Sink::emit`] the others.
struct Int8Sink<'a, 'p> {
    p: &'a Conv2dParams<'p>,
    y: &'a mut [i8],
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

/// 1x1, unpadded: the output rect's pixels in raster order, [`PIXELS`] at a
/// time (a last short group repeats its last pixel), packed in pairs once per
/// group, times one filter row at a time.
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
fn general(p: &Conv2dParams, d: &Dims, x: Window, y: WindowMut, folded: Option<&[i32]>) {
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
                            accumulate(xs, w, d.k, w_at, n, &mut acc, need_wsum.then_some(&mut wsum));
                        } else {
                            for kx in rx.lo..rx.hi {
                                let xs = &x.data[x.rect.offset(iy, rx.at(kx), ic) + grp * fc..][..fc];
                                let w_at = (ky * kw + kx) * fc;
                                accumulate(xs, w, d.k, w_at, n, &mut acc, need_wsum.then_some(&mut wsum));
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
#[inline]
fn accumulate(xs: &[i8], w: &[i8], k: usize, w_at: usize, n: usize, acc: &mut [i32; 4], wsum: Option<&mut [i32; 4]>) {
    let len = xs.len();
    if n == 4 {
        let rows = [
            &w[w_at..][..len],
            &w[k + w_at..][..len],
            &w[2 * k + w_at..][..len],
            &w[3 * k + w_at..][..len],
        ];
        let r = dot_rows4(xs, rows);
        for j in 0..4 {
            acc[j] = acc[j].wrapping_add(r[j]);
        }
    } else {
        for (j, a) in acc.iter_mut().enumerate().take(n) {
            *a = a.wrapping_add(dot(xs, &w[j * k + w_at..][..len]));
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

/// Output pixels packed per group of [`PIXELS`]: two pixels' channel values
/// share one `i32` (`a + b * 2^23`), so one 32x32->64 multiply-accumulate
/// (SMLAL on Cortex-M4) computes two products.
pub(crate) const PIXELS: usize = 4;

/// Largest filter depth of the packed fast path (`PIXELS / 2` words per
/// input channel on the stack: 2 KiB).
pub(crate) const PACK_CHANNELS: usize = 256;

/// Lane spacing of a packed pixel pair.
pub(crate) const LANE: u32 = 23;

/// Channels whose products one packed accumulator can sum exactly: with
/// `|v * w| <= 2^14` the low lane stays inside `[-2^22, 2^22)`.
const CHUNK: usize = 255;

/// Packs the value `v` (`|v| <= 128`) of the second pixel of a pair onto the
/// first's.
#[inline(always)]
pub(crate) fn pack_pair(a: i32, b: i32) -> i32 {
    a + (b << LANE)
}

/// Splits a packed pair accumulator into the two pixels' exact sums.
#[inline(always)]
fn unpack_pair(t: i64) -> [i32; 2] {
    let lo = ((t as i32) << (32 - LANE)) >> (32 - LANE);
    [lo, ((t - i64::from(lo)) >> LANE) as i32]
}

/// Dot products of the packed pixel pairs `xp` (`[channel][PIXELS / 2]`,
/// values `|v| <= 128`) with the filter row `w`: one sum per pixel (wrapping
/// `i32`).
#[inline(always)]
pub(crate) fn dot_packed(xp: &[i32], w: &[i8]) -> [i32; PIXELS] {
    let n = w.len();
    let xp = &xp[..n * 2];
    let mut out = [0i32; PIXELS];
    let mut c = 0;
    while c < n {
        let m = (n - c).min(CHUNK);
        let (mut ab, mut cd) = (0i64, 0i64);
        for (x, &u) in xp[2 * c..2 * (c + m)].chunks_exact(2).zip(&w[c..c + m]) {
            let u = i64::from(u);
            ab = ab.wrapping_add(i64::from(x[0]) * u);
            cd = cd.wrapping_add(i64::from(x[1]) * u);
        }
        let ([a, b], [e, f]) = (unpack_pair(ab), unpack_pair(cd));
        for (s, v) in out.iter_mut().zip([a, b, e, f]) {
            *s = s.wrapping_add(v);
        }
        c += m;
    }
    out
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::geometry::Rect;
    use crate::kernels::testutil::{bytes, clamp, geometry, grid, multipliers, requant, scales, spatial, tiled};

    /// One random convolution with its input.
    #[derive(Debug)]
    struct Case {
        g: Geometry,
        input_offset: i32,
        filter: Vec<i8>,
        bias: Vec<i32>,
        mult: Vec<i32>,
        shift: Vec<i32>,
        output_offset: i32,
        range: (i32, i32),
        x: Vec<i8>,
        grid: (Vec<u16>, Vec<u16>),
        scratch: bool,
    }

    impl Case {
        fn params(&self) -> Conv2dParams<'_> {
            Conv2dParams {
                geometry: self.g,
                input_offset: self.input_offset,
                filter: &self.filter,
                bias: &self.bias,
                output: OutputStage {
                    multiplier: &self.mult,
                    shift: &self.shift,
                    offset: self.output_offset,
                    min: self.range.0,
                    max: self.range.1,
                },
            }
        }

        fn scratch(&self) -> Vec<i32> {
            std::vec![0; if self.scratch { conv2d_scratch_len(&self.params()) } else { 0 }]
        }

        /// The kernel on the whole output map.
        fn full(&self) -> Vec<i8> {
            let [oh, ow, oc] = self.g.output;
            let mut y = std::vec![0i8; oh * ow * oc];
            let mut scratch = self.scratch();
            let x = Window {
                data: &self.x,
                rect: Rect::full(self.g.input[0], self.g.input[1]),
            };
            conv2d(
                &self.params(),
                x,
                WindowMut {
                    data: &mut y,
                    rect: Rect::full(oh, ow),
                },
                &mut scratch,
            );
            y
        }

        /// [`smlad`] on the whole output map.
        fn smlad(&self) -> Vec<i8> {
            let [oh, ow, oc] = self.g.output;
            let mut y = std::vec![0i8; oh * ow * oc];
            let x = Window {
                data: &self.x,
                rect: Rect::full(self.g.input[0], self.g.input[1]),
            };
            let y_rect = Rect::full(oh, ow);
            smlad(
                &self.params(),
                x,
                WindowMut {
                    data: &mut y,
                    rect: y_rect,
                },
            );
            y
        }

        fn tiled(&self) -> Vec<i8> {
            let p = self.params();
            let mut scratch = self.scratch();
            let [_, iw, ic] = self.g.input;
            let [oh, ow, oc] = self.g.output;
            tiled(
                [oh, ow],
                oc,
                &self.grid,
                &self.x,
                iw,
                ic,
                |r| self.g.input_rect(r),
                |x, y| conv2d(&p, x, y, &mut scratch),
            )
        }

        /// Naive reference: full-map loops, i64 accumulation.
        fn naive(&self) -> Vec<i8> {
            let g = &self.g;
            let [ih, iw, ic] = g.input;
            let [oh, ow, oc] = g.output;
            let [kh, kw] = g.kernel;
            let fc = self.filter.len() / (oc * kh * kw);
            let opg = oc / (ic / fc);
            let mut y = Vec::new();
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..oc {
                        let mut acc = i64::from(self.bias[o]);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * g.stride[0] + ky * g.dilation[0]) as i64 - g.pad[0] as i64;
                                let ix = (ox * g.stride[1] + kx * g.dilation[1]) as i64 - g.pad[1] as i64;
                                if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                    continue;
                                }
                                for c in 0..fc {
                                    let xv = self.x[(iy as usize * iw + ix as usize) * ic + (o / opg) * fc + c];
                                    let wv = self.filter[((o * kh + ky) * kw + kx) * fc + c];
                                    acc += (i64::from(xv) + i64::from(self.input_offset)) * i64::from(wv);
                                }
                            }
                        }
                        let (m, s) = if self.mult.len() == 1 {
                            (self.mult[0], self.shift[0])
                        } else {
                            (self.mult[o], self.shift[o])
                        };
                        y.push(requant(acc, m, s, self.output_offset, self.range.0, self.range.1));
                    }
                }
            }
            y
        }
    }

    /// Random convolutions: `spatial` geometry, `groups` x `fc` input
    /// channels, `groups` x `opg` output channels.
    fn case(
        spatial: impl Strategy<Value = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool)>,
        groups: impl Strategy<Value = usize>,
        fc: impl Strategy<Value = usize>,
        opg: impl Strategy<Value = usize>,
    ) -> impl Strategy<Value = Case> {
        (spatial, groups, fc, opg, any::<bool>()).prop_flat_map(|((hw, k, s, d, same), groups, fc, opg, per_tensor)| {
            let (ic, oc) = (groups * fc, groups * opg);
            let g = geometry([hw[0], hw[1], ic], oc, k, s, d, same);
            let nm = if per_tensor { 1 } else { oc };
            (
                Just(g),
                -127i32..=128,
                bytes(oc * k[0] * k[1] * fc),
                prop::collection::vec(-20000i32..20000, oc),
                scales(nm),
                -128i32..=127,
                clamp(),
                bytes(hw[0] * hw[1] * ic),
                grid(),
                prop_oneof![4 => Just(true), 1 => Just(false)],
            )
                .prop_map(
                    |(g, input_offset, filter, bias, sc, output_offset, range, x, grid, scratch)| {
                        let (mult, shift) = multipliers(&sc);
                        Case {
                            g,
                            input_offset,
                            filter,
                            bias,
                            mult,
                            shift,
                            output_offset,
                            range,
                            x,
                            grid,
                            scratch,
                        }
                    },
                )
        })
    }

    fn pointwise_spatial() -> impl Strategy<Value = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool)> {
        (
            [1usize..=7, 1usize..=7],
            prop_oneof![3 => Just(1usize), 1 => Just(2)],
            any::<bool>(),
        )
            .prop_map(|(hw, s, same)| (hw, [1, 1], [s, s], [1, 1], same))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn general_matches_naive_and_tiles(c in case(spatial(), 1usize..=3, 1usize..=4, 1usize..=6)) {
            let full = c.full();
            prop_assert_eq!(&full, &c.naive());
            prop_assert_eq!(&c.tiled(), &full);
        }

        #[test]
        fn pointwise_matches_naive_and_tiles(c in case(pointwise_spatial(), prop_oneof![3 => Just(1usize), 1 => 2usize..=3], 1usize..=24, 1usize..=19)) {
            prop_assert!(is_pointwise(&c.g));
            let full = c.full();
            prop_assert_eq!(&full, &c.naive());
            prop_assert_eq!(&c.tiled(), &full);
        }

        /// The SMLAD form (emulated instructions off `arm`) equals the
        /// reference on every one-group convolution it takes (any kernel,
        /// stride, dilation, padding; odd depths and pixel counts).
        #[test]
        fn smlad_matches_naive(c in case(spatial(), Just(1usize), 1usize..=6, 1usize..=9)) {
            prop_assume!(is_smlad_conv(&c.params(), 8));
            prop_assert_eq!(&c.smlad(), &c.naive());
        }

        #[test]
        fn smlad_pointwise_matches_naive(c in case(pointwise_spatial(), Just(1usize), 1usize..=37, 1usize..=9)) {
            prop_assert!(is_smlad_conv(&c.params(), 8));
            prop_assert_eq!(&c.smlad(), &c.naive());
        }

        #[test]
        fn dense_3x3_matches_naive_and_tiles(c in case(
            ([2usize..=9, 2usize..=9], 1usize..=2, any::<bool>()).prop_map(|(hw, s, same)| (hw, [3, 3], [s, s], [1, 1], same)),
            Just(1usize), 1usize..=9, 1usize..=9,
        )) {
            let full = c.full();
            prop_assert_eq!(&full, &c.naive());
            prop_assert_eq!(&c.tiled(), &full);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Deep 1x1 convolutions: the packed path's 255-channel chunks (and
        /// beyond [`PACK_CHANNELS`] the general path), extreme products.
        #[test]
        fn deep_pointwise_matches_naive(mut c in case(
            ([1usize..=3, 1usize..=5], Just(1usize)).prop_map(|(hw, s)| (hw, [1, 1], [s, s], [1, 1], false)),
            Just(1usize), 250usize..=300, 1usize..=3,
        ), extreme in any::<bool>()) {
            if extreme {
                c.x.fill(-128);
                c.filter.fill(-128);
            }
            let naive = c.naive();
            prop_assert_eq!(&c.full(), &naive);
            if is_smlad_conv(&c.params(), 8) {
                prop_assert_eq!(&c.smlad(), &naive);
            }
        }

    }

    #[test]
    fn larger_window_than_needed() {
        // x.rect larger than input_rect(y.rect): the kernel reads by map coordinates.
        let g = geometry([6, 6, 2], 3, [3, 3], [1, 1], [1, 1], true);
        let filter: Vec<i8> = (0..3 * 9 * 2).map(|i| (i * 7 % 23) as i8 - 11).collect();
        let x: Vec<i8> = (0..72).map(|i| (i * 13 % 251) as i8).collect();
        let c = Case {
            g,
            input_offset: 5,
            filter,
            bias: std::vec![1, -2, 3],
            mult: std::vec![1 << 30],
            shift: std::vec![-3],
            output_offset: -4,
            range: (-128, 127),
            x,
            grid: (Vec::new(), Vec::new()),
            scratch: true,
        };
        let full = c.full();
        let tile = Rect { y: 2, x: 1, h: 2, w: 3 };
        let mut y = std::vec![0i8; tile.area() * 3];
        let mut scratch = c.scratch();
        let xw = Window {
            data: &c.x,
            rect: Rect::full(6, 6),
        };
        conv2d(
            &c.params(),
            xw,
            WindowMut {
                data: &mut y,
                rect: tile,
            },
            &mut scratch,
        );
        for ty in 0..2 {
            assert_eq!(&y[ty * 9..(ty + 1) * 9], &full[((2 + ty) * 6 + 1) * 3..][..9]);
        }
    }
}

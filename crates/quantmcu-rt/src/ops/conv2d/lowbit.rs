//! CONV_2D (grouped included) over maps of any width: for output channel `o`
//! of group `g`, `acc = bias[o] + sum((v + input_offset) * w)` over the taps
//! inside the input (wrapping 32-bit arithmetic, padding taps contribute
//! nothing), then the map's clean check and the output stage. At 8 bits in
//! and out this is exactly [`super::conv2d`].

use super::dsp::{conv2d_dsp, is_dsp_conv};
use super::params::{is_pointwise, Conv2dParams};
use super::pixel_pairs::{dot_packed, LANE, PACK_CHANNELS, PIXELS};
use crate::dsp;
use crate::view::{bounds, emit, Clean, Codes, CodesMut, Outlier, Requant, TapRange};

/// Largest receptive field (taps x input channels) gathered on the stack.
const PATCH: usize = 1152;

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)`; stops at the first
/// accumulator outside `clean`.
///
/// # Panics
///
/// Panics if `x` lacks pixels the output rect reads or the filter/bias are
/// shorter than the shapes say.
pub fn conv2d_lowbit(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    if cfg!(feature = "dsp") && is_dsp_conv(p, x.bits) {
        return conv2d_lowbit_dsp(p, x, y, clean);
    }
    conv2d_lowbit_portable(p, x, y, clean)
}

/// True when every offset input value `v + input_offset` lies in `-128..=128`
/// (every width below 8 bits with its zero point among its codes).
fn offset_fits_byte(p: &Conv2dParams, bits: u32) -> bool {
    let (lo, hi) = crate::view::value_range(bits);
    (-128..=128).contains(&(lo + p.input_offset)) && (-128..=128).contains(&(hi + p.input_offset))
}

/// [`conv2d_lowbit`] without the `dsp` feature's DSP forms: the reference those
/// are checked against (on the host and on the target).
pub fn conv2d_lowbit_portable(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    let g = &p.geometry;
    let (ic, oc) = (g.input[2], g.output[2]);
    let [kh, kw] = g.kernel;
    let taps = oc * kh * kw;
    if taps == 0 || ic == 0 || p.filter.len() < taps {
        return Ok(());
    }
    let fc = p.filter.len() / taps;
    let groups = ic / fc;
    if groups == 0 {
        return Ok(());
    }
    // Offset values within +-128 pack in pairs: the int8 kernel's 1x1 loop.
    if offset_fits_byte(p, x.bits) && is_pointwise(g) && ic <= PACK_CHANNELS && groups * fc == ic {
        return pointwise(p, fc, groups, x, y, clean);
    }
    general(p, fc, groups, x, y, clean)
}

/// Any geometry: each output pixel's receptive field gathered into a stack
/// buffer, then one dot product per output channel. Not inlined, so its
/// buffer and [`pointwise`]'s are never on the stack together.
#[inline(never)]
fn general(
    p: &Conv2dParams,
    fc: usize,
    groups: usize,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let g = &p.geometry;
    let (ic, oc) = (g.input[2], g.output[2]);
    let [kh, kw] = g.kernel;
    let opg = oc / groups;
    let k = kh * kw * fc;
    // Each output pixel's receptive field, offset, gathered once (padding
    // taps as 0, which contributes nothing, as skipping them does) when it
    // fits the stack buffer; otherwise every weight reads its code.
    let mut patch = [0i32; PATCH];
    let gather = kh * kw * ic <= PATCH;
    for oy in y.rect.y..y.rect.y + y.rect.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
        for ox in y.rect.x..y.rect.x + y.rect.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
            let out_at = y.rect.offset(oy, ox, oc);
            if gather {
                patch[..kh * kw * ic].fill(0);
                for ky in ry.lo..ry.hi {
                    for kx in rx.lo..rx.hi {
                        let at = x.rect.offset(ry.at(ky), rx.at(kx), ic);
                        let dst = &mut patch[(ky * kw + kx) * ic..][..ic];
                        for (c, d) in dst.iter_mut().enumerate() {
                            *d = x.value(at + c).wrapping_add(p.input_offset);
                        }
                    }
                }
            }
            for o in 0..oc {
                let c0 = (o / opg) * fc;
                let mut acc = p.bias[o];
                let w_o = &p.filter[o * k..(o + 1) * k];
                if gather {
                    for (tap, w) in w_o.chunks_exact(fc).enumerate() {
                        let xs = &patch[tap * ic + c0..][..fc];
                        let dot = xs
                            .iter()
                            .zip(w)
                            .fold(0i32, |s, (&v, &wv)| s.wrapping_add(v.wrapping_mul(i32::from(wv))));
                        acc = acc.wrapping_add(dot);
                    }
                } else {
                    for ky in ry.lo..ry.hi {
                        for kx in rx.lo..rx.hi {
                            let at = x.rect.offset(ry.at(ky), rx.at(kx), ic) + c0;
                            let w = &w_o[(ky * kw + kx) * fc..][..fc];
                            for (c, &wv) in w.iter().enumerate() {
                                let v = x.value(at + c).wrapping_add(p.input_offset);
                                acc = acc.wrapping_add(v.wrapping_mul(i32::from(wv)));
                            }
                        }
                    }
                }
                emit(&mut y, out_at + o, acc, o, &p.output, clean.as_ref())?;
            }
        }
    }
    Ok(())
}

/// 1x1, unpadded, offset values within +-128: [`PIXELS`] output pixels at a
/// time (raster order; a short last group repeats its last pixel), their
/// offset input values read a byte at a time and packed in pairs once per
/// group, then one packed dot product per output channel.
// Not inlined: its 2 KiB buffer stays out of the callers' frames.
#[inline(never)]
fn pointwise(
    p: &Conv2dParams,
    fc: usize,
    groups: usize,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let g = &p.geometry;
    let (ic, oc) = (g.input[2], g.output[2]);
    let opg = oc / groups;
    let mut buf = [0i32; 2 * PACK_CHANNELS];
    let xp = &mut buf[..2 * ic];
    let r = y.rect;
    let area = r.area();
    let mut i = 0;
    while i < area {
        let n = (area - i).min(PIXELS);
        let mut at = [0usize; PIXELS];
        for (k, at) in at.iter_mut().enumerate() {
            let j = i + k.min(n - 1);
            let (oy, ox) = (r.y + j / r.w, r.x + j % r.w);
            *at = r.offset(oy, ox, oc);
            let src = x.rect.offset(oy * g.stride[0], ox * g.stride[1], ic);
            // Pixel k is lane k % 2 of word k / 2 of each channel's pair.
            let (word, lane) = (k / 2, k % 2);
            if lane == 0 {
                x.for_each(src, ic, |c, v| xp[2 * c + word] = v + p.input_offset);
            } else {
                x.for_each(src, ic, |c, v| xp[2 * c + word] += (v + p.input_offset) << LANE);
            }
        }
        for o in 0..oc {
            let xg = &xp[2 * (o / opg) * fc..][..2 * fc];
            let s = dot_packed(xg, &p.filter[o * fc..][..fc]);
            let q = Requant::new(&p.output, o);
            for (&at, &s) in at.iter().zip(&s).take(n) {
                let acc = p.bias[o].wrapping_add(s);
                if let Some(k) = &clean {
                    k.check(acc, o)?;
                }
                y.store(at + o, q.value(acc));
            }
        }
        i += n;
    }
    Ok(())
}

/// The convolution through [`conv2d_dsp`] (the `dsp` feature's path;
/// equal to [`conv2d_lowbit_portable`]); `p` must satisfy [`is_dsp_conv`] at the
/// input's width.
pub fn conv2d_lowbit_dsp(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    match y.bits {
        8.. => dsp_to::<8>(p, x, y, clean),
        4 => dsp_to::<4>(p, x, y, clean),
        2 => dsp_to::<2>(p, x, y, clean),
        _ => dsp_to::<0>(p, x, y, clean),
    }
}

/// [`conv2d_lowbit_dsp`] writing a map of `B` bits ([`CodesMut::store_as`]). Not
/// inlined: its stack buffer stays out of the callers' frames.
#[inline(never)]
fn dsp_to<const B: u32>(p: &Conv2dParams, x: Codes, mut y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    let even = p.geometry.output[2].is_multiple_of(2);
    conv2d_dsp(p, x, y.rect, &mut |o: usize, at: &[usize], accs: [&[i32]; 2]| {
        // The second channel (`o` again when there is none: no outputs).
        let o1 = o + usize::from(!accs[1].is_empty());
        let bounds = [bounds(clean.as_ref(), o), bounds(clean.as_ref(), o1)];
        if bounds.iter().any(|&(lo, hi)| lo > hi) {
            return Err(Outlier);
        }
        let q = [Requant::new(&p.output, o), Requant::new(&p.output, o1)];
        // 4-bit codes of channels o (even) and o + 1 share a byte at every
        // pixel when the map's depth is even: written whole.
        if B == 4 && even && o.is_multiple_of(2) && !accs[1].is_empty() && q.iter().all(|q| q.saturates(false, 4)) {
            let [(lo0, hi0), (lo1, hi1)] = bounds;
            let (span0, span1) = (hi0.wrapping_sub(lo0) as u32, hi1.wrapping_sub(lo1) as u32);
            let data = &mut *y.data;
            for ((&at, &a0), &a1) in at.iter().zip(accs[0]).zip(accs[1]) {
                if a0.wrapping_sub(lo0) as u32 > span0 || a1.wrapping_sub(lo1) as u32 > span1 {
                    return Err(Outlier);
                }
                let v = dsp::usat::<4>(q[0].scaled(a0)) | dsp::usat::<4>(q[1].scaled(a1)) << 4;
                data[(at + o) / 2] = v as u8 as i8;
            }
            return Ok(());
        }
        for (c, ((acc, q), (lo, hi))) in accs.into_iter().zip(q).zip(bounds).enumerate() {
            let outs = at.iter().zip(acc);
            let o = o + c;
            match B {
                8 if q.saturates(true, 8) => put::<B>(&mut y, o, outs, lo, hi, |a| dsp::ssat::<8>(q.scaled(a)))?,
                1 | 2 | 4 if q.saturates(false, B) => {
                    put::<B>(&mut y, o, outs, lo, hi, |a| dsp::usat::<B>(q.scaled(a)))?
                }
                _ => put::<B>(&mut y, o, outs, lo, hi, |a| q.value(a))?,
            }
        }
        Ok(())
    })
}

/// Checks each `(at, acc)` against `lo..=hi` (one unsigned compare), then
/// stores `value(acc)` as element `at + o` of the `B`-bit map `y`.
#[inline(always)]
fn put<'a, const B: u32>(
    y: &mut CodesMut,
    o: usize,
    outs: impl Iterator<Item = (&'a usize, &'a i32)>,
    lo: i32,
    hi: i32,
    value: impl Fn(i32) -> i32,
) -> Result<(), Outlier> {
    let span = hi.wrapping_sub(lo) as u32;
    // A local view: its pointer and length stay in registers.
    let mut y = CodesMut {
        data: &mut *y.data,
        rect: y.rect,
        bits: y.bits,
    };
    for (&at, &acc) in outs {
        if acc.wrapping_sub(lo) as u32 > span {
            return Err(Outlier);
        }
        y.store_as::<B>(at + o, value(acc));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;
    use crate::geometry::{Geometry, Rect};
    use crate::ops::testutil::codes::{
        any_outlier, bits, bounds, codes, every_pair, pack, requant_to, tiled, value, zero_point, zeroed, Bounds,
        Requant, Spatial,
    };
    use crate::ops::testutil::{bytes, geometry, grid, spatial};
    use crate::view::{Window, WindowMut};

    /// One random convolution between maps of any widths, with its input.
    #[derive(Debug)]
    struct Case {
        g: Geometry,
        in_bits: u32,
        input_zp: i32,
        /// Input codes, `[h][w][c]`.
        x: Vec<u8>,
        filter: Vec<i8>,
        bias: Vec<i32>,
        out: Requant,
        bounds: Bounds,
        grid: (Vec<u16>, Vec<u16>),
    }

    impl Case {
        fn params(&self) -> Conv2dParams<'_> {
            Conv2dParams {
                geometry: self.g,
                input_offset: -self.input_zp,
                filter: &self.filter,
                bias: &self.bias,
                output: self.out.stage(),
            }
        }

        /// The kernel on the whole output map (a zeroed packed buffer).
        fn full(&self, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
            let [ih, iw, _] = self.g.input;
            let [oh, ow, oc] = self.g.output;
            let x = pack(&self.x, self.in_bits);
            let mut y = zeroed(oh * ow * oc, self.out.bits);
            conv2d_lowbit(
                &self.params(),
                Codes {
                    data: &x,
                    rect: Rect::full(ih, iw),
                    bits: self.in_bits,
                },
                CodesMut {
                    data: &mut y,
                    rect: Rect::full(oh, ow),
                    bits: self.out.bits,
                },
                clean,
            )?;
            Ok(y)
        }

        /// [`conv2d_lowbit_dsp`] on the whole output map.
        fn dsp(&self, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
            let [ih, iw, _] = self.g.input;
            let [oh, ow, oc] = self.g.output;
            let x = pack(&self.x, self.in_bits);
            let mut y = zeroed(oh * ow * oc, self.out.bits);
            let x = Codes {
                data: &x,
                rect: Rect::full(ih, iw),
                bits: self.in_bits,
            };
            let y_rect = Rect::full(oh, ow);
            let y_codes = CodesMut {
                data: &mut y,
                rect: y_rect,
                bits: self.out.bits,
            };
            conv2d_lowbit_dsp(&self.params(), x, y_codes, clean)?;
            Ok(y)
        }

        /// The kernel tile by tile over the case's grid.
        fn tiled(&self) -> Vec<i8> {
            let p = self.params();
            let [_, iw, ic] = self.g.input;
            let [oh, ow, oc] = self.g.output;
            let x = pack(&self.x, self.in_bits);
            tiled(
                [oh, ow],
                oc,
                self.out.bits,
                &self.grid,
                &x,
                self.in_bits,
                iw,
                ic,
                |r| self.g.input_rect(r),
                |x, y| conv2d_lowbit(&p, x, y, None),
            )
            .unwrap()
        }

        /// Naive reference: the exact accumulators and output codes of the
        /// whole map, full-map loops over every tap in i64.
        fn naive(&self) -> (Vec<i64>, Vec<u8>) {
            let g = &self.g;
            let [ih, iw, ic] = g.input;
            let [oh, ow, oc] = g.output;
            let [kh, kw] = g.kernel;
            let fc = self.filter.len() / (oc * kh * kw);
            let opg = oc / (ic / fc);
            let (mut accs, mut out) = (Vec::new(), Vec::new());
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
                                    let code = self.x[(iy as usize * iw + ix as usize) * ic + (o / opg) * fc + c];
                                    let w = self.filter[((o * kh + ky) * kw + kx) * fc + c];
                                    acc += (value(code, self.in_bits) - i64::from(self.input_zp)) * i64::from(w);
                                }
                            }
                        }
                        accs.push(acc);
                        out.push(self.out.code(acc, o));
                    }
                }
            }
            (accs, out)
        }
    }

    /// Random convolutions: `spatial` geometry, `groups` x `fc` input
    /// channels, `groups` x `opg` output channels, (input, output) widths
    /// from `widths`.
    fn case(
        spatial: impl Strategy<Value = Spatial>,
        groups: impl Strategy<Value = usize>,
        fc: impl Strategy<Value = usize>,
        opg: impl Strategy<Value = usize>,
        widths: impl Strategy<Value = (u32, u32)>,
    ) -> impl Strategy<Value = Case> {
        (spatial, groups, fc, opg, widths).prop_flat_map(|((hw, k, s, d, same), groups, fc, opg, (ib, ob))| {
            let (ic, oc) = (groups * fc, groups * opg);
            let g = geometry([hw[0], hw[1], ic], oc, k, s, d, same);
            (
                (Just(g), Just(ib), zero_point(ib), codes(hw[0] * hw[1] * ic, ib)),
                bytes(oc * k[0] * k[1] * fc),
                prop::collection::vec(-20000i32..20000, oc),
                requant_to(ob, oc),
                bounds(oc),
                grid(),
            )
                .prop_map(|((g, in_bits, input_zp, x), filter, bias, out, bounds, grid)| Case {
                    g,
                    in_bits,
                    input_zp,
                    x,
                    filter,
                    bias,
                    out,
                    bounds,
                    grid,
                })
        })
    }

    /// Grouped convolutions of any geometry.
    fn general(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
        case(spatial(), 1usize..=3, 1usize..=4, 1usize..=5, widths)
    }

    /// 1x1 convolutions without padding (stride 1 or 2).
    fn pointwise(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
        let spatial = (
            [1usize..=7, 1usize..=7],
            prop_oneof![3 => Just(1usize), 1 => Just(2)],
            any::<bool>(),
        )
            .prop_map(|(hw, s, same)| (hw, [1, 1], [s, s], [1, 1], same));
        case(
            spatial,
            prop_oneof![3 => Just(1usize), 1 => 2usize..=3],
            1usize..=24,
            1usize..=12,
            widths,
        )
    }

    /// The whole map equals the reference, and so does the tiled run.
    fn matches_naive_and_tiles(c: Case) -> Result<(), TestCaseError> {
        let full = c.full(None).unwrap();
        prop_assert_eq!(&full, &pack(&c.naive().1, c.out.bits));
        prop_assert_eq!(&c.tiled(), &full);
        Ok(())
    }

    /// With random bounds the kernel fails iff a reference accumulator is
    /// outside them, and otherwise writes the reference output.
    fn outlier_iff_outside_bounds(c: Case) -> Result<(), TestCaseError> {
        let (accs, want) = c.naive();
        let oc = c.g.output[2];
        let (lo, hi) = c.bounds.place(&accs, oc);
        let got = c.full(Some(Clean { lo: &lo, hi: &hi }));
        if any_outlier(&lo, &hi, &accs, oc) {
            prop_assert_eq!(got, Err(Outlier));
        } else {
            prop_assert_eq!(got, Ok(pack(&want, c.out.bits)));
        }
        Ok(())
    }

    /// The DSP form (emulated off `arm`) writes the reference codes and
    /// detects exactly the reference's outliers.
    fn dsp_matches_naive(c: Case) -> Result<(), TestCaseError> {
        prop_assume!(is_dsp_conv(&c.params(), c.in_bits));
        let (accs, want) = c.naive();
        prop_assert_eq!(c.dsp(None).unwrap(), pack(&want, c.out.bits));
        let oc = c.g.output[2];
        let (lo, hi) = c.bounds.place(&accs, oc);
        let got = c.dsp(Some(Clean { lo: &lo, hi: &hi }));
        if any_outlier(&lo, &hi, &accs, oc) {
            prop_assert_eq!(got, Err(Outlier));
        } else {
            prop_assert_eq!(got, Ok(pack(&want, c.out.bits)));
        }
        Ok(())
    }

    /// At 8 bits in and out the kernel writes the int8 kernel's bytes.
    fn equals_int8_kernel(c: Case) -> Result<(), TestCaseError> {
        let p = c.params();
        let [ih, iw, _] = c.g.input;
        let [oh, ow, oc] = c.g.output;
        let x = pack(&c.x, 8);
        let mut want = std::vec![0i8; oh * ow * oc];
        let mut scratch = std::vec![0i32; crate::ops::conv2d::conv2d_scratch_len(&p)];
        crate::ops::conv2d::conv2d(
            &p,
            Window {
                data: &x,
                rect: Rect::full(ih, iw),
            },
            WindowMut {
                data: &mut want,
                rect: Rect::full(oh, ow),
            },
            &mut scratch,
        );
        prop_assert_eq!(c.full(None).unwrap(), want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn general_matches_naive_and_tiles(c in general((bits(), bits()))) {
            matches_naive_and_tiles(c)?;
        }

        #[test]
        fn pointwise_matches_naive_and_tiles(c in pointwise((bits(), bits()))) {
            matches_naive_and_tiles(c)?;
        }

        #[test]
        fn general_outlier_iff_outside_bounds(c in general((bits(), bits()))) {
            outlier_iff_outside_bounds(c)?;
        }

        #[test]
        fn pointwise_outlier_iff_outside_bounds(c in pointwise((bits(), bits()))) {
            outlier_iff_outside_bounds(c)?;
        }

        #[test]
        fn general_equals_int8_kernel_at_8_bits(c in general(Just((8, 8)))) {
            equals_int8_kernel(c)?;
        }

        #[test]
        fn pointwise_equals_int8_kernel_at_8_bits(c in pointwise(Just((8, 8)))) {
            equals_int8_kernel(c)?;
        }
    }

    /// Deep 1x1 convolutions (the packed path's 255-channel chunks, and
    /// beyond `PACK_CHANNELS` the general path), odd strides and widths.
    fn deep_pointwise(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
        let spatial = ([1usize..=3, 1usize..=5], 1usize..=2).prop_map(|(hw, s)| (hw, [1, 1], [s, s], [1, 1], false));
        case(
            spatial,
            Just(1usize),
            prop_oneof![1usize..=9, 250usize..=300],
            1usize..=3,
            widths,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn deep_pointwise_matches_naive_and_tiles(c in deep_pointwise((bits(), bits()))) {
            matches_naive_and_tiles(c)?;
        }

        #[test]
        fn dsp_pointwise_matches_naive(c in deep_pointwise((bits(), bits()))) {
            dsp_matches_naive(c)?;
        }

        /// Any kernel, stride, dilation and padding, any widths.
        #[test]
        fn dsp_matches_naive_any_geometry(c in case(spatial(), Just(1usize), 1usize..=4, 1usize..=5, (bits(), bits()))) {
            dsp_matches_naive(c)?;
        }

        /// 2- and 4-bit inputs of whole words per pixel: the DSP form's
        /// word-at-a-time expansion of packed codes.
        #[test]
        fn dsp_pointwise_packed_codes_match_naive(c in case(
            ([1usize..=4, 1usize..=5], Just(1usize)).prop_map(|(hw, s)| (hw, [1, 1], [s, s], [1, 1], false)),
            Just(1usize),
            prop_oneof![Just(4usize), Just(8), Just(16), Just(24), Just(40)],
            1usize..=5,
            (prop_oneof![Just(2u32), Just(4)], bits()),
        )) {
            dsp_matches_naive(c)?;
        }

        #[test]
        fn deep_pointwise_outlier_iff_outside_bounds(c in deep_pointwise((bits(), bits()))) {
            outlier_iff_outside_bounds(c)?;
        }

        /// Extreme codes and weights: the packed lanes' worst case.
        #[test]
        fn pointwise_extremes_match_naive(mut c in deep_pointwise((1u32..=8, bits())), high in any::<bool>(), w in prop_oneof![Just(-128i8), Just(127i8)]) {
            let top = ((1u16 << c.in_bits) - 1) as u8;
            c.x.fill(if high { top } else { 0 });
            c.filter.fill(w);
            matches_naive_and_tiles(c)?;
        }
    }

    #[test]
    fn every_width_pair_matches_naive_and_tiles() {
        every_pair(4, |a, b| general(Just((a, b))), matches_naive_and_tiles);
        every_pair(2, |a, b| pointwise(Just((a, b))), matches_naive_and_tiles);
        every_pair(
            2,
            |a, b| pointwise(Just((a, b))).prop_filter("one group", |c| is_dsp_conv(&c.params(), c.in_bits)),
            dsp_matches_naive,
        );
    }
}

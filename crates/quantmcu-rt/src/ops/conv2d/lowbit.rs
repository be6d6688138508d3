//! CONV_2D (grouped included) over maps of any width: for output channel `o`
//! of group `g`, `acc = bias[o] + sum((v + input_offset) * w)` over the taps
//! inside the input (wrapping 32-bit arithmetic, padding taps contribute
//! nothing), then the map's clean check and the output stage. At 8 bits in
//! and out this is exactly [`super::conv2d`].

use super::dsp::{conv2d_dsp, is_dsp_conv, Int8Sink};
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
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    return super::x86::conv2d_lowbit_x86(p, x, y, clean);
    #[allow(unreachable_code)]
    conv2d_lowbit_portable(p, x, y, clean)
}

/// True when every offset input value `v + input_offset` lies in `-128..=128`
/// (every width below 8 bits with its zero point among its codes).
fn offset_fits_byte(p: &Conv2dParams, bits: u32) -> bool {
    let (lo, hi) = crate::view::value_range(bits);
    (-128..=128).contains(&(lo + p.input_offset)) && (-128..=128).contains(&(hi + p.input_offset))
}

/// [`conv2d_lowbit`] without the `dsp` feature's DSP form: the reference
/// that form is checked against (on the host and on the target).
pub fn conv2d_lowbit_portable(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    lowbit(p, x, y, clean)
}

/// The portable low-bit kernel's body, inlined into each form (on x86-64 its
/// paths inline too, so the AVX2 form compiles them with AVX2; elsewhere they
/// stay out of line, keeping their stack buffers out of the caller's frame).
#[inline(always)]
pub(super) fn lowbit(p: &Conv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
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
#[cfg_attr(target_arch = "x86_64", inline(always))]
#[cfg_attr(not(target_arch = "x86_64"), inline(never))]
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
#[cfg_attr(target_arch = "x86_64", inline(always))]
#[cfg_attr(not(target_arch = "x86_64"), inline(never))]
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
        // An int8 output nothing checks (every int8 output a plan holds):
        // the int8 kernel's output stage; a checked one takes any width's.
        8.. if clean.is_none() => conv2d_dsp(p, x, y.rect, &mut Int8Sink { p, y: y.data }),
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

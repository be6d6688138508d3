//! DEPTHWISE_CONV_2D of one channel (a plane: what the in-place kernel runs
//! per channel) in the Cortex-M DSP form: `acc = bias + sum((x +
//! input_offset) * w)` over the taps inside the input (wrapping 32-bit
//! arithmetic), then the requantization (`Requant`) — the portable kernel's integer formula, so
//! the results are equal bit for bit.
//!
//! A kernel row of at most 4 taps reads 4 adjacent input bytes with one
//! word load; SXTAB16 splits them into offset pairs (taps 0/2 and 1/3) and
//! two SMLAD multiply them with the row's weight pairs (a missing fourth tap
//! weighs 0). Rows whose taps are not all inside the input, or whose word
//! would end past the buffer, take the tap-by-tap loop.

use super::conv2d::Requant;
use super::depthwise_conv2d::DepthwiseConv2dParams;
use super::{TapRange, Window, WindowMut};
use crate::dsp::{self, smlad};

/// Most kernel rows of this form.
pub const MAX_ROWS: usize = 8;

/// True when [`depthwise_conv2d_plane_smlad`] computes this convolution: one
/// channel in and out, kernel rows of at most 4 taps without horizontal
/// dilation, at most [`MAX_ROWS`] rows, offset int8 values fitting a
/// halfword.
pub fn is_plane_smlad(p: &DepthwiseConv2dParams) -> bool {
    let g = &p.geometry;
    let [kh, kw] = g.kernel;
    g.input[2] == 1
        && g.output[2] == 1
        && (1..=4).contains(&kw)
        && (1..=MAX_ROWS).contains(&kh)
        && g.dilation[1] <= 1
        && p.filter.len() == kh * kw
        && dsp::offset_values_fit_lane(p.input_offset, 8)
}

/// Computes the output pixels of `y.rect` from `x`, which must hold at least
/// `p.geometry.input_rect(&y.rect)`; `p` must satisfy [`is_plane_smlad`].
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads or `y.data` is
/// shorter than `y.rect`.
pub fn depthwise_conv2d_plane_smlad(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    let g = &p.geometry;
    let [kh, kw] = g.kernel;
    let w = |ky: usize, kx: usize| if kx < kw { i32::from(p.filter[ky * kw + kx]) } else { 0 };
    let mut pairs = [[0u32; 2]; MAX_ROWS];
    for (ky, pr) in pairs.iter_mut().enumerate().take(kh) {
        *pr = [dsp::pair(w(ky, 0), w(ky, 2)), dsp::pair(w(ky, 1), w(ky, 3))];
    }
    let off = dsp::pair(p.input_offset, p.input_offset);
    let q = Requant::new(&p.output, 0);
    let r = y.rect;
    for oy in r.y..r.y + r.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
        for ox in r.x..r.x + r.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], 1, kw, g.input[1]);
            let mut acc = p.bias[0];
            let rows = if rx.hi > rx.lo { ry.lo..ry.hi } else { 0..0 };
            for ky in rows {
                let at = x.rect.offset(ry.at(ky), rx.at(rx.lo), 1);
                match x.data.get(at..at + 4) {
                    Some(v) if rx.full(kw) => {
                        let v = dsp::load_u32(v, 0);
                        let [e, o] = pairs[ky];
                        acc = smlad(dsp::sxtab16_ror8(off, v), o, smlad(dsp::sxtab16(off, v), e, acc));
                    }
                    _ => {
                        for kx in rx.lo..rx.hi {
                            let v = i32::from(x.data[at + kx - rx.lo]) + p.input_offset;
                            acc = acc.wrapping_add(v * w(ky, kx));
                        }
                    }
                }
            }
            y.data[r.offset(oy, ox, 1)] = q.value(acc) as i8;
        }
    }
}

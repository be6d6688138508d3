//! DEPTHWISE_CONV_2D, int8, portable: the reference the other forms equal.
//!
//! Channels are processed in blocks of [`CHANNEL_BLOCK`] with stack
//! accumulators. 3x3 kernels with multiplier 1 (any stride and dilation) take
//! a specialised path for pixels whose nine taps are all inside the input: the
//! block's weights are widened once and `bias + input_offset * sum(w)` is
//! folded once per block, leaving nine multiply-accumulates per channel and
//! pixel. Border pixels and other shapes use the general path.

use super::params::DepthwiseConv2dParams;
use crate::view::{TapRange, Window, WindowMut};

/// Channels processed together (stack accumulators).
pub const CHANNEL_BLOCK: usize = 16;

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)` (map coordinates; `x.rect`
/// may be larger), in portable code: the reference the DSP form is checked
/// against (on the host and on the target). Not inlined: its stack buffers
/// stay out of the dispatching caller's frame.
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads, `y.data` is
/// shorter than `y.rect`, or the filter/bias are shorter than the shapes say.
#[inline(never)]
pub fn depthwise_conv2d_portable(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    portable(p, x, y)
}

/// The portable kernel's body, inlined into each form.
#[inline(always)]
pub(super) fn portable(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    let g = &p.geometry;
    let ic = g.input[2];
    let oc = g.output[2];
    let [kh, kw] = g.kernel;
    if ic == 0 || oc == 0 || kh == 0 || kw == 0 || y.rect.area() == 0 {
        return;
    }
    let m = oc / ic;
    let fast = kh == 3 && kw == 3 && m == 1;
    // Offsets of the nine taps from the top-left tap, in the x buffer.
    let mut tap_at = [0usize; 9];
    if fast {
        for (t, at) in tap_at.iter_mut().enumerate() {
            *at = ((t / 3) * g.dilation[0].max(1) * x.rect.w + (t % 3) * g.dilation[1].max(1)) * ic;
        }
    }
    let mut c0 = 0;
    while c0 < oc {
        let n = (oc - c0).min(CHANNEL_BLOCK);
        let mut w9 = [[0i32; CHANNEL_BLOCK]; 9];
        let mut folded = [0i32; CHANNEL_BLOCK];
        if fast {
            for (t, wt) in w9.iter_mut().enumerate() {
                for (w, &f) in wt.iter_mut().zip(&p.filter[t * oc + c0..][..n]) {
                    *w = i32::from(f);
                }
            }
            for (j, f) in folded.iter_mut().enumerate().take(n) {
                let wsum = w9.iter().fold(0i32, |s, wt| s.wrapping_add(wt[j]));
                *f = p.bias[c0 + j].wrapping_add(p.input_offset.wrapping_mul(wsum));
            }
        }
        for oy in y.rect.y..y.rect.y + y.rect.h {
            let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
            for ox in y.rect.x..y.rect.x + y.rect.w {
                let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
                let out_at = y.rect.offset(oy, ox, oc) + c0;
                let out = &mut y.data[out_at..out_at + n];
                let mut acc = [0i32; CHANNEL_BLOCK];
                if fast && ry.full(3) && rx.full(3) {
                    acc = folded;
                    let base = x.rect.offset(ry.at(0), rx.at(0), ic) + c0;
                    for (wt, &at) in w9.iter().zip(&tap_at) {
                        let px = &x.data[base + at..][..n];
                        for ((a, &v), &w) in acc.iter_mut().zip(px).zip(wt) {
                            *a = a.wrapping_add(i32::from(v) * w);
                        }
                    }
                } else {
                    acc[..n].copy_from_slice(&p.bias[c0..c0 + n]);
                    for ky in ry.lo..ry.hi {
                        for kx in rx.lo..rx.hi {
                            let at = x.rect.offset(ry.at(ky), rx.at(kx), ic);
                            let wt = &p.filter[(ky * kw + kx) * oc + c0..][..n];
                            if m == 1 {
                                let px = &x.data[at + c0..][..n];
                                for ((a, &v), &w) in acc.iter_mut().zip(px).zip(wt) {
                                    *a = a.wrapping_add(
                                        i32::from(v).wrapping_add(p.input_offset).wrapping_mul(i32::from(w)),
                                    );
                                }
                            } else {
                                for (j, (a, &w)) in acc.iter_mut().zip(wt).enumerate() {
                                    let v = i32::from(x.data[at + (c0 + j) / m]);
                                    *a = a.wrapping_add(v.wrapping_add(p.input_offset).wrapping_mul(i32::from(w)));
                                }
                            }
                        }
                    }
                }
                for (j, (v, &a)) in out.iter_mut().zip(&acc).enumerate() {
                    *v = p.output.apply(a, c0 + j);
                }
            }
        }
        c0 += n;
    }
}

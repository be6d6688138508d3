//! AVERAGE_POOL_2D and MAX_POOL_2D, int8, bit-exact with tflite-micro's
//! reference integer pooling.
//!
//! The window is clipped to the input: padding taps are never read, averaged
//! or counted. The average divides the int32 sum of the valid taps by their
//! count rounding half away from zero; the maximum starts from -128. Both are
//! then clamped to `[min, max]` (the fused activation; input and output share
//! their quantization).

use crate::geometry::Geometry;
use crate::view::{TapRange, Window, WindowMut};

/// Channels processed together (stack accumulators).
const CHANNEL_BLOCK: usize = 16;

/// Constants of one pooling op (`geometry.output[2] == geometry.input[2]`).
#[derive(Clone, Copy, Debug)]
pub struct Pool2dParams {
    /// Full input and output maps, window, stride, padding (dilation 1 in
    /// TFLite; other values are honoured).
    pub geometry: Geometry,
    /// Clamp of the fused activation (int8 values).
    pub min: i32,
    pub max: i32,
}

/// Rounded division of a window sum by its tap count, as tflite-micro does it
/// (a count of 0 gives 0).
#[inline]
pub(crate) fn average(sum: i32, count: i32) -> i32 {
    if count == 0 {
        0
    } else if sum > 0 {
        sum.wrapping_add(count / 2) / count
    } else {
        sum.wrapping_sub(count / 2) / count
    }
}

/// Shared driver: for every output pixel of `y.rect` and block of channels,
/// folds `step` over the valid taps starting from `init`, then `finish`es with
/// the tap count.
fn pool(
    p: &Pool2dParams,
    x: Window,
    y: WindowMut,
    init: i32,
    step: impl Fn(i32, i32) -> i32,
    finish: impl Fn(i32, i32) -> i32,
) {
    let g = &p.geometry;
    let c = g.input[2];
    let [kh, kw] = g.kernel;
    if c == 0 || y.rect.area() == 0 {
        return;
    }
    for oy in y.rect.y..y.rect.y + y.rect.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
        for ox in y.rect.x..y.rect.x + y.rect.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
            let count = ((ry.hi - ry.lo) * (rx.hi - rx.lo)) as i32;
            let out_at = y.rect.offset(oy, ox, c);
            let out = &mut y.data[out_at..out_at + c];
            let mut c0 = 0;
            while c0 < c {
                let n = (c - c0).min(CHANNEL_BLOCK);
                let mut acc = [init; CHANNEL_BLOCK];
                for ky in ry.lo..ry.hi {
                    for kx in rx.lo..rx.hi {
                        let px = &x.data[x.rect.offset(ry.at(ky), rx.at(kx), c) + c0..][..n];
                        for (a, &v) in acc.iter_mut().zip(px) {
                            *a = step(*a, i32::from(v));
                        }
                    }
                }
                for (v, &a) in out[c0..c0 + n].iter_mut().zip(&acc) {
                    *v = finish(a, count).clamp(p.min, p.max) as i8;
                }
                c0 += n;
            }
        }
    }
}

/// Average pooling of the output pixels of `y.rect` (all channels) from `x`,
/// which must hold at least `p.geometry.input_rect(&y.rect)`.
pub fn average_pool2d(p: &Pool2dParams, x: Window, y: WindowMut) {
    pool(p, x, y, 0, |s, v| s.wrapping_add(v), average);
}

/// Max pooling of the output pixels of `y.rect` (all channels) from `x`,
/// which must hold at least `p.geometry.input_rect(&y.rect)`.
pub fn max_pool2d(p: &Pool2dParams, x: Window, y: WindowMut) {
    pool(p, x, y, -128, |m, v| m.max(v), |m, _| m);
}

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

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::geometry::Rect;
    use crate::ops::testutil::{bytes, clamp, geometry, grid, tiled};

    /// Naive reference: full-map loops over every tap, i64 sums.
    fn naive(g: &Geometry, avg: bool, range: (i32, i32), x: &[i8]) -> Vec<i8> {
        let [ih, iw, c] = g.input;
        let [oh, ow, _] = g.output;
        let mut y = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let (mut sum, mut count, mut max) = (0i64, 0i64, -128i64);
                    for ky in 0..g.kernel[0] {
                        for kx in 0..g.kernel[1] {
                            let iy = (oy * g.stride[0] + ky) as i64 - g.pad[0] as i64;
                            let ix = (ox * g.stride[1] + kx) as i64 - g.pad[1] as i64;
                            if iy < 0 || ix < 0 || iy >= ih as i64 || ix >= iw as i64 {
                                continue;
                            }
                            let v = i64::from(x[(iy as usize * iw + ix as usize) * c + ch]);
                            sum += v;
                            count += 1;
                            max = max.max(v);
                        }
                    }
                    let r = if !avg {
                        max
                    } else if count == 0 {
                        0
                    } else {
                        // Half away from zero.
                        let q = (2 * sum.abs() + count) / (2 * count);
                        if sum < 0 {
                            -q
                        } else {
                            q
                        }
                    };
                    y.push(r.clamp(i64::from(range.0), i64::from(range.1)) as i8);
                }
            }
        }
        y
    }

    /// Geometry, clamp, input, tile grid.
    type Case = (Geometry, (i32, i32), Vec<i8>, (Vec<u16>, Vec<u16>));

    fn case() -> impl Strategy<Value = Case> {
        (
            [1usize..=11, 1usize..=11],
            prop_oneof![[1usize..=4, 1usize..=4], Just([3usize, 3]), Just([2usize, 2])],
            [1usize..=3, 1usize..=3],
            1usize..=20,
            any::<bool>(),
        )
            .prop_flat_map(|(hw, k, s, c, same)| {
                let g = geometry([hw[0], hw[1], c], c, k, s, [1, 1], same);
                (Just(g), clamp(), bytes(hw[0] * hw[1] * c), grid())
            })
    }

    fn run(g: &Geometry, avg: bool, range: (i32, i32), x: &[i8], grid: &(Vec<u16>, Vec<u16>)) -> (Vec<i8>, Vec<i8>) {
        let p = Pool2dParams {
            geometry: *g,
            min: range.0,
            max: range.1,
        };
        let f = if avg { average_pool2d } else { max_pool2d };
        let [ih, iw, c] = g.input;
        let [oh, ow, _] = g.output;
        let mut full = std::vec![0i8; oh * ow * c];
        f(
            &p,
            Window {
                data: x,
                rect: Rect::full(ih, iw),
            },
            WindowMut {
                data: &mut full,
                rect: Rect::full(oh, ow),
            },
        );
        let tiles = tiled([oh, ow], c, grid, x, iw, c, |r| g.input_rect(r), |x, y| f(&p, x, y));
        (full, tiles)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn average_matches_naive_and_tiles((g, range, x, grid) in case()) {
            let (full, tiles) = run(&g, true, range, &x, &grid);
            prop_assert_eq!(&full, &naive(&g, true, range, &x));
            prop_assert_eq!(&tiles, &full);
        }

        #[test]
        fn max_matches_naive_and_tiles((g, range, x, grid) in case()) {
            let (full, tiles) = run(&g, false, range, &x, &grid);
            prop_assert_eq!(&full, &naive(&g, false, range, &x));
            prop_assert_eq!(&tiles, &full);
        }
    }

    #[test]
    fn average_rounds_half_away_from_zero() {
        assert_eq!(average(5, 2), 3);
        assert_eq!(average(-5, 2), -3);
        assert_eq!(average(4, 3), 1);
        assert_eq!(average(-4, 3), -1);
        assert_eq!(average(7, 0), 0);
    }
}

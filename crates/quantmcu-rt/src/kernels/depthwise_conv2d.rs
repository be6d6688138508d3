//! DEPTHWISE_CONV_2D, int8, bit-exact with tflite-micro's reference
//! `DepthwiseConvPerChannel`.
//!
//! With depth multiplier `m = out_c / in_c`, output channel `c * m + j` filters
//! input channel `c`: its accumulator is `bias[o] + sum((x + input_offset) * w)`
//! over the taps inside the input (padding taps contribute nothing), in
//! wrapping 32-bit arithmetic, then [`OutputStage::apply`] (TFLite double
//! rounding).
//!
//! Channels are processed in blocks of [`CHANNEL_BLOCK`] with stack
//! accumulators. 3x3 kernels with multiplier 1 (any stride and dilation) take
//! a specialised path for pixels whose nine taps are all inside the input: the
//! block's weights are widened once and `bias + input_offset * sum(w)` is
//! folded once per block, leaving nine multiply-accumulates per channel and
//! pixel. Border pixels and other shapes use the general path.
//!
//! With the crate feature `dsp`, [`depthwise_conv2d`] runs multiplier-1
//! convolutions of depths divisible by 4 through
//! [`super::depthwise_conv2d_smla`] instead; [`depthwise_conv2d_portable`] is
//! always the code above.

use super::depthwise_conv2d_smla::{depthwise_conv2d_smla, is_smla_depthwise, BlockStore};
use crate::geometry::Geometry;
use crate::view::Codes;
use crate::view::{OutputStage, TapRange, Window, WindowMut};

/// Channels processed together (stack accumulators).
pub const CHANNEL_BLOCK: usize = 16;

/// Constants of one depthwise convolution.
#[derive(Clone, Copy, Debug)]
pub struct DepthwiseConv2dParams<'a> {
    /// Full input and output maps (`out_c = in_c * multiplier`), kernel,
    /// stride, dilation, padding.
    pub geometry: Geometry,
    /// Minus the input zero point.
    pub input_offset: i32,
    /// `[kh][kw][out_c]`.
    pub filter: &'a [i8],
    /// `[out_c]`.
    pub bias: &'a [i32],
    /// Requantization to the int8 output (per output channel or per tensor).
    pub output: OutputStage<'a>,
}

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)` (map coordinates; `x.rect`
/// may be larger).
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads, `y.data` is
/// shorter than `y.rect`, or the filter/bias are shorter than the shapes say.
pub fn depthwise_conv2d(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    if cfg!(feature = "dsp") && is_smla_depthwise(p, 8) {
        return smla(p, x, y);
    }
    depthwise_conv2d_portable(p, x, y)
}

/// The convolution through [`depthwise_conv2d_smla`] (the `dsp` feature's
/// path); `p` must satisfy [`is_smla_depthwise`] at 8 bits.
pub fn smla(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    let codes = Codes {
        data: x.data,
        rect: x.rect,
        bits: 8,
    };
    let _ = depthwise_conv2d_smla(p, codes, y.rect, None, Int8Store(y.data));
}

/// [`smla`]'s output map: the kernel writes whole rows itself where it can.
struct Int8Store<'a>(&'a mut [i8]);

impl BlockStore for Int8Store<'_> {
    fn store(&mut self, at: usize, vals: &[i32]) {
        for (d, &v) in self.0[at..at + vals.len()].iter_mut().zip(vals) {
            *d = v as i8;
        }
    }

    fn int8(&mut self) -> Option<&mut [i8]> {
        Some(self.0)
    }
}

/// [`depthwise_conv2d`] without the `dsp` feature's SMLA form: the reference
/// that form is checked against (on the host and on the target). Not
/// inlined: its stack buffers stay out of the dispatching caller's frame.
#[inline(never)]
pub fn depthwise_conv2d_portable(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
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

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::geometry::Rect;
    use crate::kernels::testutil::{bytes, clamp, geometry, grid, multipliers, requant, scales, spatial, tiled};

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
    }

    impl Case {
        fn params(&self) -> DepthwiseConv2dParams<'_> {
            DepthwiseConv2dParams {
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

        fn full(&self) -> Vec<i8> {
            let [oh, ow, oc] = self.g.output;
            let mut y = std::vec![0i8; oh * ow * oc];
            let x = Window {
                data: &self.x,
                rect: Rect::full(self.g.input[0], self.g.input[1]),
            };
            depthwise_conv2d(
                &self.params(),
                x,
                WindowMut {
                    data: &mut y,
                    rect: Rect::full(oh, ow),
                },
            );
            y
        }

        /// [`depthwise_conv2d_smla`] on the whole output map, when it applies.
        fn smla(&self) -> Option<Vec<i8>> {
            let p = self.params();
            if !is_smla_depthwise(&p, 8) {
                return None;
            }
            let [oh, ow, oc] = self.g.output;
            let mut y = std::vec![0i8; oh * ow * oc];
            let x = Window {
                data: &self.x,
                rect: Rect::full(self.g.input[0], self.g.input[1]),
            };
            smla(
                &p,
                x,
                WindowMut {
                    data: &mut y,
                    rect: Rect::full(oh, ow),
                },
            );
            Some(y)
        }

        fn tiled(&self) -> Vec<i8> {
            let p = self.params();
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
                |x, y| depthwise_conv2d(&p, x, y),
            )
        }

        /// Naive reference: full-map loops, i64 accumulation.
        fn naive(&self) -> Vec<i8> {
            let g = &self.g;
            let [ih, iw, ic] = g.input;
            let [oh, ow, oc] = g.output;
            let [kh, kw] = g.kernel;
            let m = oc / ic;
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
                                let xv = self.x[(iy as usize * iw + ix as usize) * ic + o / m];
                                let wv = self.filter[(ky * kw + kx) * oc + o];
                                acc += (i64::from(xv) + i64::from(self.input_offset)) * i64::from(wv);
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

    fn case(
        spatial: impl Strategy<Value = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool)>,
        ic: impl Strategy<Value = usize>,
        m: impl Strategy<Value = usize>,
    ) -> impl Strategy<Value = Case> {
        (spatial, ic, m, any::<bool>()).prop_flat_map(|((hw, k, s, d, same), ic, m, per_tensor)| {
            let oc = ic * m;
            let g = geometry([hw[0], hw[1], ic], oc, k, s, d, same);
            (
                Just(g),
                -127i32..=128,
                bytes(k[0] * k[1] * oc),
                prop::collection::vec(-20000i32..20000, oc),
                scales(if per_tensor { 1 } else { oc }),
                -128i32..=127,
                clamp(),
                bytes(hw[0] * hw[1] * ic),
                grid(),
            )
                .prop_map(|(g, input_offset, filter, bias, sc, output_offset, range, x, grid)| {
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
                    }
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn general_matches_naive_and_tiles(c in case(spatial(), 1usize..=5, 1usize..=2)) {
            let full = c.full();
            prop_assert_eq!(&full, &c.naive());
            prop_assert_eq!(&c.tiled(), &full);
        }

        /// The SMLA form (emulated instructions off `arm`) equals the
        /// reference: any kernel, stride, dilation and padding.
        #[test]
        fn smla_matches_naive(c in case(spatial().prop_filter("<= 25 taps", |s| s.1[0] * s.1[1] <= 25), prop_oneof![Just(4usize), Just(8), Just(12), Just(32)], Just(1usize))) {
            prop_assert_eq!(c.smla(), Some(c.naive()));
        }

        #[test]
        fn specialised_3x3_matches_naive_and_tiles(c in case(
            ([3usize..=10, 3usize..=10], 1usize..=2, prop_oneof![3 => Just(1usize), 1 => Just(2)], any::<bool>())
                .prop_map(|(hw, s, d, same)| (hw, [3, 3], [s, s], [d, d], same)),
            prop_oneof![1usize..=5, 14usize..=35],
            Just(1usize),
        )) {
            let full = c.full();
            prop_assert_eq!(&full, &c.naive());
            prop_assert_eq!(&c.tiled(), &full);
        }
    }
}

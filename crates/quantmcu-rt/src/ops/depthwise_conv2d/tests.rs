//! The int8 depthwise convolution's forms against one naive oracle: the
//! dispatching kernel (whole map and tile by tile) and the DSP form.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::geometry::{Geometry, Rect};
use crate::ops::testutil::{bytes, clamp, geometry, grid, multipliers, requant, scales, spatial, tiled};
use crate::view::{OutputStage, Window, WindowMut};

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

    /// [`depthwise_conv2d_dsp_int8`] on the whole output map, when it applies.
    fn dsp(&self) -> Option<Vec<i8>> {
        let p = self.params();
        if !is_dsp_depthwise(&p, 8) {
            return None;
        }
        let [oh, ow, oc] = self.g.output;
        let mut y = std::vec![0i8; oh * ow * oc];
        let x = Window {
            data: &self.x,
            rect: Rect::full(self.g.input[0], self.g.input[1]),
        };
        depthwise_conv2d_dsp_int8(
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

    /// The DSP form (emulated instructions off `arm`) equals the
    /// reference: any kernel, stride, dilation and padding.
    #[test]
    fn dsp_matches_naive(c in case(spatial().prop_filter("<= 25 taps", |s| s.1[0] * s.1[1] <= 25), prop_oneof![Just(4usize), Just(8), Just(12), Just(32)], Just(1usize))) {
        prop_assert_eq!(c.dsp(), Some(c.naive()));
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

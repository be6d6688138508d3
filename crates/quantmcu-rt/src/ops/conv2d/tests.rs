//! The int8 convolution's forms against one naive oracle: the dispatching
//! kernel (whole map and tile by tile) and the DSP form.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::params::is_pointwise;
use super::*;
use crate::geometry::{Geometry, Rect};
use crate::ops::testutil::{bytes, clamp, geometry, grid, multipliers, requant, scales, spatial, tiled};
use crate::view::{OutputStage, Window, WindowMut};

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

    /// [`conv2d_dsp_int8`] on the whole output map.
    fn dsp(&self) -> Vec<i8> {
        let [oh, ow, oc] = self.g.output;
        let mut y = std::vec![0i8; oh * ow * oc];
        let x = Window {
            data: &self.x,
            rect: Rect::full(self.g.input[0], self.g.input[1]),
        };
        let y_rect = Rect::full(oh, ow);
        conv2d_dsp_int8(
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

    /// The DSP form (emulated instructions off `arm`) equals the
    /// reference on every one-group convolution it takes (any kernel,
    /// stride, dilation, padding; odd depths and pixel counts).
    #[test]
    fn dsp_matches_naive(c in case(spatial(), Just(1usize), 1usize..=6, 1usize..=9)) {
        prop_assume!(is_dsp_conv(&c.params(), 8));
        prop_assert_eq!(&c.dsp(), &c.naive());
    }

    #[test]
    fn dsp_pointwise_matches_naive(c in case(pointwise_spatial(), Just(1usize), 1usize..=37, 1usize..=9)) {
        prop_assert!(is_dsp_conv(&c.params(), 8));
        prop_assert_eq!(&c.dsp(), &c.naive());
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
        if is_dsp_conv(&c.params(), 8) {
            prop_assert_eq!(&c.dsp(), &naive);
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

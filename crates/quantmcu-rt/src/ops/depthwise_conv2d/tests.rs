//! Every form of the depthwise convolution against one naive oracle, on one
//! case generator: the int8 kernel (dispatching, portable, DSP and in-place
//! forms; the dispatching kernel also tile by tile) at 8 bits in and out,
//! and the low-bit forms (dispatching, portable and DSP) at every pair of
//! widths, with their outlier checks.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::geometry::{Geometry, Rect};
use crate::ops::testutil::codes::{
    any_outlier, bits, bounds, codes, every_pair, pack, requant_to, tiled as tiled_codes, value, zero_point, zeroed,
    Bounds, Requant, Spatial,
};
use crate::ops::testutil::{bytes, geometry, grid, spatial, tiled};
use crate::view::{Clean, Codes, CodesMut, Outlier, Window, WindowMut};

/// One random depthwise convolution between maps of any widths, with its
/// input.
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

/// Signature of the int8 forms.
type Int8Kernel = fn(&DepthwiseConv2dParams, Window, WindowMut);

/// Signature of the low-bit forms.
type LowbitKernel = fn(&DepthwiseConv2dParams, Codes, CodesMut, Option<Clean>) -> Result<(), Outlier>;

impl Case {
    fn params(&self) -> DepthwiseConv2dParams<'_> {
        DepthwiseConv2dParams {
            geometry: self.g,
            input_offset: -self.input_zp,
            filter: &self.filter,
            bias: &self.bias,
            output: self.out.stage(),
        }
    }

    /// The naive oracle: the exact accumulators and output codes of the
    /// whole map, full-map loops over every tap in i64.
    fn naive(&self) -> (Vec<i64>, Vec<u8>) {
        let g = &self.g;
        let [ih, iw, ic] = g.input;
        let [oh, ow, oc] = g.output;
        let [kh, kw] = g.kernel;
        let m = oc / ic;
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
                            let code = self.x[(iy as usize * iw + ix as usize) * ic + o / m];
                            let w = self.filter[(ky * kw + kx) * oc + o];
                            acc += (value(code, self.in_bits) - i64::from(self.input_zp)) * i64::from(w);
                        }
                    }
                    accs.push(acc);
                    out.push(self.out.code(acc, o));
                }
            }
        }
        (accs, out)
    }

    /// The oracle's output map, packed at the output width.
    fn want(&self) -> Vec<i8> {
        pack(&self.naive().1, self.out.bits)
    }

    /// An int8 form on the whole output map.
    fn int8(&self, kernel: Int8Kernel) -> Vec<i8> {
        let [ih, iw, _] = self.g.input;
        let [oh, ow, oc] = self.g.output;
        let x = pack(&self.x, 8);
        let mut y = std::vec![0i8; oh * ow * oc];
        let x = Window {
            data: &x,
            rect: Rect::full(ih, iw),
        };
        kernel(
            &self.params(),
            x,
            WindowMut {
                data: &mut y,
                rect: Rect::full(oh, ow),
            },
        );
        y
    }

    /// The in-place form: the input map's buffer, holding the output map at
    /// its start on return.
    fn in_place(&self) -> Vec<i8> {
        let [oh, ow, oc] = self.g.output;
        let mut buf = pack(&self.x, 8);
        let mut temp = std::vec![0i8; in_place_temp_len(&self.g)];
        depthwise_conv2d_in_place(&self.params(), &mut buf, &mut temp);
        buf.truncate(oh * ow * oc);
        buf
    }

    /// The dispatching int8 kernel tile by tile over the case's grid.
    fn int8_tiled(&self) -> Vec<i8> {
        let p = self.params();
        let [_, iw, ic] = self.g.input;
        let [oh, ow, oc] = self.g.output;
        let x = pack(&self.x, 8);
        tiled(
            [oh, ow],
            oc,
            &self.grid,
            &x,
            iw,
            ic,
            |r| self.g.input_rect(r),
            |x, y| depthwise_conv2d(&p, x, y),
        )
    }

    /// A low-bit form on the whole output map (a zeroed packed buffer).
    fn lowbit(&self, kernel: LowbitKernel, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
        let [ih, iw, _] = self.g.input;
        let [oh, ow, oc] = self.g.output;
        let x = pack(&self.x, self.in_bits);
        let mut y = zeroed(oh * ow * oc, self.out.bits);
        let x = Codes {
            data: &x,
            rect: Rect::full(ih, iw),
            bits: self.in_bits,
        };
        let y_codes = CodesMut {
            data: &mut y,
            rect: Rect::full(oh, ow),
            bits: self.out.bits,
        };
        kernel(&self.params(), x, y_codes, clean)?;
        Ok(y)
    }

    /// The dispatching low-bit kernel tile by tile over the case's grid.
    fn lowbit_tiled(&self) -> Vec<i8> {
        let p = self.params();
        let [_, iw, ic] = self.g.input;
        let [oh, ow, oc] = self.g.output;
        let x = pack(&self.x, self.in_bits);
        tiled_codes(
            [oh, ow],
            oc,
            self.out.bits,
            &self.grid,
            &x,
            self.in_bits,
            iw,
            ic,
            |r| self.g.input_rect(r),
            |x, y| depthwise_conv2d_lowbit(&p, x, y, None),
        )
        .unwrap()
    }

    /// The low-bit forms that apply to this case.
    fn lowbit_forms(&self) -> Vec<(&'static str, LowbitKernel)> {
        let mut forms: Vec<(&'static str, LowbitKernel)> = std::vec![
            ("dispatching", depthwise_conv2d_lowbit),
            ("portable", depthwise_conv2d_lowbit_portable),
        ];
        if is_dsp_depthwise(&self.params(), self.in_bits) {
            forms.push(("dsp", depthwise_conv2d_lowbit_dsp));
        }
        forms
    }
}

/// Random depthwise convolutions: `spatial` geometry, `ic` input channels,
/// depth multiplier `m`, (input, output) widths from `widths`.
fn case(
    spatial: impl Strategy<Value = Spatial>,
    ic: impl Strategy<Value = usize>,
    m: impl Strategy<Value = usize>,
    widths: impl Strategy<Value = (u32, u32)>,
) -> impl Strategy<Value = Case> {
    (spatial, ic, m, widths).prop_flat_map(|((hw, k, s, d, same), ic, m, (ib, ob))| {
        let oc = ic * m;
        let g = geometry([hw[0], hw[1], ic], oc, k, s, d, same);
        (
            (Just(g), Just(ib), zero_point(ib), codes(hw[0] * hw[1] * ic, ib)),
            bytes(k[0] * k[1] * oc),
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

/// 8 bits in and out: the int8 kernel's case.
fn int8() -> impl Strategy<Value = (u32, u32)> {
    Just((8, 8))
}

/// Any pair of widths.
fn widths() -> impl Strategy<Value = (u32, u32)> {
    (bits(), bits())
}

/// Depthwise convolutions of any geometry, multiplier 1 to 3 (2 most often).
fn general(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    case(
        spatial(),
        1usize..=5,
        prop_oneof![2 => Just(1usize), 3 => Just(2usize), 1 => Just(3usize)],
        widths,
    )
}

/// 3x3 depthwise convolutions with multiplier 1, up to 35 channels (the
/// portable kernel's specialised path and channel blocks).
fn three_by_three(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    let spatial = (
        [3usize..=10, 3usize..=10],
        1usize..=2,
        prop_oneof![3 => Just(1usize), 1 => Just(2)],
        any::<bool>(),
    )
        .prop_map(|(hw, s, d, same)| (hw, [3, 3], [s, s], [d, d], same));
    case(spatial, prop_oneof![1usize..=5, 14usize..=35], Just(1usize), widths)
}

/// Multiplier 1, kernels up to 5x5 and depths of whole channel groups
/// (`depths`): the DSP form's.
fn dsp_shapes(
    depths: impl Strategy<Value = usize>,
    widths: impl Strategy<Value = (u32, u32)>,
) -> impl Strategy<Value = Case> {
    case(
        spatial().prop_filter("<= 25 taps", |s| s.1[0] * s.1[1] <= 25),
        depths,
        Just(1usize),
        widths,
    )
}

/// Every int8 form writes the oracle's bytes (the dispatching kernel also
/// tile by tile, the in-place form where it runs), and so does every low-bit
/// form at 8 bits.
fn int8_forms_match_naive(c: Case) -> Result<(), TestCaseError> {
    let want = c.want();
    prop_assert_eq!(&c.int8(depthwise_conv2d), &want, "dispatching");
    prop_assert_eq!(&c.int8(depthwise_conv2d_portable), &want, "portable");
    prop_assert_eq!(&c.int8_tiled(), &want, "tiled");
    if is_dsp_depthwise(&c.params(), 8) {
        prop_assert_eq!(&c.int8(depthwise_conv2d_dsp_int8), &want, "dsp");
    }
    if can_run_in_place(&c.g) {
        prop_assert_eq!(&c.in_place(), &want, "in place");
    }
    lowbit_forms_match_naive(c)
}

/// Every low-bit form writes the oracle's codes (the dispatching kernel also
/// tile by tile) and, with random bounds, fails iff an oracle accumulator is
/// outside them.
fn lowbit_forms_match_naive(c: Case) -> Result<(), TestCaseError> {
    let (accs, codes) = c.naive();
    let want = pack(&codes, c.out.bits);
    prop_assert_eq!(&c.lowbit_tiled(), &want, "tiled");
    let oc = c.g.output[2];
    let (lo, hi) = c.bounds.place(&accs, oc);
    let outlier = any_outlier(&lo, &hi, &accs, oc);
    for (name, kernel) in c.lowbit_forms() {
        prop_assert_eq!(c.lowbit(kernel, None), Ok(want.clone()), "{}", name);
        let got = c.lowbit(kernel, Some(Clean { lo: &lo, hi: &hi }));
        if outlier {
            prop_assert_eq!(got, Err(Outlier), "{}", name);
        } else {
            prop_assert_eq!(got, Ok(want.clone()), "{}", name);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn int8_general(c in general(int8())) {
        int8_forms_match_naive(c)?;
    }

    #[test]
    fn int8_three_by_three(c in three_by_three(int8())) {
        prop_assert!(can_run_in_place(&c.g));
        int8_forms_match_naive(c)?;
    }

    /// The DSP form on any kernel up to 5x5, stride, dilation and padding.
    #[test]
    fn int8_dsp_shapes(c in dsp_shapes(prop_oneof![Just(4usize), Just(8), Just(12), Just(32)], int8())) {
        prop_assert!(is_dsp_depthwise(&c.params(), 8));
        int8_forms_match_naive(c)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lowbit_general(c in general(widths())) {
        lowbit_forms_match_naive(c)?;
    }

    #[test]
    fn lowbit_three_by_three(c in three_by_three(widths())) {
        lowbit_forms_match_naive(c)?;
    }

    /// Depths of whole 2-bit groups, input widths 2, 4 and 8 (the DSP
    /// form's), any output width.
    #[test]
    fn lowbit_dsp_shapes(c in dsp_shapes(
        prop_oneof![Just(16usize), Just(32)],
        (prop_oneof![Just(2u32), Just(4), Just(8)], bits()),
    )) {
        prop_assert!(is_dsp_depthwise(&c.params(), c.in_bits));
        lowbit_forms_match_naive(c)?;
    }
}

#[test]
fn every_width_pair_matches_naive() {
    every_pair(4, |a, b| general(Just((a, b))), lowbit_forms_match_naive);
}

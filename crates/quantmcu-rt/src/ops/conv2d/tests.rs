//! Every form of the convolution against one naive oracle, on one case
//! generator: the int8 kernel (dispatching, portable and DSP forms, whole
//! map and tile by tile) at 8 bits in and out, and the low-bit forms
//! (dispatching, portable and DSP) at every pair of widths, with their
//! outlier checks.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::params::is_pointwise;
use super::*;
use crate::geometry::Rect;
use crate::ops::testutil::codes::{bits, every_pair, int8, oracle, pack, value, widths, Bounds, Requant, Spatial};
use crate::ops::testutil::layer::Layer;
use crate::ops::testutil::windowed::{int8_forms_match_naive, lowbit_forms_match_naive, windowed, Op, Windowed};
use crate::ops::testutil::{geometry, spatial, taps};
use crate::view::{Clean, Codes, CodesMut, Outlier, Window, WindowMut};

/// What only a convolution's case draws.
#[derive(Debug)]
struct Conv {
    /// The int8 kernel gets its scratch (else none: no folded biases).
    scratch: bool,
}

/// One random convolution between maps of any widths, with its input.
type Case = Windowed<Conv>;

/// Signature of the int8 forms.
type Int8Kernel = fn(&Conv2dParams, Window, WindowMut, &mut [i32]);

/// Signature of the low-bit forms.
type LowbitKernel = fn(&Conv2dParams, Codes, CodesMut, Option<Clean>) -> Result<(), Outlier>;

/// [`conv2d_dsp_int8`] as an [`Int8Kernel`] (it takes no scratch).
fn dsp_int8(p: &Conv2dParams, x: Window, y: WindowMut, _: &mut [i32]) {
    conv2d_dsp_int8(p, x, y);
}

impl Case {
    fn params(&self) -> Conv2dParams<'_> {
        Conv2dParams {
            geometry: self.g,
            input_offset: -self.layer.input_zp,
            filter: &self.layer.filter,
            bias: &self.layer.bias,
            output: self.layer.out.stage(),
        }
    }

    fn scratch(&self) -> Vec<i32> {
        std::vec![0; if self.op.scratch { conv2d_scratch_len(&self.params()) } else { 0 }]
    }
}

impl Op for Conv {
    type Int8 = Int8Kernel;
    type Lowbit = LowbitKernel;
    const INT8: [Int8Kernel; 3] = [conv2d, conv2d_portable, dsp_int8];
    const LOWBIT: [LowbitKernel; 3] = [conv2d_lowbit, conv2d_lowbit_portable, conv2d_lowbit_dsp];
    #[cfg(target_arch = "x86_64")]
    const INT8_SIMD: &'static [Int8Kernel] = &[x86::conv2d_x86];
    #[cfg(target_arch = "x86_64")]
    const LOWBIT_SIMD: &'static [LowbitKernel] = &[x86::conv2d_lowbit_x86];

    fn dsp(c: &Case, in_bits: u32) -> bool {
        is_dsp_conv(&c.params(), in_bits)
    }

    fn naive(c: &Case) -> (Vec<i64>, Vec<u8>) {
        let (g, l) = (&c.g, &c.layer);
        let (ic, oc, taps_len) = (g.input[2], g.output[2], g.kernel[0] * g.kernel[1]);
        let fc = l.filter.len() / (oc * taps_len);
        let opg = oc / (ic / fc);
        oracle(g, &l.out, |oy, ox, o| {
            let mut acc = i64::from(l.bias[o]);
            for (t, pixel) in taps(g, oy, ox) {
                for k in 0..fc {
                    let code = l.x[pixel * ic + (o / opg) * fc + k];
                    let w = l.filter[(o * taps_len + t) * fc + k];
                    acc += (value(code, l.in_bits) - i64::from(l.input_zp)) * i64::from(w);
                }
            }
            acc
        })
    }

    fn int8_run(c: &Case, kernel: Int8Kernel) -> impl FnMut(Window, WindowMut) {
        let (p, mut scratch) = (c.params(), c.scratch());
        move |x, y| kernel(&p, x, y, &mut scratch)
    }

    fn lowbit_run(c: &Case, kernel: LowbitKernel, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
        kernel(&c.params(), x, y, clean)
    }
}

/// Random convolutions: `spatial` geometry, `groups` x `fc` input channels,
/// `groups` x `opg` output channels, (input, output) widths from `widths`.
fn case(
    spatial: impl Strategy<Value = Spatial>,
    groups: impl Strategy<Value = usize>,
    fc: impl Strategy<Value = usize>,
    opg: impl Strategy<Value = usize>,
    widths: impl Strategy<Value = (u32, u32)>,
) -> impl Strategy<Value = Case> {
    (spatial, groups, fc, opg, widths).prop_flat_map(|((hw, k, s, d, same), groups, fc, opg, widths)| {
        let (ic, oc) = (groups * fc, groups * opg);
        let g = geometry([hw[0], hw[1], ic], oc, k, s, d, same);
        let scratch = prop_oneof![4 => Just(true), 1 => Just(false)];
        windowed(
            g,
            oc * k[0] * k[1] * fc,
            widths,
            scratch.prop_map(|scratch| Conv { scratch }),
        )
    })
}

/// Grouped convolutions of any geometry.
fn general(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    case(spatial(), 1usize..=3, 1usize..=4, 1usize..=6, widths)
}

/// Spatial part of 1x1 convolutions without padding (stride 1 or 2).
fn pointwise_spatial() -> impl Strategy<Value = Spatial> {
    (
        [1usize..=7, 1usize..=7],
        prop_oneof![3 => Just(1usize), 1 => Just(2)],
        any::<bool>(),
    )
        .prop_map(|(hw, s, same)| (hw, [1, 1], [s, s], [1, 1], same))
}

/// 1x1 convolutions without padding, grouped sometimes.
fn pointwise(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    case(
        pointwise_spatial(),
        prop_oneof![3 => Just(1usize), 1 => 2usize..=3],
        1usize..=24,
        1usize..=19,
        widths,
    )
}

/// One-group convolutions of any geometry (the DSP form's).
fn one_group(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    case(spatial(), Just(1usize), 1usize..=6, 1usize..=9, widths)
}

/// Deep 1x1 convolutions (the packed path's 255-channel chunks, and beyond
/// `PACK_CHANNELS` the general path), odd strides and widths.
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
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn int8_general(c in general(int8())) {
        int8_forms_match_naive(c)?;
    }

    #[test]
    fn int8_pointwise(c in pointwise(int8())) {
        prop_assert!(is_pointwise(&c.g));
        int8_forms_match_naive(c)?;
    }

    /// One group: the DSP form on any kernel, stride, dilation, padding, odd
    /// depths and pixel counts.
    #[test]
    fn int8_one_group(c in one_group(int8())) {
        int8_forms_match_naive(c)?;
    }

    #[test]
    fn int8_dense_3x3(c in case(
        ([2usize..=9, 2usize..=9], 1usize..=2, any::<bool>()).prop_map(|(hw, s, same)| (hw, [3, 3], [s, s], [1, 1], same)),
        Just(1usize), 1usize..=9, 1usize..=9, int8(),
    )) {
        prop_assert!(is_dsp_conv(&c.params(), 8));
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
    fn lowbit_pointwise(c in pointwise(widths())) {
        lowbit_forms_match_naive(c)?;
    }

    #[test]
    fn lowbit_one_group(c in one_group(widths())) {
        lowbit_forms_match_naive(c)?;
    }

    /// 2- and 4-bit inputs of whole words per pixel: the DSP form's
    /// word-at-a-time expansion of packed codes.
    #[test]
    fn lowbit_pointwise_packed_codes(c in case(
        ([1usize..=4, 1usize..=5], Just(1usize)).prop_map(|(hw, s)| (hw, [1, 1], [s, s], [1, 1], false)),
        Just(1usize),
        prop_oneof![Just(4usize), Just(8), Just(16), Just(24), Just(40)],
        1usize..=5,
        (prop_oneof![Just(2u32), Just(4)], bits()),
    )) {
        prop_assert!(is_dsp_conv(&c.params(), c.layer.in_bits));
        lowbit_forms_match_naive(c)?;
    }
}

/// 3x3 one-group convolutions whose filter rows exceed `MAX_ROW` (the DSP
/// form's per-kernel-row segments), ResNet depths among them.
fn long_rows(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    let spatial = ([1usize..=5, 1usize..=5], 1usize..=2, any::<bool>())
        .prop_map(|(hw, s, same)| (hw, [3, 3], [s, s], [1, 1], same));
    case(
        spatial,
        Just(1usize),
        prop_oneof![29usize..=40, Just(64)],
        1usize..=5,
        widths,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn int8_long_rows(c in long_rows(int8())) {
        prop_assert!(is_dsp_conv(&c.params(), 8));
        int8_forms_match_naive(c)?;
    }

    #[test]
    fn lowbit_long_rows(c in long_rows(widths())) {
        prop_assert!(is_dsp_conv(&c.params(), c.layer.in_bits));
        lowbit_forms_match_naive(c)?;
    }

    #[test]
    fn int8_deep_pointwise(c in deep_pointwise(int8())) {
        int8_forms_match_naive(c)?;
    }

    #[test]
    fn lowbit_deep_pointwise(c in deep_pointwise(widths())) {
        lowbit_forms_match_naive(c)?;
    }

    /// Extreme codes and weights: the packed lanes' worst case.
    #[test]
    fn deep_pointwise_extremes(
        mut c in deep_pointwise(prop_oneof![1 => int8(), 3 => (1u32..=8, bits())]),
        high in any::<bool>(),
        w in prop_oneof![Just(-128i8), Just(127i8)],
    ) {
        // The lowest and highest value as stored codes.
        let l = &mut c.layer;
        let (lo, hi) = if l.in_bits == 8 { (0x80, 0x7f) } else { (0, ((1u16 << l.in_bits) - 1) as u8) };
        l.x.fill(if high { hi } else { lo });
        l.filter.fill(w);
        if l.out.bits == 8 && l.in_bits == 8 {
            int8_forms_match_naive(c)?;
        } else {
            lowbit_forms_match_naive(c)?;
        }
    }
}

#[test]
fn every_width_pair_matches_naive() {
    every_pair(4, |a, b| general(Just((a, b))), lowbit_forms_match_naive);
    every_pair(2, |a, b| pointwise(Just((a, b))), lowbit_forms_match_naive);
    every_pair(2, |a, b| one_group(Just((a, b))), lowbit_forms_match_naive);
}

#[test]
fn larger_window_than_needed() {
    // x.rect larger than input_rect(y.rect): the kernel reads by map coordinates.
    let g = geometry([6, 6, 2], 3, [3, 3], [1, 1], [1, 1], true);
    let filter: Vec<i8> = (0..3 * 9 * 2).map(|i| (i * 7 % 23) as i8 - 11).collect();
    let x: Vec<u8> = (0..72).map(|i| (i * 13 % 251) as u8).collect();
    let c = Case {
        g,
        layer: Layer {
            in_bits: 8,
            input_zp: -5,
            x,
            filter,
            bias: std::vec![1, -2, 3],
            out: Requant {
                bits: 8,
                mult: std::vec![1 << 30],
                shift: std::vec![-3],
                offset: -4,
                min: -128,
                max: 127,
            },
            bounds: Bounds::widest(),
        },
        grid: (Vec::new(), Vec::new()),
        op: Conv { scratch: true },
    };
    let full = c.want();
    let tile = Rect { y: 2, x: 1, h: 2, w: 3 };
    let mut y = std::vec![0i8; tile.area() * 3];
    let mut scratch = c.scratch();
    let x = pack(&c.layer.x, 8);
    let xw = Window {
        data: &x,
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

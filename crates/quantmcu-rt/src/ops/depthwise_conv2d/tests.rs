//! Every form of the depthwise convolution against one naive oracle, on one
//! case generator: the int8 kernel (dispatching, portable, DSP and in-place
//! forms; the dispatching kernel also tile by tile) at 8 bits in and out,
//! the low-bit forms (dispatching, portable and DSP) at every pair of
//! widths, with their outlier checks, and the plane-rows form (whole map and
//! tile by tile) at every input width with int8 output.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::ops::testutil::codes::{
    bits, every_pair, int8, oracle, pack, tiled_map as tiled_codes, value, whole_map as whole_map_codes, widths,
    Spatial,
};
use crate::ops::testutil::windowed::{self, windowed, Op, Windowed};
use crate::ops::testutil::{geometry, spatial, taps};
use crate::view::{Clean, Codes, CodesMut, Outlier, Window, WindowMut};

/// A depthwise convolution's case draws nothing of its own.
#[derive(Clone, Debug)]
struct Depthwise;

/// One random depthwise convolution between maps of any widths, with its
/// input.
type Case = Windowed<Depthwise>;

/// Signature of the int8 forms.
type Int8Kernel = fn(&DepthwiseConv2dParams, Window, WindowMut);

/// Signature of the in-place forms.
type InPlaceKernel = fn(&DepthwiseConv2dParams, &mut [i8], &mut [i8]);

/// Signature of the low-bit forms.
type LowbitKernel = fn(&DepthwiseConv2dParams, Codes, CodesMut, Option<Clean>) -> Result<(), Outlier>;

impl Case {
    fn params(&self) -> DepthwiseConv2dParams<'_> {
        DepthwiseConv2dParams {
            geometry: self.g,
            input_offset: -self.layer.input_zp,
            filter: &self.layer.filter,
            bias: &self.layer.bias,
            output: self.layer.out.stage(),
        }
    }

    /// The in-place form: the input map's buffer, holding the output map at
    /// its start on return.
    fn in_place(&self, kernel: InPlaceKernel) -> Vec<i8> {
        let [oh, ow, oc] = self.g.output;
        let mut buf = pack(&self.layer.x, 8);
        let mut temp = std::vec![0i8; in_place_temp_len(&self.g)];
        kernel(&self.params(), &mut buf, &mut temp);
        buf.truncate(oh * ow * oc);
        buf
    }
}

impl Op for Depthwise {
    type Int8 = Int8Kernel;
    type Lowbit = LowbitKernel;
    const INT8: [Int8Kernel; 3] = [depthwise_conv2d, depthwise_conv2d_portable, depthwise_conv2d_dsp_int8];
    #[cfg(target_arch = "x86_64")]
    const INT8_SIMD: &'static [Int8Kernel] = &[x86::depthwise_conv2d_x86];
    #[cfg(target_arch = "x86_64")]
    const LOWBIT_SIMD: &'static [LowbitKernel] = &[x86::depthwise_conv2d_lowbit_x86];
    const LOWBIT: [LowbitKernel; 3] = [
        depthwise_conv2d_lowbit,
        depthwise_conv2d_lowbit_portable,
        depthwise_conv2d_lowbit_dsp,
    ];

    fn dsp(c: &Case, in_bits: u32) -> bool {
        is_dsp_depthwise(&c.params(), in_bits)
    }

    fn naive(c: &Case) -> (Vec<i64>, Vec<u8>) {
        let (g, l) = (&c.g, &c.layer);
        let (ic, oc) = (g.input[2], g.output[2]);
        let m = oc / ic;
        oracle(g, &l.out, |oy, ox, o| {
            let mut acc = i64::from(l.bias[o]);
            for (t, pixel) in taps(g, oy, ox) {
                let code = l.x[pixel * ic + o / m];
                let w = l.filter[t * oc + o];
                acc += (value(code, l.in_bits) - i64::from(l.input_zp)) * i64::from(w);
            }
            acc
        })
    }

    fn int8_run(c: &Case, kernel: Int8Kernel) -> impl FnMut(Window, WindowMut) {
        let p = c.params();
        move |x, y| kernel(&p, x, y)
    }

    fn lowbit_run(c: &Case, kernel: LowbitKernel, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
        kernel(&c.params(), x, y, clean)
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
    (spatial, ic, m, widths).prop_flat_map(|((hw, k, s, d, same), ic, m, widths)| {
        let oc = ic * m;
        let g = geometry([hw[0], hw[1], ic], oc, k, s, d, same);
        windowed(g, k[0] * k[1] * oc, widths, Just(Depthwise))
    })
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

/// The plane-rows form writes the oracle's bytes, on the whole map and tile
/// by tile, wherever it runs (int8 output, [`is_plane_rows`] at the input
/// width); returns whether it ran.
fn plane_rows_match_naive(c: &Case) -> Result<bool, TestCaseError> {
    let (p, in_bits) = (c.params(), c.layer.in_bits);
    if c.layer.out.bits != 8 || !is_plane_rows(&p, in_bits) {
        return Ok(false);
    }
    let want = c.want();
    let x = pack(&c.layer.x, in_bits);
    let run = |x: Codes, y: CodesMut| {
        depthwise_conv2d_plane_rows(
            &p,
            x,
            WindowMut {
                data: y.data,
                rect: y.rect,
            },
        );
        Ok(())
    };
    prop_assert_eq!(
        whole_map_codes(&c.g, 8, &x, in_bits, run),
        Ok(want.clone()),
        "plane rows"
    );
    prop_assert_eq!(
        tiled_codes(&c.g, 8, &c.grid, &x, in_bits, run),
        Ok(want),
        "plane rows, tiled"
    );
    Ok(true)
}

/// Every low-bit form writes the oracle's codes (see
/// [`windowed::lowbit_forms_match_naive`]), and so does the plane-rows form.
fn lowbit_forms_match_naive(c: Case) -> Result<(), TestCaseError> {
    plane_rows_match_naive(&c)?;
    windowed::lowbit_forms_match_naive(c)
}

/// The in-place and plane-rows forms write the oracle's bytes where they
/// run, and so does every other form (see
/// [`windowed::int8_forms_match_naive`]).
fn int8_forms_match_naive(c: Case) -> Result<(), TestCaseError> {
    plane_rows_match_naive(&c)?;
    if can_run_in_place(&c.g) {
        let want = c.want();
        prop_assert_eq!(&c.in_place(depthwise_conv2d_in_place), &want, "in place");
        prop_assert_eq!(
            &c.in_place(depthwise_conv2d_in_place_portable),
            &want,
            "in place, portable"
        );
        #[cfg(target_arch = "x86_64")]
        prop_assert_eq!(&c.in_place(x86::in_place_x86), &want, "in place, simd");
        if is_plane_rows_in_place(&c.params()) {
            let plane_rows =
                |p: &DepthwiseConv2dParams, buf: &mut [i8], _: &mut [i8]| depthwise_conv2d_plane_rows_in_place(p, buf);
            prop_assert_eq!(&c.in_place(plane_rows), &want, "in place, plane rows");
        }
    }
    windowed::int8_forms_match_naive(c)
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

/// 3x3 depthwise convolutions the plane-rows form takes: multiplier 1, no
/// dilation, stride 1 or 2, odd and even widths (some wider than one column
/// chunk), any padding, 1 to 35 channels, any input width, int8 output.
fn plane_rows_shapes() -> impl Strategy<Value = Case> {
    let spatial = prop_oneof![
        4 => ([1usize..=9, 1usize..=12], 1usize..=2, any::<bool>()),
        1 => ([1usize..=3, 250usize..=520], 1usize..=2, any::<bool>()),
    ]
    .prop_map(|(hw, s, same)| (hw, [3, 3], [s, s], [1, 1], same));
    let ic = prop_oneof![1usize..=6, 7usize..=35];
    case(spatial, ic, Just(1usize), (bits(), Just(8u32)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The plane-rows form on the shapes it takes (most cases: it needs the
    /// short requantization of every channel).
    #[test]
    fn plane_rows_shapes_match_naive(c in plane_rows_shapes()) {
        let ran = plane_rows_match_naive(&c)?;
        prop_assume!(ran);
        windowed::lowbit_forms_match_naive(c)?;
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
        prop_assert!(is_dsp_depthwise(&c.params(), c.layer.in_bits));
        lowbit_forms_match_naive(c)?;
    }
}

#[test]
fn every_width_pair_matches_naive() {
    every_pair(4, |a, b| general(Just((a, b))), lowbit_forms_match_naive);
}

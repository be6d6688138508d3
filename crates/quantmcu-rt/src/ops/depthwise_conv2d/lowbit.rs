//! DEPTHWISE_CONV_2D over maps of any width: output channel `o` reads input
//! channel `o / multiplier`, `acc = bias[o] + sum((v + input_offset) * w)`
//! over the taps inside the input, then the clean check and the output
//! stage. At 8 bits in and out this is exactly
//! [`super::depthwise_conv2d`].

use super::dsp::{depthwise_conv2d_dsp, is_dsp_depthwise};
use super::params::DepthwiseConv2dParams;
use crate::view::{emit, Clean, Codes, CodesMut, Outlier, TapRange};

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)`; stops at the first
/// accumulator outside `clean`.
///
/// # Panics
///
/// As [`super::depthwise_conv2d`].
pub fn depthwise_conv2d_lowbit(
    p: &DepthwiseConv2dParams,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    if cfg!(feature = "dsp") && is_dsp_depthwise(p, x.bits) {
        return depthwise_conv2d_lowbit_dsp(p, x, y, clean);
    }
    depthwise_conv2d_lowbit_portable(p, x, y, clean)
}

/// The convolution through [`depthwise_conv2d_dsp`] (the `dsp` feature's
/// path); `p` must satisfy [`is_dsp_depthwise`] at the input's width.
pub fn depthwise_conv2d_lowbit_dsp(
    p: &DepthwiseConv2dParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let r = y.rect;
    depthwise_conv2d_dsp(p, x, r, clean.as_ref(), |at: usize, vals: &[i32]| y.store_run(at, vals))
}

/// [`depthwise_conv2d_lowbit`] without the `dsp` feature's DSP form: the reference
/// that form is checked against (on the host and on the target).
pub fn depthwise_conv2d_lowbit_portable(
    p: &DepthwiseConv2dParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let g = &p.geometry;
    let (ic, oc) = (g.input[2], g.output[2]);
    let [kh, kw] = g.kernel;
    if ic == 0 || oc < ic || kh == 0 || kw == 0 {
        return Ok(());
    }
    let m = oc / ic;
    for oy in y.rect.y..y.rect.y + y.rect.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
        for ox in y.rect.x..y.rect.x + y.rect.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
            let out_at = y.rect.offset(oy, ox, oc);
            for o in 0..oc {
                let mut acc = p.bias[o];
                for ky in ry.lo..ry.hi {
                    for kx in rx.lo..rx.hi {
                        let v = x.value(x.rect.offset(ry.at(ky), rx.at(kx), ic) + o / m);
                        let w = i32::from(p.filter[(ky * kw + kx) * oc + o]);
                        acc = acc.wrapping_add(v.wrapping_add(p.input_offset).wrapping_mul(w));
                    }
                }
                emit(&mut y, out_at + o, acc, o, &p.output, clean.as_ref())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    use super::*;
    use crate::geometry::{Geometry, Rect};
    use crate::ops::testutil::codes::{
        any_outlier, bits, bounds, codes, every_pair, pack, requant_to, tiled, value, zero_point, zeroed, Bounds,
        Requant, Spatial,
    };
    use crate::ops::testutil::{bytes, geometry, grid, spatial};
    use crate::view::{Window, WindowMut};

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

        /// The kernel on the whole output map (a zeroed packed buffer).
        fn full(&self, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
            self.full_with(depthwise_conv2d_lowbit, clean)
        }

        /// `kernel` on the whole output map (a zeroed packed buffer).
        fn full_with(
            &self,
            kernel: fn(&DepthwiseConv2dParams, Codes, CodesMut, Option<Clean>) -> Result<(), Outlier>,
            clean: Option<Clean>,
        ) -> Result<Vec<i8>, Outlier> {
            let [ih, iw, _] = self.g.input;
            let [oh, ow, oc] = self.g.output;
            let x = pack(&self.x, self.in_bits);
            let mut y = zeroed(oh * ow * oc, self.out.bits);
            kernel(
                &self.params(),
                Codes {
                    data: &x,
                    rect: Rect::full(ih, iw),
                    bits: self.in_bits,
                },
                CodesMut {
                    data: &mut y,
                    rect: Rect::full(oh, ow),
                    bits: self.out.bits,
                },
                clean,
            )?;
            Ok(y)
        }

        /// The kernel tile by tile over the case's grid.
        fn tiled(&self) -> Vec<i8> {
            let p = self.params();
            let [_, iw, ic] = self.g.input;
            let [oh, ow, oc] = self.g.output;
            let x = pack(&self.x, self.in_bits);
            tiled(
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

        /// Naive reference: the exact accumulators and output codes of the
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
    }

    /// Random depthwise convolutions: `spatial` geometry, `ic` input
    /// channels, depth multiplier `m`, (input, output) widths from `widths`.
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

    /// Depthwise convolutions of any geometry, multiplier 1 to 3 (2 most
    /// often).
    fn general(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
        case(
            spatial(),
            1usize..=5,
            prop_oneof![2 => Just(1usize), 3 => Just(2usize), 1 => Just(3usize)],
            widths,
        )
    }

    /// 3x3 depthwise convolutions with multiplier 1, up to 35 channels (the
    /// int8 kernel's specialised path and channel blocks).
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

    /// The whole map equals the reference, and so does the tiled run.
    fn matches_naive_and_tiles(c: Case) -> Result<(), TestCaseError> {
        let full = c.full(None).unwrap();
        prop_assert_eq!(&full, &pack(&c.naive().1, c.out.bits));
        prop_assert_eq!(&c.tiled(), &full);
        Ok(())
    }

    /// With random bounds the kernel fails iff a reference accumulator is
    /// outside them, and otherwise writes the reference output.
    fn outlier_iff_outside_bounds(c: Case) -> Result<(), TestCaseError> {
        let (accs, want) = c.naive();
        let oc = c.g.output[2];
        let (lo, hi) = c.bounds.place(&accs, oc);
        let got = c.full(Some(Clean { lo: &lo, hi: &hi }));
        if any_outlier(&lo, &hi, &accs, oc) {
            prop_assert_eq!(got, Err(Outlier));
        } else {
            prop_assert_eq!(got, Ok(pack(&want, c.out.bits)));
        }
        Ok(())
    }

    /// The DSP form (emulated off `arm`) writes the reference codes and
    /// detects exactly the reference's outliers.
    fn dsp_matches_naive(c: Case) -> Result<(), TestCaseError> {
        prop_assert!(is_dsp_depthwise(&c.params(), c.in_bits));
        let (accs, want) = c.naive();
        prop_assert_eq!(
            c.full_with(depthwise_conv2d_lowbit_dsp, None).unwrap(),
            pack(&want, c.out.bits)
        );
        let oc = c.g.output[2];
        let (lo, hi) = c.bounds.place(&accs, oc);
        let got = c.full_with(depthwise_conv2d_lowbit_dsp, Some(Clean { lo: &lo, hi: &hi }));
        if any_outlier(&lo, &hi, &accs, oc) {
            prop_assert_eq!(got, Err(Outlier));
        } else {
            prop_assert_eq!(got, Ok(pack(&want, c.out.bits)));
        }
        Ok(())
    }

    /// At 8 bits in and out the kernel writes the int8 kernel's bytes.
    fn equals_int8_kernel(c: Case) -> Result<(), TestCaseError> {
        let [ih, iw, _] = c.g.input;
        let [oh, ow, oc] = c.g.output;
        let x = pack(&c.x, 8);
        let mut want = std::vec![0i8; oh * ow * oc];
        crate::ops::depthwise_conv2d::depthwise_conv2d(
            &c.params(),
            Window {
                data: &x,
                rect: Rect::full(ih, iw),
            },
            WindowMut {
                data: &mut want,
                rect: Rect::full(oh, ow),
            },
        );
        prop_assert_eq!(c.full(None).unwrap(), want);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn general_matches_naive_and_tiles(c in general((bits(), bits()))) {
            matches_naive_and_tiles(c)?;
        }

        #[test]
        fn general_outlier_iff_outside_bounds(c in general((bits(), bits()))) {
            outlier_iff_outside_bounds(c)?;
        }

        /// Every geometry up to 5x5, depths of whole 2-bit groups, input
        /// widths 2, 4 and 8 (the DSP form's), any output width.
        #[test]
        fn dsp_form_matches_naive(c in case(
            spatial().prop_filter("<= 25 taps", |s| s.1[0] * s.1[1] <= 25),
            prop_oneof![Just(16usize), Just(32)],
            Just(1usize),
            (prop_oneof![Just(2u32), Just(4), Just(8)], bits()),
        )) {
            dsp_matches_naive(c)?;
        }

        #[test]
        fn general_equals_int8_kernel_at_8_bits(c in general(Just((8, 8)))) {
            equals_int8_kernel(c)?;
        }

        #[test]
        fn three_by_three_equals_int8_kernel_at_8_bits(c in three_by_three(Just((8, 8)))) {
            equals_int8_kernel(c)?;
        }
    }

    #[test]
    fn every_width_pair_matches_naive_and_tiles() {
        every_pair(4, |a, b| general(Just((a, b))), matches_naive_and_tiles);
    }
}

//! The int8 ADD and its low-bit form against one naive oracle, on one case
//! generator: the int8 kernel at 8 bits everywhere (whole map and in two
//! slices), the low-bit form at every triple of widths (whole map, tile by
//! tile, with its outlier check).

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::fixedpoint::quantize_multiplier;
use crate::geometry::Rect;
use crate::ops::testutil::codes::{
    any_outlier, bits, bounds, clamp, codes, every_pair, pack, tiled, value, zero_point, zeroed, Bounds,
};
use crate::ops::testutil::grid;
use crate::view::{Clean, Codes, CodesMut, Outlier};

/// One random ADD of two maps of any widths into a map of any width.
#[derive(Debug)]
struct Case {
    hw: [usize; 2],
    channels: usize,
    /// Widths of `a`, `b` and the output.
    bits: [u32; 3],
    p: AddParams,
    /// Codes of the two inputs, `[h][w][c]`.
    a: Vec<u8>,
    b: Vec<u8>,
    bounds: Bounds,
    grid: (Vec<u16>, Vec<u16>),
}

impl Case {
    fn n(&self) -> usize {
        self.hw[0] * self.hw[1] * self.channels
    }

    /// The kernel on the whole map (a zeroed packed buffer).
    fn full(&self, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
        let rect = Rect::full(self.hw[0], self.hw[1]);
        let (a, b) = (pack(&self.a, self.bits[0]), pack(&self.b, self.bits[1]));
        let mut y = zeroed(self.n(), self.bits[2]);
        add_lowbit(
            &self.p,
            Codes {
                data: &a,
                rect,
                bits: self.bits[0],
            },
            Codes {
                data: &b,
                rect,
                bits: self.bits[1],
            },
            CodesMut {
                data: &mut y,
                rect,
                bits: self.bits[2],
            },
            self.channels,
            clean,
        )?;
        Ok(y)
    }

    /// The kernel tile by tile: `b` and the output as tile buffers, `a`
    /// as the whole map (a window larger than the tile).
    fn tiled(&self) -> Vec<i8> {
        let a = pack(&self.a, self.bits[0]);
        let a = Codes {
            data: &a,
            rect: Rect::full(self.hw[0], self.hw[1]),
            bits: self.bits[0],
        };
        tiled(
            self.hw,
            self.channels,
            self.bits[2],
            &self.grid,
            &pack(&self.b, self.bits[1]),
            self.bits[1],
            self.hw[1],
            self.channels,
            |r| *r,
            |b, y| add_lowbit(&self.p, a, b, y, self.channels, None),
        )
        .unwrap()
    }

    /// Naive reference: the sums (before the output rescale) and the
    /// output codes, element by element.
    fn naive(&self) -> (Vec<i64>, Vec<u8>) {
        let p = &self.p;
        let scaled = |code: u8, k: usize| {
            let shifted = (value(code, self.bits[k]) + i64::from(p.input_offsets[k])) << LEFT_SHIFT;
            assert!(i32::try_from(shifted).is_ok());
            i64::from(multiply_by_quantized_multiplier(
                shifted as i32,
                p.input_multipliers[k],
                p.input_shifts[k],
            ))
        };
        let (mut sums, mut out) = (Vec::new(), Vec::new());
        for (&qa, &qb) in self.a.iter().zip(&self.b) {
            let sum = scaled(qa, 0) + scaled(qb, 1);
            assert!(i32::try_from(sum).is_ok());
            let r = i64::from(multiply_by_quantized_multiplier(
                sum as i32,
                p.output_multiplier,
                p.output_shift,
            ));
            sums.push(sum);
            out.push((r + i64::from(p.output_offset)).clamp(i64::from(p.min), i64::from(p.max)) as u8);
        }
        (sums, out)
    }
}

/// Random ADDs of up to 6 x 6 pixels and 1 to 9 channels (up to 324
/// elements: the AVX2 form's 16-element steps and its tail), widths (`a`,
/// `b`, output) from `widths`, parameters derived from random scales the
/// way tflite-micro's Prepare derives them.
fn case(widths: impl Strategy<Value = [u32; 3]>) -> impl Strategy<Value = Case> {
    ([1usize..=6, 1usize..=6], 1usize..=9, widths).prop_flat_map(|(hw, channels, bits)| {
        let n = hw[0] * hw[1] * channels;
        (
            (Just(hw), Just(channels), Just(bits)),
            [zero_point(bits[0]), zero_point(bits[1]), zero_point(bits[2])],
            [-10.0f64..0.0, -10.0f64..0.0, -10.0f64..0.0],
            clamp(bits[2]),
            (codes(n, bits[0]), codes(n, bits[1])),
            bounds(channels),
            grid(),
        )
            .prop_map(|((hw, channels, bits), zps, exps, range, (a, b), bounds, grid)| {
                let (sa, sb, so) = (exps[0].exp2(), exps[1].exp2(), exps[2].exp2());
                let twice_max = 2.0 * sa.max(sb);
                let (ma, sha) = quantize_multiplier(sa / twice_max);
                let (mb, shb) = quantize_multiplier(sb / twice_max);
                let (mo, sho) = quantize_multiplier(twice_max / (f64::from(1 << LEFT_SHIFT) * so));
                let p = AddParams {
                    input_offsets: [-zps[0], -zps[1]],
                    input_multipliers: [ma, mb],
                    input_shifts: [sha, shb],
                    output_multiplier: mo,
                    output_shift: sho,
                    output_offset: zps[2],
                    min: range.0,
                    max: range.1,
                };
                Case {
                    hw,
                    channels,
                    bits,
                    p,
                    a,
                    b,
                    bounds,
                    grid,
                }
            })
    })
}

/// The whole map equals the reference, and so does the tiled run.
fn matches_naive_and_tiles(c: Case) -> Result<(), TestCaseError> {
    let full = c.full(None).unwrap();
    prop_assert_eq!(&full, &pack(&c.naive().1, c.bits[2]));
    prop_assert_eq!(&c.tiled(), &full);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn add_matches_naive_and_tiles(c in case([bits(), bits(), bits()])) {
        matches_naive_and_tiles(c)?;
    }

    /// With random bounds the kernel fails iff a reference sum is
    /// outside them, and otherwise writes the reference output.
    #[test]
    fn outlier_iff_outside_bounds(c in case([bits(), bits(), bits()])) {
        let (sums, want) = c.naive();
        let (lo, hi) = c.bounds.place(&sums, c.channels);
        let got = c.full(Some(Clean { lo: &lo, hi: &hi }));
        if any_outlier(&lo, &hi, &sums, c.channels) {
            prop_assert_eq!(got, Err(Outlier));
        } else {
            prop_assert_eq!(got, Ok(pack(&want, c.bits[2])));
        }
    }

    /// At 8 bits everywhere both int8 forms (reference, table)
    /// writes the oracle's bytes, on the whole map and in two slices (a tile
    /// of an elementwise op).
    #[test]
    fn int8_matches_naive(c in case(Just([8, 8, 8]))) {
        let want = pack(&c.naive().1, 8);
        let (a, b) = (pack(&c.a, 8), pack(&c.b, 8));
        for kernel in INT8 {
            let mut y = std::vec![0i8; c.n()];
            kernel(&c.p, &a, &b, &mut y);
            prop_assert_eq!(&y, &want);
            let half = c.n() / 2;
            let mut y2 = std::vec![0i8; c.n()];
            kernel(&c.p, &a[..half], &b[..half], &mut y2[..half]);
            kernel(&c.p, &a[half..], &b[half..], &mut y2[half..]);
            prop_assert_eq!(&y2, &want);
        }
    }

}

/// Signature of the int8 forms.
type Int8Kernel = fn(&AddParams, &[i8], &[i8], &mut [i8]);

/// [`AddTable`] built for the call, as an [`Int8Kernel`].
fn table(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    AddTable::new(p).add(a, b, y);
}

/// [`AddTable::add_portable`] built for the call, as an [`Int8Kernel`].
fn table_portable(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    AddTable::new(p).add_portable(a, b, y);
}

/// [`x86::add_table_x86`] built for the call, as an [`Int8Kernel`].
#[cfg(target_arch = "x86_64")]
fn table_x86(p: &AddParams, a: &[i8], b: &[i8], y: &mut [i8]) {
    x86::add_table_x86(&AddTable::new(p), a, b, y);
}

/// The int8 forms: the reference, the table (dispatching and portable) and
/// on x86-64 the table's AVX2 form.
#[cfg(not(target_arch = "x86_64"))]
const INT8: [Int8Kernel; 3] = [add, table, table_portable];
#[cfg(target_arch = "x86_64")]
const INT8: [Int8Kernel; 4] = [add, table, table_portable, table_x86];

#[test]
fn every_width_triple_matches_naive_and_tiles() {
    for out in 1..=8 {
        every_pair(1, |a, b| case(Just([a, b, out])), matches_naive_and_tiles);
    }
}

#[test]
fn equal_scales_add_values() {
    // Scales 1, 1 -> output 2: real sum / 2, zero points 0.
    let (m, s) = quantize_multiplier(0.5);
    let (mo, so) = quantize_multiplier(2.0 / (f64::from(1 << LEFT_SHIFT) * 2.0));
    let p = AddParams {
        input_offsets: [0, 0],
        input_multipliers: [m, m],
        input_shifts: [s, s],
        output_multiplier: mo,
        output_shift: so,
        output_offset: 0,
        min: -128,
        max: 127,
    };
    let mut y = [0i8; 3];
    add(&p, &[10, -20, 100], &[30, -40, 100], &mut y);
    assert_eq!(y, [20, -30, 100]);
}

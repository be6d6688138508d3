//! The int8 FULLY_CONNECTED and its low-bit form against one naive oracle,
//! on one case generator: the int8 kernel at 8 bits in and out, the low-bit
//! form at every pair of widths (all rows, by row blocks, with its outlier
//! check).

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::geometry::Rect;
use crate::ops::testutil::codes::{any_outlier, bits, every_pair, pack, tiled, value, zeroed};
use crate::ops::testutil::layer::{layer, Layer};
use crate::view::{Clean, Codes, CodesMut, Outlier};

/// One random fully connected layer between maps of any widths, with its
/// input.
#[derive(Debug)]
struct Case {
    rows: usize,
    depth: usize,
    /// Input codes `[rows][depth]`, weights `[units][depth]`.
    layer: Layer,
    /// Cut points of the row blocks of the tiled run.
    cuts: Vec<u16>,
}

impl Case {
    fn units(&self) -> usize {
        self.layer.bias.len()
    }

    fn params(&self) -> FullyConnectedParams<'_> {
        FullyConnectedParams {
            input_offset: -self.layer.input_zp,
            filter: &self.layer.filter,
            bias: &self.layer.bias,
            output: self.layer.out.stage(),
        }
    }

    /// The kernel on all rows (a zeroed packed buffer).
    fn full(&self, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
        let x = pack(&self.layer.x, self.layer.in_bits);
        let mut y = zeroed(self.rows * self.units(), self.layer.out.bits);
        fully_connected_lowbit(
            &self.params(),
            Codes {
                data: &x,
                rect: Rect::full(1, self.rows * self.depth),
                bits: self.layer.in_bits,
            },
            CodesMut {
                data: &mut y,
                rect: Rect::full(1, self.rows * self.units()),
                bits: self.layer.out.bits,
            },
            clean,
        )?;
        Ok(y)
    }

    /// The kernel block of rows by block of rows, each block's input in
    /// its own packed buffer.
    fn tiled(&self) -> Vec<i8> {
        let p = self.params();
        let x = pack(&self.layer.x, self.layer.in_bits);
        let depth = self.depth;
        tiled(
            [self.rows, self.units()],
            1,
            self.layer.out.bits,
            &(self.cuts.clone(), Vec::new()),
            &x,
            self.layer.in_bits,
            depth,
            1,
            |r| Rect {
                y: r.y,
                x: 0,
                h: r.h,
                w: depth,
            },
            |x, y| fully_connected_lowbit(&p, x, y, None),
        )
        .unwrap()
    }

    /// Naive reference: the exact accumulators and output codes, i64.
    fn naive(&self) -> (Vec<i64>, Vec<u8>) {
        let (mut accs, mut out) = (Vec::new(), Vec::new());
        for r in 0..self.rows {
            for u in 0..self.units() {
                let mut acc = i64::from(self.layer.bias[u]);
                for d in 0..self.depth {
                    let v =
                        value(self.layer.x[r * self.depth + d], self.layer.in_bits) - i64::from(self.layer.input_zp);
                    acc += v * i64::from(self.layer.filter[u * self.depth + d]);
                }
                accs.push(acc);
                out.push(self.layer.out.code(acc, u));
            }
        }
        (accs, out)
    }
}

/// Random layers: 1 to 3 rows, 1 to 11 units, depth 0 to 40, (input,
/// output) widths from `widths`.
fn case(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    (1usize..=3, 1usize..=11, 0usize..=40, widths).prop_flat_map(|(rows, units, depth, widths)| {
        (
            layer(rows * depth, units * depth, units, -30000..30000, widths),
            prop::collection::vec(any::<u16>(), 0..3),
        )
            .prop_map(move |(layer, cuts)| Case {
                rows,
                depth,
                layer,
                cuts,
            })
    })
}

/// All rows equal the reference, and so does the run by row blocks.
fn matches_naive_and_tiles(c: Case) -> Result<(), TestCaseError> {
    let full = c.full(None).unwrap();
    prop_assert_eq!(&full, &pack(&c.naive().1, c.layer.out.bits));
    prop_assert_eq!(&c.tiled(), &full);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn matches_naive_and_row_blocks(c in case((bits(), bits()))) {
        matches_naive_and_tiles(c)?;
    }

    /// With random bounds the kernel fails iff a reference accumulator
    /// is outside them, and otherwise writes the reference output.
    #[test]
    fn outlier_iff_outside_bounds(c in case((bits(), bits()))) {
        let (accs, want) = c.naive();
        let (lo, hi) = c.layer.bounds.place(&accs, c.units());
        let got = c.full(Some(Clean { lo: &lo, hi: &hi }));
        if any_outlier(&lo, &hi, &accs, c.units()) {
            prop_assert_eq!(got, Err(Outlier));
        } else {
            prop_assert_eq!(got, Ok(pack(&want, c.layer.out.bits)));
        }
    }

    /// At 8 bits in and out the int8 kernel writes the oracle's bytes.
    #[test]
    fn int8_matches_naive(c in case(Just((8, 8)))) {
        let mut y = std::vec![0i8; c.rows * c.units()];
        fully_connected(&c.params(), &pack(&c.layer.x, 8), &mut y);
        prop_assert_eq!(y, pack(&c.naive().1, 8));
    }
}

#[test]
fn every_width_pair_matches_naive_and_row_blocks() {
    every_pair(4, |a, b| case(Just((a, b))), matches_naive_and_tiles);
}

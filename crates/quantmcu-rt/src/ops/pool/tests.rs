//! The int8 poolings and their low-bit forms against one naive oracle, on
//! one case generator: the int8 kernels at 8 bits in and out, the low-bit
//! forms at every pair of widths with their outlier checks, all on the
//! whole map and tile by tile.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::fixedpoint::quantize_multiplier;
use crate::geometry::Geometry;
use crate::ops::testutil::codes::{
    any_outlier, bits, bounds, clamp, codes, every_pair, oracle, pack, tiled_map, value, value_range, whole_map,
    zero_point, Bounds, Requant,
};
use crate::ops::testutil::{geometry, grid, taps, tiled_map as tiled_int8, whole_map as whole_map_int8};
use crate::view::{Clean, Codes, CodesMut, Outlier};

/// One random pooling between maps of any widths, with its input.
#[derive(Debug)]
struct Case {
    g: Geometry,
    /// `Pool2dParams::min`/`max` (unused by these kernels).
    range: (i32, i32),
    in_bits: u32,
    input_zp: i32,
    /// Input codes, `[h][w][c]`.
    x: Vec<u8>,
    /// Per-tensor requantization from the input scale to the output.
    out: Requant,
    bounds: Bounds,
    grid: (Vec<u16>, Vec<u16>),
}

/// Signature of the two pooling kernels.
type Kernel = fn(&Pool2dParams, &PoolRescale, Codes, CodesMut, Option<Clean>) -> Result<(), Outlier>;

/// The average (`avg`) or the max pooling kernel.
fn kernel(avg: bool) -> Kernel {
    if avg {
        average_pool2d_lowbit
    } else {
        max_pool2d_lowbit
    }
}

impl Case {
    fn params(&self) -> Pool2dParams {
        Pool2dParams {
            geometry: self.g,
            min: self.range.0,
            max: self.range.1,
        }
    }

    fn rescale(&self) -> PoolRescale<'_> {
        PoolRescale {
            input_offset: -self.input_zp,
            output: self.out.stage(),
        }
    }

    /// The kernel on the whole output map (a zeroed packed buffer).
    fn full(&self, avg: bool, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
        let x = pack(&self.x, self.in_bits);
        whole_map(&self.g, self.out.bits, &x, self.in_bits, |x, y| {
            kernel(avg)(&self.params(), &self.rescale(), x, y, clean)
        })
    }

    /// The kernel tile by tile over the case's grid.
    fn tiled(&self, avg: bool) -> Vec<i8> {
        let (p, r) = (self.params(), self.rescale());
        let x = pack(&self.x, self.in_bits);
        tiled_map(&self.g, self.out.bits, &self.grid, &x, self.in_bits, |x, y| {
            kernel(avg)(&p, &r, x, y, None)
        })
        .unwrap()
    }

    /// Naive reference: the accumulators (pooled value minus the input
    /// zero point) and output codes, full-map loops over every tap. The
    /// average rounds half away from zero; the maximum of no taps is the
    /// lowest input value.
    fn naive(&self, avg: bool) -> (Vec<i64>, Vec<u8>) {
        let c = self.g.input[2];
        oracle(&self.g, &self.out, |oy, ox, ch| {
            let (mut sum, mut count, mut max) = (0i64, 0i64, i64::from(value_range(self.in_bits).0));
            for (_, pixel) in taps(&self.g, oy, ox) {
                let v = value(self.x[pixel * c + ch], self.in_bits);
                sum += v;
                count += 1;
                max = max.max(v);
            }
            let pooled = if !avg {
                max
            } else if count == 0 {
                0
            } else {
                let q = (2 * sum.abs() + count) / (2 * count);
                if sum < 0 {
                    -q
                } else {
                    q
                }
            };
            pooled - i64::from(self.input_zp)
        })
    }
}

/// Random poolings: windows up to 4 x 4, strides 1 to 3, dilation 1 (2
/// sometimes), 1 to 20 channels, (input, output) widths from `widths`,
/// a per-tensor rescale by a random ratio within a factor of 8 of
/// `2^(output bits - input bits)`.
fn case(widths: impl Strategy<Value = (u32, u32)>) -> impl Strategy<Value = Case> {
    (
        [1usize..=11, 1usize..=11],
        prop_oneof![[1usize..=4, 1usize..=4], Just([3usize, 3]), Just([2usize, 2])],
        [1usize..=3, 1usize..=3],
        prop_oneof![3 => Just([1usize, 1]), 1 => [1usize..=2, 1usize..=2]],
        1usize..=20,
        any::<bool>(),
        widths,
    )
        .prop_flat_map(|(hw, k, s, d, c, same, (ib, ob))| {
            let g = geometry([hw[0], hw[1], c], c, k, s, d, same);
            (
                (Just(g), crate::ops::testutil::clamp(), Just(ib), zero_point(ib)),
                codes(hw[0] * hw[1] * c, ib),
                (Just(ob), -3.0f64..3.0, zero_point(ob), clamp(ob)),
                bounds(c),
                grid(),
            )
                .prop_map(
                    |((g, range, in_bits, input_zp), x, (bits, e, offset, (min, max)), bounds, grid)| {
                        let (m, s) = quantize_multiplier((e + f64::from(bits) - f64::from(in_bits)).exp2());
                        Case {
                            g,
                            range,
                            in_bits,
                            input_zp,
                            x,
                            out: Requant {
                                bits,
                                mult: std::vec![m],
                                shift: std::vec![s],
                                offset,
                                min,
                                max,
                            },
                            bounds,
                            grid,
                        }
                    },
                )
        })
}

/// The whole map equals the reference, and so does the tiled run.
fn matches_naive_and_tiles(c: &Case, avg: bool) -> Result<(), TestCaseError> {
    let full = c.full(avg, None).unwrap();
    prop_assert_eq!(&full, &pack(&c.naive(avg).1, c.out.bits));
    prop_assert_eq!(&c.tiled(avg), &full);
    Ok(())
}

/// With random bounds the kernel fails iff a reference accumulator is
/// outside them, and otherwise writes the reference output.
fn outlier_iff_outside_bounds(c: &Case, avg: bool) -> Result<(), TestCaseError> {
    let (accs, want) = c.naive(avg);
    let ch = c.g.input[2];
    let (lo, hi) = c.bounds.place(&accs, ch);
    let got = c.full(avg, Some(Clean { lo: &lo, hi: &hi }));
    if any_outlier(&lo, &hi, &accs, ch) {
        prop_assert_eq!(got, Err(Outlier));
    } else {
        prop_assert_eq!(got, Ok(pack(&want, c.out.bits)));
    }
    Ok(())
}

/// At 8 bits in and out the int8 kernel (`avg`: the average) writes the
/// oracle's pooled values clamped to the params' range, on the whole map and
/// tile by tile.
fn int8_matches_naive_and_tiles(c: &Case, avg: bool) -> Result<(), TestCaseError> {
    let want: Vec<i8> = c
        .naive(avg)
        .0
        .iter()
        .map(|&acc| (acc + i64::from(c.input_zp)).clamp(i64::from(c.range.0), i64::from(c.range.1)) as i8)
        .collect();
    let f = if avg { average_pool2d } else { max_pool2d };
    let p = c.params();
    let x = pack(&c.x, 8);
    prop_assert_eq!(&whole_map_int8(&c.g, &x, |x, y| f(&p, x, y)), &want);
    let tiles = tiled_int8(&c.g, &c.grid, &x, |x, y| f(&p, x, y));
    prop_assert_eq!(&tiles, &want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn average_matches_naive_and_tiles(c in case((bits(), bits()))) {
        matches_naive_and_tiles(&c, true)?;
    }

    #[test]
    fn max_matches_naive_and_tiles(c in case((bits(), bits()))) {
        matches_naive_and_tiles(&c, false)?;
    }

    #[test]
    fn average_outlier_iff_outside_bounds(c in case((bits(), bits()))) {
        outlier_iff_outside_bounds(&c, true)?;
    }

    #[test]
    fn max_outlier_iff_outside_bounds(c in case((bits(), bits()))) {
        outlier_iff_outside_bounds(&c, false)?;
    }

    #[test]
    fn int8_average_matches_naive_and_tiles(c in case(Just((8, 8)))) {
        int8_matches_naive_and_tiles(&c, true)?;
    }

    #[test]
    fn int8_max_matches_naive_and_tiles(c in case(Just((8, 8)))) {
        int8_matches_naive_and_tiles(&c, false)?;
    }
}

#[test]
fn every_width_pair_matches_naive_and_tiles() {
    every_pair(4, |a, b| case(Just((a, b))), |c| matches_naive_and_tiles(&c, true));
    every_pair(4, |a, b| case(Just((a, b))), |c| matches_naive_and_tiles(&c, false));
}

#[test]
fn average_rounds_half_away_from_zero() {
    assert_eq!(int8::average(5, 2), 3);
    assert_eq!(int8::average(-5, 2), -3);
    assert_eq!(int8::average(4, 3), 1);
    assert_eq!(int8::average(-4, 3), -1);
    assert_eq!(int8::average(7, 0), 0);
}

//! The int8 PAD and its low-bit form against one naive oracle, on one case
//! generator: the int8 kernel at 8 bits, the low-bit form at every width,
//! both on the whole map and tile by tile.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::geometry::Rect;
use crate::ops::testutil::codes::{bits, codes, pack, run_cases, tiled as tiled_codes, zero_point, zeroed};
use crate::ops::testutil::{grid, tiled};
use crate::view::{Codes, CodesMut, Window, WindowMut};

/// One random PAD of a map of any width, with its input.
#[derive(Debug)]
struct Case {
    p: PadParams,
    bits: u32,
    after: [usize; 2],
    /// Input codes, `[h][w][c]`.
    x: Vec<u8>,
    grid: (Vec<u16>, Vec<u16>),
}

impl Case {
    fn out_hw(&self) -> [usize; 2] {
        let [ih, iw, _] = self.p.input;
        [
            ih + self.p.before[0] + self.after[0],
            iw + self.p.before[1] + self.after[1],
        ]
    }

    /// The kernel on the whole output map (a zeroed packed buffer).
    fn full(&self) -> Vec<i8> {
        let [ih, iw, c] = self.p.input;
        let [oh, ow] = self.out_hw();
        let x = pack(&self.x, self.bits);
        let mut y = zeroed(oh * ow * c, self.bits);
        pad_lowbit(
            &self.p,
            Codes {
                data: &x,
                rect: Rect::full(ih, iw),
                bits: self.bits,
            },
            CodesMut {
                data: &mut y,
                rect: Rect::full(oh, ow),
                bits: self.bits,
            },
        );
        y
    }

    /// The kernel tile by tile over the case's grid.
    fn tiled(&self) -> Vec<i8> {
        let [_, iw, c] = self.p.input;
        tiled_codes(
            self.out_hw(),
            c,
            self.bits,
            &self.grid,
            &pack(&self.x, self.bits),
            self.bits,
            iw,
            c,
            |r| pad_input_rect(&self.p, r),
            |x, y| {
                pad_lowbit(&self.p, x, y);
                Ok(())
            },
        )
        .unwrap()
    }

    /// Naive reference: the output codes, the fill code outside the
    /// input.
    fn naive(&self) -> Vec<u8> {
        let [ih, iw, c] = self.p.input;
        let [oh, ow] = self.out_hw();
        let mut y = Vec::new();
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let (iy, ix) = (oy as i64 - self.p.before[0] as i64, ox as i64 - self.p.before[1] as i64);
                    let inside = iy >= 0 && ix >= 0 && iy < ih as i64 && ix < iw as i64;
                    y.push(if inside {
                        self.x[(iy as usize * iw + ix as usize) * c + ch]
                    } else {
                        self.p.value as u8
                    });
                }
            }
        }
        y
    }
}

/// Random PADs of up to 8 x 8 x 5 inputs, up to 3 pixels on every side,
/// the fill a random zero point of the width from `width`.
fn case(width: impl Strategy<Value = u32>) -> impl Strategy<Value = Case> {
    (
        [1usize..=8, 1usize..=8, 1usize..=5],
        [0usize..=3, 0usize..=3],
        [0usize..=3, 0usize..=3],
        width,
    )
        .prop_flat_map(|(input, before, after, bits)| {
            (
                (Just(input), Just(before), Just(after), Just(bits)),
                zero_point(bits),
                codes(input[0] * input[1] * input[2], bits),
                grid(),
            )
                .prop_map(|((input, before, after, bits), zp, x, grid)| Case {
                    p: PadParams {
                        input,
                        before,
                        value: zp as i8,
                    },
                    bits,
                    after,
                    x,
                    grid,
                })
        })
}

/// The whole map equals the reference, and so does the tiled run.
fn matches_naive_and_tiles(c: Case) -> Result<(), TestCaseError> {
    let full = c.full();
    prop_assert_eq!(&full, &pack(&c.naive(), c.bits));
    prop_assert_eq!(&c.tiled(), &full);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn pad_matches_naive_and_tiles(c in case(bits())) {
        matches_naive_and_tiles(c)?;
    }

    /// At 8 bits the int8 kernel writes the oracle's bytes, on the whole
    /// map and tile by tile.
    #[test]
    fn int8_matches_naive_and_tiles(c in case(Just(8))) {
        let [ih, iw, ch] = c.p.input;
        let [oh, ow] = c.out_hw();
        let x = pack(&c.x, 8);
        let want = pack(&c.naive(), 8);
        let mut y = std::vec![0i8; oh * ow * ch];
        pad(
            &c.p,
            Window { data: &x, rect: Rect::full(ih, iw) },
            WindowMut { data: &mut y, rect: Rect::full(oh, ow) },
        );
        prop_assert_eq!(&y, &want);
        let tiles = tiled([oh, ow], ch, &c.grid, &x, iw, ch, |r| pad_input_rect(&c.p, r), |x, y| pad(&c.p, x, y));
        prop_assert_eq!(&tiles, &want);
    }
}

#[test]
fn every_width_matches_naive_and_tiles() {
    for bits in 1..=8 {
        run_cases(
            &std::format!("width {bits}"),
            16,
            case(Just(bits)),
            matches_naive_and_tiles,
        );
    }
}

#[test]
fn input_rect_of_padding_only_tile_is_empty() {
    let p = PadParams {
        input: [4, 4, 1],
        before: [2, 2],
        value: 0,
    };
    assert_eq!(pad_input_rect(&p, &Rect { y: 0, x: 0, h: 2, w: 2 }).area(), 0);
    assert_eq!(
        pad_input_rect(&p, &Rect { y: 1, x: 1, h: 3, w: 7 }),
        Rect { y: 0, x: 0, h: 2, w: 4 }
    );
}

//! PAD, int8, spatial padding only: the input `[H][W][C]` placed at (`top`,
//! `left`) inside an output map of `(H + top + bottom) x (W + left + right)`
//! pixels filled with `value` (the output zero point). Bytes are copied
//! unchanged, so the result is exact by construction.

use crate::geometry::Rect;
use crate::view::{Window, WindowMut};

/// Constants of one spatial PAD.
#[derive(Clone, Copy, Debug)]
pub struct PadParams {
    /// Full input map: height, width, channels.
    pub input: [usize; 3],
    /// Rows above and columns to the left of the input.
    pub before: [usize; 2],
    /// Fill value of the padding.
    pub value: i8,
}

/// The input rows and columns output rect `out` copies, clipped to the input
/// (empty, at the clipped position, when `out` lies wholly in the padding).
pub fn pad_input_rect(p: &PadParams, out: &Rect) -> Rect {
    let span = |start: usize, len: usize, axis: usize| -> (usize, usize) {
        let lo = start.saturating_sub(p.before[axis]).min(p.input[axis]);
        let hi = (start + len).saturating_sub(p.before[axis]).min(p.input[axis]);
        (lo, hi.max(lo))
    };
    let (y0, y1) = span(out.y, out.h, 0);
    let (x0, x1) = span(out.x, out.w, 1);
    Rect {
        y: y0,
        x: x0,
        h: y1 - y0,
        w: x1 - x0,
    }
}

/// Computes the output pixels of `y.rect` (all channels): pixel (`oy`, `ox`)
/// is input pixel (`oy - top`, `ox - left`) when that lies inside the input,
/// else `value`. `x` must hold at least [`pad_input_rect`]`(p, &y.rect)`.
pub fn pad(p: &PadParams, x: Window, y: WindowMut) {
    let [ih, iw, c] = p.input;
    let [top, left] = p.before;
    let row_len = y.rect.w * c;
    if row_len == 0 {
        return;
    }
    // Output columns that hold input pixels.
    let cx0 = left.clamp(y.rect.x, y.rect.x + y.rect.w);
    let cx1 = (left + iw).clamp(cx0, y.rect.x + y.rect.w);
    for (r, row) in y.data.chunks_exact_mut(row_len).take(y.rect.h).enumerate() {
        let oy = y.rect.y + r;
        if oy < top || oy - top >= ih || cx0 == cx1 {
            row.fill(p.value);
            continue;
        }
        let (a, b) = ((cx0 - y.rect.x) * c, (cx1 - y.rect.x) * c);
        row[..a].fill(p.value);
        row[b..].fill(p.value);
        let src = x.rect.offset(oy - top, cx0 - left, c);
        row[a..b].copy_from_slice(&x.data[src..src + (b - a)]);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::ops::testutil::{bytes, grid, tiled};

    fn naive(p: &PadParams, out_hw: [usize; 2], x: &[i8]) -> Vec<i8> {
        let [ih, iw, c] = p.input;
        let mut y = Vec::new();
        for oy in 0..out_hw[0] {
            for ox in 0..out_hw[1] {
                for ch in 0..c {
                    let (iy, ix) = (oy as i64 - p.before[0] as i64, ox as i64 - p.before[1] as i64);
                    let inside = iy >= 0 && ix >= 0 && iy < ih as i64 && ix < iw as i64;
                    y.push(if inside {
                        x[(iy as usize * iw + ix as usize) * c + ch]
                    } else {
                        p.value
                    });
                }
            }
        }
        y
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn pad_matches_naive_and_tiles(
            (p, after, x, grid) in ([1usize..=8, 1usize..=8, 1usize..=5], [0usize..=3, 0usize..=3], [0usize..=3, 0usize..=3], any::<i8>())
                .prop_flat_map(|(input, before, after, value)| (
                    Just(PadParams { input, before, value }),
                    Just(after),
                    bytes(input[0] * input[1] * input[2]),
                    grid(),
                ))
        ) {
            let [ih, iw, c] = p.input;
            let out_hw = [ih + p.before[0] + after[0], iw + p.before[1] + after[1]];
            let mut full = std::vec![0i8; out_hw[0] * out_hw[1] * c];
            pad(&p, Window { data: &x, rect: Rect::full(ih, iw) }, WindowMut { data: &mut full, rect: Rect::full(out_hw[0], out_hw[1]) });
            prop_assert_eq!(&full, &naive(&p, out_hw, &x));
            let tiles = tiled(out_hw, c, &grid, &x, iw, c, |r| pad_input_rect(&p, r), |x, y| pad(&p, x, y));
            prop_assert_eq!(&tiles, &full);
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
}

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

//! PAD over a map of any width: codes are copied unchanged and the border
//! holds `value` (the map's zero-point code), so input and output share
//! their width and quantization. Equals [`super::int8::pad`] at 8
//! bits.

use super::int8::PadParams;
use crate::view::{Codes, CodesMut};

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least [`super::int8::pad_input_rect`]`(p, &y.rect)`.
pub fn pad_lowbit(p: &PadParams, x: Codes, mut y: CodesMut) {
    let [ih, iw, c] = p.input;
    let [top, left] = p.before;
    let r = y.rect;
    for oy in r.y..r.y + r.h {
        for ox in r.x..r.x + r.w {
            let at = r.offset(oy, ox, c);
            let inside = oy >= top && oy - top < ih && ox >= left && ox - left < iw;
            for k in 0..c {
                let v = if inside {
                    x.value(x.rect.offset(oy - top, ox - left, c) + k)
                } else {
                    i32::from(p.value)
                };
                y.store(at + k, v);
            }
        }
    }
}

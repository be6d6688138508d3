//! Windows of feature maps: which rows and columns of a map a tile covers, and
//! which input rows and columns a sliding-window op needs to produce them.
//!
//! Maps are NHWC with batch 1. A [`Rect`] selects rows `y..y+h` and columns
//! `x..x+w` (all channels); a buffer holding a rect stores it compactly,
//! row-major `[h][w][c]`.

/// A rectangle of rows and columns of a feature map (all channels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    pub y: usize,
    pub x: usize,
    pub h: usize,
    pub w: usize,
}

impl Rect {
    /// The whole `h x w` map.
    pub const fn full(h: usize, w: usize) -> Self {
        Rect { y: 0, x: 0, h, w }
    }

    /// Number of pixels.
    pub const fn area(&self) -> usize {
        self.h * self.w
    }

    /// True when `other` lies inside `self` (an empty `other` always does).
    pub const fn contains(&self, other: &Rect) -> bool {
        other.area() == 0
            || other.y >= self.y
                && other.x >= self.x
                && other.y + other.h <= self.y + self.h
                && other.x + other.w <= self.x + self.w
    }

    /// Offset of pixel (`y`, `x`) (map coordinates, inside the rect) in a
    /// compact buffer of this rect with `c` channels.
    #[inline]
    pub const fn offset(&self, y: usize, x: usize, c: usize) -> usize {
        ((y - self.y) * self.w + (x - self.x)) * c
    }
}

/// Geometry of a sliding-window op (convolution, depthwise convolution,
/// pooling) between a full input map and a full output map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Full input map: height, width, channels.
    pub input: [usize; 3],
    /// Full output map: height, width, channels.
    pub output: [usize; 3],
    /// Kernel height and width.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Padding before the first row and column (TFLite puts the odd extra
    /// padding after the last one); padded taps read nothing.
    pub pad: [usize; 2],
}

impl Geometry {
    /// The input rows and columns that output `out` reads, clipped to the map
    /// (taps in the padding read nothing).
    pub fn input_rect(&self, out: &Rect) -> Rect {
        let span = |start: usize, len: usize, axis: usize| -> (usize, usize) {
            let first = (start * self.stride[axis]) as isize - self.pad[axis] as isize;
            if len == 0 {
                let at = first.clamp(0, self.input[axis] as isize) as usize;
                return (at, at);
            }
            let last = ((start + len - 1) * self.stride[axis] + (self.kernel[axis] - 1) * self.dilation[axis]) as isize
                - self.pad[axis] as isize;
            let lo = first.max(0) as usize;
            let hi = (last + 1).clamp(0, self.input[axis] as isize) as usize;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv3x3s2() -> Geometry {
        Geometry {
            input: [9, 9, 1],
            output: [5, 5, 1],
            kernel: [3, 3],
            stride: [2, 2],
            dilation: [1, 1],
            pad: [1, 1],
        }
    }

    #[test]
    fn input_rect_clips_padding() {
        let g = conv3x3s2();
        assert_eq!(g.input_rect(&Rect::full(5, 5)), Rect::full(9, 9));
        assert_eq!(
            g.input_rect(&Rect { y: 0, x: 0, h: 1, w: 1 }),
            Rect { y: 0, x: 0, h: 2, w: 2 }
        );
        assert_eq!(
            g.input_rect(&Rect { y: 2, x: 3, h: 2, w: 1 }),
            Rect { y: 3, x: 5, h: 5, w: 3 }
        );
    }

    #[test]
    fn dilation_widens_the_window() {
        let g = Geometry {
            dilation: [2, 2],
            stride: [1, 1],
            pad: [2, 2],
            output: [9, 9, 1],
            ..conv3x3s2()
        };
        assert_eq!(
            g.input_rect(&Rect { y: 4, x: 4, h: 1, w: 1 }),
            Rect { y: 2, x: 2, h: 5, w: 5 }
        );
    }
}

//! Windows of int8 feature maps and the taps of a sliding window that fall
//! inside the input.

use crate::geometry::Rect;

/// A read-only window of a feature map: the buffer holds `rect` compactly.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    pub data: &'a [i8],
    pub rect: Rect,
}

/// A writable window of a feature map.
#[derive(Debug)]
pub struct WindowMut<'a> {
    pub data: &'a mut [i8],
    pub rect: Rect,
}

/// The taps of a sliding window along one axis that fall inside the input:
/// for output coordinate `out`, taps `k` in `lo..hi` read input coordinate
/// `start + k * dilation`, all inside `0..input`; taps outside are padding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TapRange {
    pub lo: usize,
    pub hi: usize,
    pub start: isize,
    pub step: usize,
}

impl TapRange {
    /// Valid taps of output coordinate `out` (a dilation of 0 counts as 1).
    #[inline]
    pub(crate) fn new(out: usize, stride: usize, pad: usize, dilation: usize, kernel: usize, input: usize) -> Self {
        let start = (out * stride) as isize - pad as isize;
        let d = dilation.max(1) as isize;
        if start >= 0 && kernel > 0 && start + (kernel as isize - 1) * d < input as isize {
            // Every tap inside (the common case): no divisions.
            return TapRange {
                lo: 0,
                hi: kernel,
                start,
                step: d as usize,
            };
        }
        let lo = if start < 0 { (-start + d - 1) / d } else { 0 };
        let hi = if (input as isize) > start {
            (input as isize - start + d - 1) / d
        } else {
            0
        };
        let hi = hi.min(kernel as isize).max(0) as usize;
        TapRange {
            lo: (lo as usize).min(hi),
            hi,
            start,
            step: d as usize,
        }
    }

    /// Input coordinate of tap `k` (only meaningful for `lo <= k < hi`).
    #[inline]
    pub(crate) fn at(&self, k: usize) -> usize {
        (self.start + (k * self.step) as isize) as usize
    }

    /// True when every one of the `kernel` taps is inside the input.
    #[inline]
    pub(crate) fn full(&self, kernel: usize) -> bool {
        self.lo == 0 && self.hi == kernel
    }
}

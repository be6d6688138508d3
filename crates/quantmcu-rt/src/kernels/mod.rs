//! Integer kernels of the runtime (int8 activations, int8 weights, int32
//! accumulators, TFLite requantization). Each kernel computes the output
//! pixels of one [`Rect`] from a buffer holding (at least) the input rect that
//! [`crate::geometry::Geometry::input_rect`] gives for it, so the same code runs a whole layer
//! or one tile of a patch-based schedule. The host crate's reference executor
//! is the oracle every kernel here is tested against.

use crate::geometry::Rect;

/// Requantization of int32 accumulators to int8: per output channel (or one
/// entry for all channels) a Q31 multiplier and shift, then the output zero
/// point, then the clamp `[min, max]` of the fused activation.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage<'a> {
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub offset: i32,
    pub min: i32,
    pub max: i32,
}

impl OutputStage<'_> {
    /// The int8 output of accumulator `acc` of channel `c`.
    #[inline]
    pub fn apply(&self, acc: i32, c: usize) -> i8 {
        let c = if self.multiplier.len() == 1 { 0 } else { c };
        let r = crate::fixedpoint::multiply_by_quantized_multiplier(acc, self.multiplier[c], self.shift[c]);
        r.saturating_add(self.offset).clamp(self.min, self.max) as i8
    }
}

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

pub mod add;
pub mod conv2d;
pub mod conv2d_smlad;
pub mod depthwise_conv2d;
pub mod depthwise_conv2d_in_place;
pub mod depthwise_conv2d_smla;
pub mod fully_connected;
pub mod mean;
pub mod pad;
pub mod pool;
pub mod requantize;

#[cfg(test)]
pub(crate) mod testutil;

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

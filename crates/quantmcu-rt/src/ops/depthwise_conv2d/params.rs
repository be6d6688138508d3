//! The constants of one depthwise convolution, shared by every form.

use crate::geometry::Geometry;
use crate::view::OutputStage;

/// Constants of one depthwise convolution.
#[derive(Clone, Copy, Debug)]
pub struct DepthwiseConv2dParams<'a> {
    /// Full input and output maps (`out_c = in_c * multiplier`), kernel,
    /// stride, dilation, padding.
    pub geometry: Geometry,
    /// Minus the input zero point.
    pub input_offset: i32,
    /// `[kh][kw][out_c]`.
    pub filter: &'a [i8],
    /// `[out_c]`.
    pub bias: &'a [i32],
    /// Requantization to the int8 output (per output channel or per tensor).
    pub output: OutputStage<'a>,
}

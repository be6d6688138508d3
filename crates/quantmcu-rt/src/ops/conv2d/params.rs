//! The constants of one convolution, shared by every form.

use crate::geometry::Geometry;
use crate::view::OutputStage;

/// Constants of one convolution.
#[derive(Clone, Copy, Debug)]
pub struct Conv2dParams<'a> {
    /// Full input and output maps, kernel, stride, dilation, padding.
    pub geometry: Geometry,
    /// Minus the input zero point.
    pub input_offset: i32,
    /// `[out_c][kh][kw][in_c / groups]`.
    pub filter: &'a [i8],
    /// `[out_c]`.
    pub bias: &'a [i32],
    /// Requantization to the int8 output (per output channel or per tensor).
    pub output: OutputStage<'a>,
}

/// True when every output pixel reads exactly one input pixel (1x1 kernel, no
/// padding, the strided grid inside the input).
pub(crate) fn is_pointwise(g: &Geometry) -> bool {
    let inside = |a: usize| g.output[a] == 0 || (g.output[a] - 1) * g.stride[a] < g.input[a];
    g.kernel == [1, 1] && g.pad == [0, 0] && inside(0) && inside(1)
}

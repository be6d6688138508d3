//! Integer kernels of the runtime (int8 activations, int8 weights, int32
//! accumulators, TFLite requantization). Each kernel computes the output
//! pixels of one [`crate::geometry::Rect`] from a buffer holding (at least) the input rect that
//! [`crate::geometry::Geometry::input_rect`] gives for it, so the same code runs a whole layer
//! or one tile of a patch-based schedule. The host crate's reference executor
//! is the oracle every kernel here is tested against.

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

//! The kernels of the runtime, one folder per op: int8 activations, int8
//! weights, int32 accumulators, TFLite requantization. Each kernel computes
//! the output pixels of one [`crate::geometry::Rect`] from a buffer holding
//! (at least) the input rect that [`crate::geometry::Geometry::input_rect`]
//! gives for it, so the same code runs a whole layer or one tile of a
//! patch-based schedule. The host crate's reference executor is the oracle
//! every int8 kernel here is tested against.
//!
//! Each op's `lowbit` form runs the mixed-precision path of a plan: maps of
//! any width from 1 to 8 bits ([`crate::view::Codes`]), every kernel the int8
//! kernel's integer formula with the code's value in place of the int8 value
//! (the parameters are derived on the host for each pair of input and output
//! widths). With the *direct* numerics a kernel writing a map that may turn
//! outlier gets the accumulator bounds [`crate::view::Clean`] of that map's
//! clean range; the first accumulator outside them stops it with
//! [`crate::view::Outlier`] (the caller then reruns the op with its 8-bit
//! output variant). With the *int8-first* numerics every producer writes
//! int8 and [`recode`] turns a clean tile's map into codes, so no op runs
//! twice. At 8 bits in and out the low-bit forms equal the int8 kernels,
//! which are the fast path of that case.

pub mod add;
pub mod conv2d;
pub mod depthwise_conv2d;
pub mod fully_connected;
pub mod mean;
pub mod pad;
pub mod pool;
pub mod recode;
pub mod requantize;

#[cfg(test)]
pub(crate) mod testutil;

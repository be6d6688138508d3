//! Kernels over feature maps of any width from 1 to 8 bits: the
//! mixed-precision path of a plan (DESIGN.md, "Numerics").
//!
//! A map at `b < 8` bits stores unsigned codes `u` in `0..2^b`, packed as
//! [`crate::packed`] describes ([`crate::view::Codes`]); a map at 8 bits is plain int8 (each byte an
//! `i8`). Either way a code reads as an `i32` value `v` with
//! `real = scale * (v - zero_point)`, so every kernel here is the int8
//! kernel's integer formula with `v` in place of the int8 value: the
//! parameters (input offset = minus the input zero point, bias, Q31
//! multipliers, output zero point, clamp to the output's code range) are
//! derived on the host for each (input bits, output bits) pair.
//!
//! A kernel writing a map that may turn outlier gets the accumulator bounds
//! [`crate::view::Clean`] of that map's clean range; the first accumulator outside them
//! stops the kernel with [`crate::view::Outlier`] (the caller then reruns the op with its
//! 8-bit output variant, so an outlier tile costs one partial pass). The
//! int8 kernels of [`crate::kernels`] are the fast path of the 8-bit to 8-bit
//! case and equal these kernels there.

pub mod add;
pub mod conv2d;
pub mod depthwise_conv2d;
pub mod fully_connected;
pub mod pad;
pub mod pool;

#[cfg(test)]
pub(crate) mod testutil;

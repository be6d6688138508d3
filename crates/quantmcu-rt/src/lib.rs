//! `quantmcu-rt`: the `no_std`, allocation-free integer runtime of quantmcu.
//!
//! It holds the arithmetic shared by the host library and the microcontroller:
//! TFLite's fixed-point requantization ([`fixedpoint`]).
#![no_std]
#![forbid(unsafe_code)]

pub mod fixedpoint;
pub mod softmax;

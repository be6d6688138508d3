//! `quantmcu-rt`: the `no_std`, allocation-free integer runtime of quantmcu.
//!
//! It holds what the host library and the microcontroller share: TFLite's
//! fixed-point requantization ([`fixedpoint`]), int8 softmax ([`softmax`]),
//! feature-map windows ([`geometry`]), the tile-capable kernels
//! ([`kernels`]), packed low-bit activations ([`packed`]) and the plan format
//! ([`plan`]) with its interpreter ([`interpreter`]).
#![no_std]
#![forbid(unsafe_code)]

pub mod fixedpoint;
pub mod geometry;
pub mod interpreter;
pub mod kernels;
pub mod lowbit;
pub mod packed;
pub mod plan;
pub mod softmax;

//! `quantmcu-rt`: the `no_std`, allocation-free integer runtime of quantmcu.
//!
//! It holds what the host library and the microcontroller share: TFLite's
//! fixed-point requantization ([`fixedpoint`]), int8 softmax ([`softmax`]),
//! feature-map windows ([`geometry`]), the views every kernel shares
//! ([`view`]), the tile-capable kernels, one folder per op ([`ops`]), packed
//! low-bit activations ([`packed`]) and the plan format ([`plan`]) with its
//! interpreter ([`interpreter`]).
//!
//! Feature `dsp` (Cortex-M4/M7/M33 and other cores with the DSP extension):
//! the hot kernels use their DSP forms, written in the extension's
//! instructions ([`dsp`], one instruction per `asm!` block) and in a few
//! hand-written loops per op (each op's `dsp_loops`): the only `unsafe` code
//! of the crate. Without it, or off `arm`, those forms still exist with
//! emulated instructions (tests compare them with the portable kernels), and
//! the portable kernels run.
//!
//! Feature `c-abi`: the `qmcu_*` C functions ([`c_abi`]) that the
//! `quantmcu-c` static library exports to C firmware.
//!
//! Feature `std` (the host library): the kernels' x86-64 AVX2 forms run
//! where the CPU has AVX2 ([`simd`], runtime detection), unless the
//! environment variable `QUANTMCU_RT_PORTABLE` is set.
#![no_std]
#![deny(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(feature = "c-abi")]
pub mod c_abi;
pub mod dsp;
pub mod fixedpoint;
pub mod geometry;
pub mod interpreter;
pub mod ops;
pub mod packed;
pub mod plan;
#[cfg(any(test, feature = "std"))]
pub mod simd;
pub mod softmax;
pub mod view;

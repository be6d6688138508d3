//! DEPTHWISE_CONV_2D, int8, x86-64 AVX2 forms (host builds with the feature
//! `std`): the portable, in-place and low-bit kernels' own code compiled with AVX2
//! enabled, so the compiler vectorizes their channel loops. The integer
//! operations are the portable ones (wrapping int32 sums, the scalar output
//! stage); only instruction selection differs, so results are bit-exact.
#![allow(unsafe_code)]

use super::in_place::{depthwise_conv2d_in_place_portable, in_place};
use super::lowbit::{depthwise_conv2d_lowbit_portable, lowbit};
use super::portable::{depthwise_conv2d_portable, portable};
use super::DepthwiseConv2dParams;
use crate::simd;
use crate::view::{Clean, Codes, CodesMut, Outlier, Window, WindowMut};

/// [`depthwise_conv2d_portable`]'s result, compiled for AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn depthwise_conv2d_x86(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    if !simd::avx2() {
        return depthwise_conv2d_portable(p, x, y);
    }
    // SAFETY: `simd::avx2()` held, so the CPU executes AVX2 instructions.
    unsafe { out_of_place_avx2(p, x, y) }
}

/// [`depthwise_conv2d_in_place_portable`]'s result, compiled for AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn in_place_x86(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    if !simd::avx2() {
        return depthwise_conv2d_in_place_portable(p, buf, temp);
    }
    // SAFETY: as in `depthwise_conv2d_x86`.
    unsafe { in_place_avx2(p, buf, temp) }
}

/// [`depthwise_conv2d_lowbit_portable`]'s result, compiled for AVX2 when
/// [`simd::avx2`] holds. Same contract and panics.
pub fn depthwise_conv2d_lowbit_x86(
    p: &DepthwiseConv2dParams,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    if !simd::avx2() {
        return depthwise_conv2d_lowbit_portable(p, x, y, clean);
    }
    // SAFETY: as in `depthwise_conv2d_x86`.
    unsafe { lowbit_avx2(p, x, y, clean) }
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn lowbit_avx2(p: &DepthwiseConv2dParams, x: Codes, y: CodesMut, clean: Option<Clean>) -> Result<(), Outlier> {
    lowbit(p, x, y, clean)
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn out_of_place_avx2(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    portable(p, x, y)
}

/// # Safety
///
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn in_place_avx2(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    in_place(p, buf, temp)
}

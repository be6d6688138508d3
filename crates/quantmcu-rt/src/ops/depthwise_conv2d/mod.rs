//! DEPTHWISE_CONV_2D, int8, bit-exact with tflite-micro's reference
//! `DepthwiseConvPerChannel`.
//!
//! With depth multiplier `m = out_c / in_c`, output channel `c * m + j` filters
//! input channel `c`: its accumulator is `bias[o] + sum((x + input_offset) * w)`
//! over the taps inside the input (padding taps contribute nothing), in
//! wrapping 32-bit arithmetic, then [`crate::view::OutputStage::apply`]
//! (TFLite double rounding).
//!
//! The forms, all equal bit for bit: [`portable`] (int8, the reference),
//! [`dsp`] (multiplier 1, depths of whole 4-channel groups, with the Cortex-M
//! DSP extension, on int8 or 4-/2-bit codes), [`in_place`] (multiplier 1 over
//! whole maps, the output overwriting the input), [`lowbit`] (maps of any
//! width from 1 to 8 bits, with the clean check) and [`plane_rows`] (3x3,
//! multiplier 1, stride 1 or 2, any input width, int8 output, with the DSP
//! extension). [`depthwise_conv2d`] and
//! [`depthwise_conv2d_lowbit`] pick the plane-rows form, else the DSP form,
//! with the crate feature `dsp` where they apply, the x86-64 AVX2 forms [`x86`] on host builds
//! (feature `std`) where the CPU has AVX2, the portable code otherwise.

pub mod dsp;
pub mod dsp_loops;
pub mod in_place;
pub mod lowbit;
mod params;
pub mod plane_rows;
pub mod plane_rows_loop;
pub mod portable;
#[cfg(test)]
mod tests;
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod x86;

pub use dsp::{depthwise_conv2d_dsp, depthwise_conv2d_dsp_int8, is_dsp_depthwise, BlockStore};
pub use in_place::{
    can_run_in_place, depthwise_conv2d_in_place, depthwise_conv2d_in_place_portable, in_place_offset_ok,
    in_place_temp_len,
};
pub use lowbit::{depthwise_conv2d_lowbit, depthwise_conv2d_lowbit_dsp, depthwise_conv2d_lowbit_portable};
pub use params::DepthwiseConv2dParams;
pub use plane_rows::{
    depthwise_conv2d_plane_rows, depthwise_conv2d_plane_rows_in_place, is_plane_rows, is_plane_rows_in_place,
    INT8_MIN_WIDTH,
};
pub use portable::depthwise_conv2d_portable;

use crate::view::{Codes, Window, WindowMut};

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)` (map coordinates; `x.rect`
/// may be larger): with the feature `dsp`, [`depthwise_conv2d_plane_rows`]
/// where [`is_plane_rows`] holds at 8 bits and the rect is at least
/// [`INT8_MIN_WIDTH`] wide, else [`depthwise_conv2d_dsp_int8`] where
/// [`is_dsp_depthwise`] does; else
/// [`x86::depthwise_conv2d_x86`] on x86-64 host builds (AVX2 if detected),
/// else [`depthwise_conv2d_portable`].
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads, `y.data` is
/// shorter than `y.rect`, or the filter/bias are shorter than the shapes say.
pub fn depthwise_conv2d(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    let wide = y.rect.w >= INT8_MIN_WIDTH[p.geometry.stride[1].clamp(1, 2) - 1];
    if cfg!(feature = "dsp") && wide && is_plane_rows(p, 8) {
        let x = Codes {
            data: x.data,
            rect: x.rect,
            bits: 8,
        };
        return depthwise_conv2d_plane_rows(p, x, y);
    }
    if cfg!(feature = "dsp") && is_dsp_depthwise(p, 8) {
        return depthwise_conv2d_dsp_int8(p, x, y);
    }
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    return x86::depthwise_conv2d_x86(p, x, y);
    #[allow(unreachable_code)]
    depthwise_conv2d_portable(p, x, y)
}

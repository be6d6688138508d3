//! CONV_2D, int8 activations, int8 per-channel weights, int32 bias, bit-exact
//! with tflite-micro's reference `ConvPerChannel` (grouped convolutions
//! included).
//!
//! For output channel `o` of group `g` the int32 accumulator is
//! `bias[o] + sum((x + input_offset) * w)` over the taps inside the input
//! (padding taps contribute nothing, i.e. the border holds the input zero
//! point), evaluated in wrapping 32-bit arithmetic like the C kernel; it is
//! then requantized by [`crate::view::OutputStage::apply`] (TFLite double
//! rounding).
//!
//! The forms, all equal bit for bit: [`portable`] (int8, the reference),
//! [`dsp`] (one group, 16-bit pair dot products with the Cortex-M DSP
//! extension, on int8 or packed codes) and [`lowbit`] (maps of any width
//! from 1 to 8 bits, with the clean check). [`conv2d`] and
//! [`conv2d_lowbit`] pick the DSP form with the crate feature `dsp` where
//! it applies, the x86-64 AVX2 form [`x86`] on host builds (feature `std`)
//! where the CPU has AVX2, the portable code otherwise.

pub mod dsp;
pub mod dsp_loops;
pub mod lowbit;
mod params;
mod pixel_pairs;
pub mod portable;
#[cfg(test)]
mod tests;
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod x86;

pub use dsp::{conv2d_dsp, conv2d_dsp_int8, is_dsp_conv, Sink};
pub use lowbit::{conv2d_lowbit, conv2d_lowbit_dsp, conv2d_lowbit_portable};
pub use params::Conv2dParams;
pub use portable::{conv2d_portable, conv2d_scratch_len};

use crate::view::{Window, WindowMut};

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)` (map coordinates; `x.rect`
/// may be larger): [`conv2d_dsp_int8`] with the feature `dsp` where
/// [`is_dsp_conv`] holds at 8 bits, else [`x86::conv2d_x86`] on x86-64 host
/// builds (AVX2 if detected), else [`conv2d_portable`]. `scratch`
/// should hold [`conv2d_scratch_len`] words.
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads, `y.data` is
/// shorter than `y.rect`, or the filter/bias are shorter than the shapes say.
pub fn conv2d(p: &Conv2dParams, x: Window, y: WindowMut, scratch: &mut [i32]) {
    if cfg!(feature = "dsp") && is_dsp_conv(p, 8) {
        return conv2d_dsp_int8(p, x, y);
    }
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    return x86::conv2d_x86(p, x, y, scratch);
    #[allow(unreachable_code)]
    conv2d_portable(p, x, y, scratch)
}

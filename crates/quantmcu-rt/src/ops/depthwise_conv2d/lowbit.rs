//! DEPTHWISE_CONV_2D over maps of any width: output channel `o` reads input
//! channel `o / multiplier`, `acc = bias[o] + sum((v + input_offset) * w)`
//! over the taps inside the input, then the clean check and the output
//! stage. At 8 bits in and out this is exactly
//! [`super::depthwise_conv2d`].

use super::dsp::{depthwise_conv2d_dsp, is_dsp_depthwise};
use super::params::DepthwiseConv2dParams;
use super::plane_rows::{depthwise_conv2d_plane_rows, is_plane_rows};
use crate::view::{emit, Clean, Codes, CodesMut, Outlier, TapRange, WindowMut};

/// Computes the output pixels of `y.rect` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&y.rect)`; stops at the first
/// accumulator outside `clean`. With the feature `dsp`: an int8 output
/// without clean check through [`depthwise_conv2d_plane_rows`] where
/// [`is_plane_rows`] holds at the input's width, else
/// [`depthwise_conv2d_lowbit_dsp`] where [`is_dsp_depthwise`] does.
///
/// # Panics
///
/// As [`super::depthwise_conv2d`].
pub fn depthwise_conv2d_lowbit(
    p: &DepthwiseConv2dParams,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    if cfg!(feature = "dsp") && y.bits == 8 && clean.is_none() && is_plane_rows(p, x.bits) {
        let y = WindowMut {
            data: y.data,
            rect: y.rect,
        };
        depthwise_conv2d_plane_rows(p, x, y);
        return Ok(());
    }
    if cfg!(feature = "dsp") && is_dsp_depthwise(p, x.bits) {
        return depthwise_conv2d_lowbit_dsp(p, x, y, clean);
    }
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    return super::x86::depthwise_conv2d_lowbit_x86(p, x, y, clean);
    #[allow(unreachable_code)]
    depthwise_conv2d_lowbit_portable(p, x, y, clean)
}

/// The convolution through [`depthwise_conv2d_dsp`] (the `dsp` feature's
/// path); `p` must satisfy [`is_dsp_depthwise`] at the input's width.
pub fn depthwise_conv2d_lowbit_dsp(
    p: &DepthwiseConv2dParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let r = y.rect;
    depthwise_conv2d_dsp(p, x, r, clean.as_ref(), |at: usize, vals: &[i32]| y.store_run(at, vals))
}

/// [`depthwise_conv2d_lowbit`] without the `dsp` feature's DSP form: the reference
/// that form is checked against (on the host and on the target).
pub fn depthwise_conv2d_lowbit_portable(
    p: &DepthwiseConv2dParams,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    lowbit(p, x, y, clean)
}

/// The portable low-bit kernel's body, inlined into each form.
#[inline(always)]
pub(super) fn lowbit(
    p: &DepthwiseConv2dParams,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    let g = &p.geometry;
    let (ic, oc) = (g.input[2], g.output[2]);
    let [kh, kw] = g.kernel;
    if ic == 0 || oc < ic || kh == 0 || kw == 0 {
        return Ok(());
    }
    let m = oc / ic;
    for oy in y.rect.y..y.rect.y + y.rect.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
        for ox in y.rect.x..y.rect.x + y.rect.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
            let out_at = y.rect.offset(oy, ox, oc);
            for o in 0..oc {
                let mut acc = p.bias[o];
                for ky in ry.lo..ry.hi {
                    for kx in rx.lo..rx.hi {
                        let v = x.value(x.rect.offset(ry.at(ky), rx.at(kx), ic) + o / m);
                        let w = i32::from(p.filter[(ky * kw + kx) * oc + o]);
                        acc = acc.wrapping_add(v.wrapping_add(p.input_offset).wrapping_mul(w));
                    }
                }
                emit(&mut y, out_at + o, acc, o, &p.output, clean.as_ref())?;
            }
        }
    }
    Ok(())
}

//! Turning files into model inputs: `.npy` tensors taken as they are, and
//! images converted to the model's input spec.
//!
//! **Image preprocessing (the one place it is defined):** the image is decoded,
//! converted to RGB (3-channel input) or 8-bit luma (1-channel input), resized
//! to the input's H x W when its size differs ([`resize_bilinear`]: TensorFlow's
//! bilinear resize with half-pixel centers and no antialiasing, rounded half
//! up — what the reference model was trained with), and each 8-bit pixel p in 0..=255 is mapped linearly onto the real interval
//! [lo, hi] that the model's integer input covers (for int8, lo = s(-128 - z),
//! hi = s(127 - z); for a float input, the interval of the QUANTIZE that
//! consumes it). The real value is then quantized with the input's own scale
//! and zero point (float inputs take it as it is). For the usual conventions
//! this is exact: `int8 = p - 128` when the input covers [0, 1] or [0, 255],
//! and `float = p` for a float input that covers [0, 255].

use std::path::Path;

use crate::ir::{DType, Graph, Quant};
use crate::tensor::TensorData;
use crate::{Error, Result};

/// Reads a `.npy` (exact dtype and shape of input 0) or an image file, for
/// input 0 of `graph`.
pub fn load(graph: &Graph, path: &Path) -> Result<TensorData> {
    let is_npy = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if is_npy {
        from_npy(graph, path)
    } else {
        let img =
            image::open(path).map_err(|e| Error::Input(format!("{}: cannot decode image: {e}", path.display())))?;
        from_image(graph, &img).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
    }
}

fn from_npy(graph: &Graph, path: &Path) -> Result<TensorData> {
    let arr = crate::npy::read(path)?;
    let t = &graph.tensors[graph.inputs[0]];
    if arr.data.dtype() != t.dtype || arr.shape != t.shape {
        return Err(Error::Input(format!(
            "{}: holds {} {:?}, but input '{}' of {} is {} {:?}",
            path.display(),
            arr.data.dtype().name(),
            arr.shape,
            t.name,
            graph.name,
            t.dtype.name(),
            t.shape
        )));
    }
    Ok(arr.data)
}

/// Converts a decoded image to input 0 of `graph` (see the module docs).
pub fn from_image(graph: &Graph, img: &image::DynamicImage) -> std::result::Result<TensorData, String> {
    let t = &graph.tensors[graph.inputs[0]];
    let (h, w, c) = match t.shape.as_slice() {
        [1, h, w, c] | [h, w, c] => (*h, *w, *c),
        s => {
            return Err(format!(
                "input '{}' has shape {s:?}, not an image (expected [1, H, W, C])",
                t.name
            ))
        }
    };
    let (ih, iw) = (img.height() as usize, img.width() as usize);
    let pixels: Vec<u8> = match c {
        3 => img.to_rgb8().into_raw(),
        1 => img.to_luma8().into_raw(),
        c => return Err(format!("input '{}' has {c} channels; images feed 1 or 3", t.name)),
    };
    pixels_to_input(graph, &resize_bilinear(&pixels, ih, iw, c, h, w))
}

/// Converts raw 8-bit HWC pixels of any size with 1 (luma), 2 (luma + alpha),
/// 3 (RGB) or 4 (RGBA) channels, as data sets hold them, to input 0 of
/// `graph`: the same conversion, resize and quantization as [`from_image`]
/// (see the module docs).
pub fn from_pixels(
    graph: &Graph,
    pixels: &[u8],
    width: usize,
    height: usize,
    channels: usize,
) -> std::result::Result<TensorData, String> {
    let bad = || {
        format!(
            "{} pixel values are not a {width}x{height}x{channels} image",
            pixels.len()
        )
    };
    if width.checked_mul(height).and_then(|n| n.checked_mul(channels)) != Some(pixels.len()) {
        return Err(bad());
    }
    let (w, h) = (
        u32::try_from(width).map_err(|_| bad())?,
        u32::try_from(height).map_err(|_| bad())?,
    );
    let raw = pixels.to_vec();
    let img = match channels {
        1 => image::ImageBuffer::from_raw(w, h, raw).map(image::DynamicImage::ImageLuma8),
        2 => image::ImageBuffer::from_raw(w, h, raw).map(image::DynamicImage::ImageLumaA8),
        3 => image::ImageBuffer::from_raw(w, h, raw).map(image::DynamicImage::ImageRgb8),
        4 => image::ImageBuffer::from_raw(w, h, raw).map(image::DynamicImage::ImageRgba8),
        c => return Err(format!("images have 1 to 4 channels, not {c}")),
    };
    from_image(graph, &img.ok_or_else(bad)?)
}

/// Resizes an `ih x iw x c` 8-bit image to `oh x ow`, as TensorFlow's
/// `tf.image.resize(method="bilinear", antialias=False)` does in f32: source
/// coordinate `(d + 0.5) * in / out - 0.5`, the two taps clamped to the image,
/// `top + (bottom - top) * fy` of the horizontally interpolated rows; then
/// rounded half up to 8 bits. Returns the pixels unchanged when the size is
/// already right.
pub fn resize_bilinear(pixels: &[u8], ih: usize, iw: usize, c: usize, oh: usize, ow: usize) -> Vec<u8> {
    if (ih, iw) == (oh, ow) {
        return pixels.to_vec();
    }
    // Per output index: lower tap, upper tap, fraction.
    let taps = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_in as f32 / n_out as f32;
        (0..n_out)
            .map(|d| {
                let src = (d as f32 + 0.5) * scale - 0.5;
                let lo = src.floor();
                let i0 = (lo.max(0.0) as usize).min(n_in - 1);
                let i1 = (src.ceil().max(0.0) as usize).min(n_in - 1);
                (i0, i1, src - lo)
            })
            .collect()
    };
    let (ys, xs) = (taps(ih, oh), taps(iw, ow));
    let at = |y: usize, x: usize, k: usize| f32::from(pixels[(y * iw + x) * c + k]);
    let mut out = Vec::with_capacity(oh * ow * c);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            for k in 0..c {
                let top = at(y0, x0, k) + (at(y0, x1, k) - at(y0, x0, k)) * fx;
                let bottom = at(y1, x0, k) + (at(y1, x1, k) - at(y1, x0, k)) * fx;
                let v = top + (bottom - top) * fy;
                out.push((v + 0.5).floor().clamp(0.0, 255.0) as u8);
            }
        }
    }
    out
}

/// Maps 8-bit pixels (already at the input's size, HWC order) onto input 0 of
/// `graph` (see the module docs).
pub fn pixels_to_input(graph: &Graph, pixels: &[u8]) -> std::result::Result<TensorData, String> {
    let t = &graph.tensors[graph.inputs[0]];
    if pixels.len() != t.elements() {
        return Err(format!(
            "{} pixel values for input '{}' of {} elements",
            pixels.len(),
            t.name,
            t.elements()
        ));
    }
    let int_quant = |q: Option<&Quant>| q.map(|q| (q.scale[0], q.zero_point[0]));
    match t.dtype {
        DType::U8 => Ok(TensorData::U8(pixels.to_vec())),
        DType::I8 => {
            let (s, z) =
                int_quant(t.quant.as_ref()).ok_or_else(|| format!("int8 input '{}' has no quantization", t.name))?;
            let (lo, hi) = (f64::from(s) * f64::from(-128 - z), f64::from(s) * f64::from(127 - z));
            Ok(TensorData::I8(
                pixels
                    .iter()
                    .map(|&p| {
                        let real = lo + (hi - lo) * f64::from(p) / 255.0;
                        ((real / f64::from(s)).round() as i32 + z).clamp(-128, 127) as i8
                    })
                    .collect(),
            ))
        }
        DType::F32 => {
            let int_in = graph.int_input();
            let (s, z) = int_quant(graph.tensors[int_in].quant.as_ref())
                .ok_or_else(|| format!("float input '{}' is not quantized by a QUANTIZE op", t.name))?;
            let (lo, hi) = (f64::from(s) * f64::from(-128 - z), f64::from(s) * f64::from(127 - z));
            Ok(TensorData::F32(
                pixels
                    .iter()
                    .map(|&p| (lo + (hi - lo) * f64::from(p) / 255.0) as f32)
                    .collect(),
            ))
        }
        d => Err(format!(
            "input '{}' is {}; images feed uint8, int8 or float32 inputs",
            t.name,
            d.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::resize_bilinear;

    /// 28 -> 64 in exact integers: with 28/64 = 7/16 every source coordinate
    /// is a multiple of 1/32, so `32 * src` and the blend are integers.
    fn resize_28_to_64_integer(p: &[u8]) -> Vec<u8> {
        let tap = |d: i64| {
            let s32 = ((2 * d + 1) * 16 * 28 - 16 * 64) / 64;
            let lo = s32.div_euclid(32);
            let w1 = s32 - 32 * lo;
            (lo.clamp(0, 27) as usize, (lo + 1).clamp(0, 27) as usize, w1)
        };
        let mut out = Vec::with_capacity(64 * 64);
        for y in 0..64 {
            let (y0, y1, wy) = tap(y);
            for x in 0..64 {
                let (x0, x1, wx) = tap(x);
                let h = |r: usize| i64::from(p[r * 28 + x0]) * (32 - wx) + i64::from(p[r * 28 + x1]) * wx;
                let v = h(y0) * (32 - wy) + h(y1) * wy;
                out.push(((v + 512) >> 10) as u8);
            }
        }
        out
    }

    #[test]
    fn matches_the_exact_integer_form_of_the_training_resize() {
        let mut state = 0x1234_5678_u32;
        for _ in 0..20 {
            let img: Vec<u8> = (0..28 * 28)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state >> 24) as u8
                })
                .collect();
            assert_eq!(resize_bilinear(&img, 28, 28, 1, 64, 64), resize_28_to_64_integer(&img));
        }
    }

    #[test]
    fn same_size_is_untouched_and_constant_images_stay_constant() {
        let img = vec![7u8; 5 * 3 * 3];
        assert_eq!(resize_bilinear(&img, 5, 3, 3, 5, 3), img);
        assert!(resize_bilinear(&img, 5, 3, 3, 11, 2).iter().all(|&v| v == 7));
    }
}

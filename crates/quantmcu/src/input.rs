//! Turning files into model inputs: `.npy` tensors taken as they are, and
//! images converted to the model's input spec.
//!
//! **Image preprocessing (the one place it is defined):** the image is decoded,
//! converted to RGB (3-channel input) or 8-bit luma (1-channel input), resized
//! to the input's H x W with a bilinear (triangle) filter when its size differs,
//! and each 8-bit pixel p in 0..=255 is mapped linearly onto the real interval
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
    let pixels: Vec<u8> = match c {
        3 => resize(img.to_rgb8(), w, h).into_raw(),
        1 => resize(img.to_luma8(), w, h).into_raw(),
        c => return Err(format!("input '{}' has {c} channels; images feed 1 or 3", t.name)),
    };
    pixels_to_input(graph, &pixels)
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

fn resize<P: image::Pixel<Subpixel = u8> + 'static>(
    img: image::ImageBuffer<P, Vec<u8>>,
    w: usize,
    h: usize,
) -> image::ImageBuffer<P, Vec<u8>> {
    if img.width() as usize == w && img.height() as usize == h {
        img
    } else {
        image::imageops::resize(&img, w as u32, h as u32, image::imageops::FilterType::Triangle)
    }
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

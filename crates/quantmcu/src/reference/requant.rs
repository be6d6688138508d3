//! Output requantization shared by the int8 kernels: per-channel fixed-point
//! multipliers and the clamp range of a fused activation, derived exactly as
//! tflite-micro's Prepare functions derive them.

use quantmcu_rt::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};

use crate::ir::{Activation, DType, Graph, Quant, TensorId};
use crate::tensor::TensorData;

/// Fixed-point multipliers (Q31) and shifts, one per output channel or one for
/// the whole tensor.
#[derive(Clone, Debug)]
pub struct Requant {
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
}

impl Requant {
    /// Multipliers for `input_scale * filter_scale[c] / output_scale`, each
    /// factor widened to f64 before the product (tflite-micro's per-channel
    /// convolution parameters).
    pub fn per_channel(input_scale: f32, filter: &Quant, output_scale: f32, channels: usize) -> Result<Self, String> {
        let mut r = Requant {
            multiplier: Vec::with_capacity(channels),
            shift: Vec::with_capacity(channels),
        };
        for c in 0..channels {
            let fs = f64::from(filter.scale[if filter.is_per_tensor() { 0 } else { c }]);
            let (m, s) = multiplier(f64::from(input_scale) * fs / f64::from(output_scale))?;
            r.multiplier.push(m);
            r.shift.push(s);
        }
        Ok(r)
    }

    /// One multiplier for a real factor.
    pub fn single(real: f64) -> Result<Self, String> {
        let (m, s) = multiplier(real)?;
        Ok(Requant {
            multiplier: vec![m],
            shift: vec![s],
        })
    }

    /// Applies the multiplier of channel `c` to an int32 accumulator.
    #[inline]
    pub fn apply(&self, acc: i32, c: usize) -> i32 {
        let c = if self.multiplier.len() == 1 { 0 } else { c };
        multiply_by_quantized_multiplier(acc, self.multiplier[c], self.shift[c])
    }
}

/// TFLite's fixed-point form of a non-negative real factor; an error (not a
/// panic) for factors that are not finite.
pub fn multiplier(real: f64) -> Result<(i32, i32), String> {
    if real.is_finite() && real >= 0.0 {
        Ok(quantize_multiplier(real))
    } else {
        Err(format!(
            "requantization factor {real} is not a finite non-negative number"
        ))
    }
}

/// The int8 clamp range `[min, max]` of a fused activation for an output with
/// quantization `q` (values rounded half away from zero in f32, as TFLite does).
pub fn activation_range(activation: Activation, q: &Quant) -> (i32, i32) {
    let (scale, zp) = (q.scale[0], q.zero_point[0]);
    let quantize = |f: f32| zp.saturating_add((f / scale).round() as i32);
    let (lo, hi) = (-128, 127);
    match activation {
        Activation::None => (lo, hi),
        Activation::Relu => (lo.max(quantize(0.0)), hi),
        Activation::Relu6 => (lo.max(quantize(0.0)), hi.min(quantize(6.0))),
        Activation::ReluN1To1 => (lo.max(quantize(-1.0)), hi.min(quantize(1.0))),
    }
}

/// Scale and zero point of a per-tensor quantized tensor (checked by the IR).
pub fn scale_zp(graph: &Graph, t: TensorId) -> (f32, i32) {
    graph.scale_zp(t)
}

/// Reads a constant int8 tensor.
pub fn const_i8(graph: &Graph, t: TensorId) -> Vec<i8> {
    match TensorData::from_le_bytes(DType::I8, graph.tensors[t].data.as_deref().unwrap_or(&[])) {
        TensorData::I8(v) => v,
        _ => unreachable!("int8 requested"),
    }
}

/// Reads an optional constant int32 tensor, or `n` zeros when it is absent.
pub fn const_i32_or_zeros(graph: &Graph, t: Option<TensorId>, n: usize) -> Vec<i32> {
    match t
        .and_then(|t| graph.tensors[t].data.as_deref())
        .map(|d| TensorData::from_le_bytes(DType::I32, d))
    {
        Some(TensorData::I32(v)) => v,
        _ => vec![0; n],
    }
}

//! QUANTIZE and DEQUANTIZE at the model boundary (tflite-micro reference):
//! float to int8 is `round(x / scale) + zp` in f32 (half away from zero,
//! clamped); int8 to int8 requantizes with a fixed-point multiplier; int8 to
//! float is `scale * (q - zp)` evaluated in f64 and rounded to f32.

use quantmcu_rt::fixedpoint::multiply_by_quantized_multiplier;

use super::requant::{multiplier, scale_zp};
use crate::ir::Graph;

/// float32 -> int8.
pub fn quantize_f32(x: &[f32], scale: f32, zp: i32, y: &mut [i8]) {
    for (v, &f) in y.iter_mut().zip(x) {
        let q = (f / scale).round() as i32;
        *v = q.saturating_add(zp).clamp(-128, 127) as i8;
    }
}

/// int8 -> float32.
pub fn dequantize(x: &[i8], scale: f32, zp: i32, y: &mut [f32]) {
    for (v, &q) in y.iter_mut().zip(x) {
        *v = (f64::from(scale) * f64::from(i32::from(q) - zp)) as f32;
    }
}

/// A prepared int8 -> int8 QUANTIZE (requantization).
#[derive(Clone)]
pub struct Requantize {
    pub(crate) input_zp: i32,
    pub(crate) output_zp: i32,
    pub(crate) multiplier: (i32, i32),
}

impl Requantize {
    pub fn prepare(graph: &Graph, index: usize) -> Result<Self, String> {
        let op = &graph.ops[index];
        let (si, zi) = scale_zp(graph, op.inputs[0].expect("input"));
        let (so, zo) = scale_zp(graph, op.output());
        Ok(Requantize {
            input_zp: zi,
            output_zp: zo,
            multiplier: multiplier(f64::from(si) / f64::from(so))?,
        })
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        for (v, &q) in y.iter_mut().zip(x) {
            let r =
                multiply_by_quantized_multiplier(i32::from(q) - self.input_zp, self.multiplier.0, self.multiplier.1);
            *v = (r + self.output_zp).clamp(-128, 127) as i8;
        }
    }
}

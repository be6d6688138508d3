//! MEAN, int8 (tflite-micro reduce kernel, any axes): the int32 sum of the raw
//! values over the reduced axes, then
//! - equal input and output quantization: `sum / n`, truncated toward zero;
//! - otherwise: `(sum - zp_in * n)` times `s_in / (s_out * n)` as one
//!   fixed-point multiplier (the division by n folded into it, keeping
//!   `min(floor(log2 n), 32, 31 + shift)` extra bits), plus `zp_out`, clamped.

use quantmcu_rt::fixedpoint::multiply_by_quantized_multiplier;

use super::index::{strides, Odometer};
use super::requant::{multiplier, scale_zp};
use crate::ir::Graph;

/// A prepared MEAN.
#[derive(Clone)]
pub struct Mean {
    pub(crate) input: Vec<usize>,
    pub(crate) reduced: Vec<bool>,
    /// `None` when input and output quantization are equal.
    pub(crate) requant: Option<(i32, i32)>,
    pub(crate) input_zp: i32,
    pub(crate) output_zp: i32,
}

impl Mean {
    pub fn prepare(graph: &Graph, index: usize) -> Result<Self, String> {
        let op = &graph.ops[index];
        let x = op.inputs[0].expect("input");
        let input = graph.tensors[x].shape.clone();
        let rank = input.len() as i64;
        let mut reduced = vec![false; input.len()];
        for a in graph.const_ints(op.inputs[1].expect("axes")) {
            reduced[(if a < 0 { a + rank } else { a }) as usize] = true;
        }
        let (si, zi) = scale_zp(graph, x);
        let (so, zo) = scale_zp(graph, op.output());
        let n: usize = input
            .iter()
            .zip(&reduced)
            .filter(|(_, &r)| r)
            .map(|(&d, _)| d)
            .product();
        let requant = if zi == zo && si == so {
            None
        } else {
            let (m, shift) = multiplier(f64::from(si) / f64::from(so))?;
            let n = n as i64;
            let extra = i64::from(63 - (n as u64).leading_zeros() as i32)
                .min(32)
                .min(31 + i64::from(shift));
            let m = (i64::from(m) << extra.max(0)) / n;
            let m = i32::try_from(m).map_err(|_| format!("mean multiplier {m} overflows int32"))?;
            Some((m, shift - extra as i32))
        };
        Ok(Mean {
            input,
            reduced,
            requant,
            input_zp: zi,
            output_zp: zo,
        })
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        let mut sums = vec![0i32; y.len()];
        // Output strides over the input's axes (0 along reduced axes).
        let kept: Vec<usize> = self
            .input
            .iter()
            .zip(&self.reduced)
            .map(|(&d, &r)| if r { 1 } else { d })
            .collect();
        let out_strides: Vec<usize> = strides(&kept)
            .into_iter()
            .zip(&self.reduced)
            .map(|(s, &r)| if r { 0 } else { s })
            .collect();
        let mut at = Odometer::new(&self.input);
        for &v in x {
            let s = &mut sums[at.offset(&out_strides)];
            *s = s.wrapping_add(i32::from(v));
            at.advance();
        }
        let n = (x.len() / y.len().max(1)) as i32;
        for (v, &sum) in y.iter_mut().zip(&sums) {
            let r = match self.requant {
                None => sum.wrapping_div(n),
                Some((m, shift)) => {
                    multiply_by_quantized_multiplier(sum.wrapping_sub(self.input_zp.wrapping_mul(n)), m, shift)
                        .saturating_add(self.output_zp)
                }
            };
            *v = r.clamp(-128, 127) as i8;
        }
    }
}

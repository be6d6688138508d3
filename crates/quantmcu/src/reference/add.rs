//! ADD, int8 with NumPy broadcasting (tflite-micro integer `Add`): both inputs
//! are rescaled to a common scale with 20 bits of headroom, summed, and
//! requantized to the output.

use quantmcu_rt::fixedpoint::multiply_by_quantized_multiplier;

use super::index::Odometer;
use super::requant::{activation_range, multiplier, scale_zp};
use crate::ir::{Graph, OpKind};

const LEFT_SHIFT: i32 = 20;

/// A prepared ADD.
#[derive(Clone)]
pub struct Add {
    /// Output shape and, per input, its strides over the output's axes
    /// (0 along broadcast axes).
    pub(crate) out_shape: Vec<usize>,
    pub(crate) strides: [Vec<usize>; 2],
    pub(crate) offsets: [i32; 2],
    pub(crate) multipliers: [(i32, i32); 2],
    pub(crate) output: (i32, i32),
    pub(crate) output_offset: i32,
    pub(crate) range: (i32, i32),
}

impl Add {
    pub fn prepare(graph: &Graph, index: usize) -> Result<Self, String> {
        let op = &graph.ops[index];
        let OpKind::Add { activation } = op.kind else {
            unreachable!("add kernel for {:?}", op.kind)
        };
        let (a, b, out) = (op.inputs[0].expect("a"), op.inputs[1].expect("b"), op.output());
        let out_shape = graph.tensors[out].shape.clone();
        let (sa, za) = scale_zp(graph, a);
        let (sb, zb) = scale_zp(graph, b);
        let (so, zo) = scale_zp(graph, out);
        let twice_max = 2.0 * f64::from(sa.max(sb));
        let out_mult = twice_max / (f64::from(1u32 << LEFT_SHIFT) * f64::from(so));
        // tflite-micro derives all three with QuantizeMultiplierSmallerThanOneExp,
        // which rejects factors outside (0, 1).
        if !(out_mult > 0.0 && out_mult < 1.0) {
            return Err(format!("output rescale factor {out_mult} is outside (0, 1): output scale {so} is too small for inputs of scale {sa} and {sb}"));
        }
        Ok(Add {
            strides: [
                broadcast_strides(&graph.tensors[a].shape, &out_shape),
                broadcast_strides(&graph.tensors[b].shape, &out_shape),
            ],
            out_shape,
            offsets: [-za, -zb],
            multipliers: [
                multiplier(f64::from(sa) / twice_max)?,
                multiplier(f64::from(sb) / twice_max)?,
            ],
            output: multiplier(out_mult)?,
            output_offset: zo,
            range: activation_range(activation, graph.tensors[out].quant.as_ref().expect("checked")),
        })
    }

    pub fn eval(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        let scaled = |v: i8, k: usize| {
            let shifted = (i32::from(v) + self.offsets[k]) * (1 << LEFT_SHIFT);
            multiply_by_quantized_multiplier(shifted, self.multipliers[k].0, self.multipliers[k].1)
        };
        let mut at = Odometer::new(&self.out_shape);
        for v in y.iter_mut() {
            let sum = scaled(a[at.offset(&self.strides[0])], 0) + scaled(b[at.offset(&self.strides[1])], 1);
            let r = multiply_by_quantized_multiplier(sum, self.output.0, self.output.1) + self.output_offset;
            *v = r.clamp(self.range.0, self.range.1) as i8;
            at.advance();
        }
    }
}

/// Strides of a tensor of `shape` over the axes of the broadcast `out` shape.
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let lead = out.len() - shape.len();
    let mut strides = vec![0; out.len()];
    let mut s = 1;
    for d in (0..shape.len()).rev() {
        strides[lead + d] = if shape[d] == 1 { 0 } else { s };
        s *= shape[d];
    }
    strides
}

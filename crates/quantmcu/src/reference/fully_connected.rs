//! FULLY_CONNECTED, int8 (tflite-micro integer `FullyConnected`, per-tensor or
//! per-channel filter): `y[b, u] = requant(bias[u] + sum_d (x[b, d] - zp_x) * w[u, d])`.

use super::conv2d::dot;
use super::requant::{activation_range, const_i32_or_zeros, const_i8, scale_zp, Requant};
use crate::ir::{Graph, OpKind};

/// A prepared FULLY_CONNECTED.
#[derive(Clone)]
pub struct FullyConnected {
    pub(crate) units: usize,
    pub(crate) depth: usize,
    pub(crate) input_offset: i32,
    pub(crate) output_offset: i32,
    pub(crate) filter: Vec<i8>,
    pub(crate) bias: Vec<i32>,
    pub(crate) requant: Requant,
    pub(crate) range: (i32, i32),
}

impl FullyConnected {
    pub fn prepare(graph: &Graph, index: usize) -> Result<Self, String> {
        let op = &graph.ops[index];
        let OpKind::FullyConnected { activation, .. } = op.kind else {
            unreachable!("fc kernel for {:?}", op.kind)
        };
        let (x, f, out) = (op.inputs[0].expect("input"), op.inputs[1].expect("filter"), op.output());
        let (units, depth) = (graph.tensors[f].shape[0], graph.tensors[f].shape[1]);
        let (in_scale, in_zp) = scale_zp(graph, x);
        let (out_scale, out_zp) = scale_zp(graph, out);
        let fq = graph.tensors[f].quant.as_ref().expect("checked");
        let oq = graph.tensors[out].quant.as_ref().expect("checked");
        // tflite-micro multiplies the per-tensor scales in f32 before widening,
        // unlike the per-channel path.
        let requant = if fq.is_per_tensor() {
            Requant::single(f64::from(in_scale * fq.scale[0]) / f64::from(out_scale))?
        } else {
            Requant::per_channel(in_scale, fq, out_scale, units)?
        };
        Ok(FullyConnected {
            units,
            depth,
            input_offset: -in_zp,
            output_offset: out_zp,
            filter: const_i8(graph, f),
            bias: const_i32_or_zeros(graph, op.input(2), units),
            requant,
            range: activation_range(activation, oq),
        })
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        with_best_isa!(self.eval_impl(x, y))
    }

    #[inline(always)]
    fn eval_impl(&self, x: &[i8], y: &mut [i8]) {
        for (row, out) in x.chunks_exact(self.depth).zip(y.chunks_exact_mut(self.units)) {
            for (u, v) in out.iter_mut().enumerate() {
                let w = &self.filter[u * self.depth..][..self.depth];
                let wsum = w.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)));
                let acc = self.bias[u]
                    .wrapping_add(self.input_offset.wrapping_mul(wsum))
                    .wrapping_add(dot(row, w));
                let r = self.requant.apply(acc, u).saturating_add(self.output_offset);
                *v = r.clamp(self.range.0, self.range.1) as i8;
            }
        }
    }
}

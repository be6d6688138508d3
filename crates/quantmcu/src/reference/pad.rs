//! PAD, int8: the input placed inside a tensor filled with the output zero point.

use super::index::{strides, Odometer};
use crate::ir::Graph;

/// A prepared PAD.
#[derive(Clone)]
pub struct Pad {
    pub(crate) input: Vec<usize>,
    pub(crate) output: Vec<usize>,
    pub(crate) before: Vec<usize>,
    pub(crate) fill: i8,
}

impl Pad {
    pub fn prepare(graph: &Graph, index: usize) -> Self {
        let op = &graph.ops[index];
        let (x, p, out) = (
            op.inputs[0].expect("input"),
            op.inputs[1].expect("paddings"),
            op.output(),
        );
        let pads = graph.const_ints(p);
        Pad {
            input: graph.tensors[x].shape.clone(),
            output: graph.tensors[out].shape.clone(),
            before: pads.iter().step_by(2).map(|&v| v as usize).collect(),
            fill: graph.tensors[out].quant.as_ref().expect("checked").zero_point[0] as i8,
        }
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        y.fill(self.fill);
        let rank = self.input.len();
        if rank == 0 {
            y.copy_from_slice(x);
            return;
        }
        // Copy contiguous rows of the innermost axis.
        let row = self.input[rank - 1];
        let out_strides = strides(&self.output);
        let base: usize = self.before.iter().zip(&out_strides).map(|(b, s)| b * s).sum();
        let mut at = Odometer::new(&self.input[..rank - 1]);
        for chunk in x.chunks_exact(row) {
            let o = base + at.offset(&out_strides);
            y[o..o + row].copy_from_slice(chunk);
            at.advance();
        }
    }
}

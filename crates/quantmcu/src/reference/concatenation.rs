//! CONCATENATION, int8 with equal input and output quantization (checked by
//! the IR): a plain copy of each input's slabs along the axis.

use crate::ir::{Graph, OpKind};

/// A prepared CONCATENATION.
#[derive(Clone)]
pub struct Concatenation {
    /// Product of the dimensions before the axis.
    pub(crate) outer: usize,
    /// Per input: elements of one slab (its axis length times the inner size).
    pub(crate) slabs: Vec<usize>,
}

impl Concatenation {
    pub fn prepare(graph: &Graph, index: usize) -> Self {
        let op = &graph.ops[index];
        let OpKind::Concatenation { axis, .. } = op.kind else {
            unreachable!("concat kernel for {:?}", op.kind)
        };
        let out = &graph.tensors[op.output()].shape;
        let inner: usize = out[axis + 1..].iter().product();
        Concatenation {
            outer: out[..axis].iter().product(),
            slabs: op
                .inputs
                .iter()
                .map(|t| graph.tensors[t.expect("checked")].shape[axis] * inner)
                .collect(),
        }
    }

    pub fn eval(&self, inputs: &[&[i8]], y: &mut [i8]) {
        let mut o = 0;
        for i in 0..self.outer {
            for (x, &slab) in inputs.iter().zip(&self.slabs) {
                y[o..o + slab].copy_from_slice(&x[i * slab..(i + 1) * slab]);
                o += slab;
            }
        }
    }
}

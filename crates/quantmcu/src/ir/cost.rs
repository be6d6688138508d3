//! Per-op costs: multiply-accumulates, parameters and activation bytes.

use super::{Graph, OpKind};

impl Graph {
    /// Multiply-accumulates of op `index`: one per filter tap that lands on the
    /// input or its padding, for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED;
    /// 0 for the other ops (their adds and compares are not MACs).
    pub fn op_macs(&self, index: usize) -> u64 {
        let op = &self.ops[index];
        let out = self.tensors[op.output()].elements() as u64;
        let filter = || &self.tensors[op.inputs[1].expect("weighted ops have a filter")].shape;
        match op.kind {
            OpKind::Conv2d { .. } => {
                let f = filter();
                out * (f[1] * f[2] * f[3]) as u64
            }
            OpKind::DepthwiseConv2d { .. } => {
                let f = filter();
                out * (f[1] * f[2]) as u64
            }
            OpKind::FullyConnected { .. } => out * filter()[1] as u64,
            _ => 0,
        }
    }

    /// Number of constant parameters (weights and biases) op `index` reads.
    pub fn op_params(&self, index: usize) -> u64 {
        let op = &self.ops[index];
        match op.kind {
            OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. } | OpKind::FullyConnected { .. } => op
                .inputs
                .iter()
                .flatten()
                .filter(|&&t| self.tensors[t].is_constant())
                .map(|&t| self.tensors[t].elements() as u64)
                .sum(),
            _ => 0,
        }
    }

    /// Total MACs of the graph.
    pub fn macs(&self) -> u64 {
        (0..self.ops.len()).map(|i| self.op_macs(i)).sum()
    }

    /// Total parameters of the graph.
    pub fn params(&self) -> u64 {
        (0..self.ops.len()).map(|i| self.op_params(i)).sum()
    }
}

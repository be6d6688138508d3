//! Patch stages: a prefix of the graph, starting at the int8 input and ending
//! at one tensor (the split tensor), whose ops can all run on windows, and
//! whose internal tensors (residual branches included) are not read after it.

use quantmcu_rt::geometry::Geometry;

use crate::ir::{Graph, OpKind, TensorId};

/// How an op's output window maps to the window of its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Footprint {
    /// A sliding window (convolution, depthwise convolution, pooling).
    Window(Geometry),
    /// Spatial padding: output (y, x) reads input (y - top, x - left).
    Pad { input: [usize; 3], before: [usize; 2] },
    /// Output pixel (y, x) reads input pixel (y, x) of every input.
    Elementwise,
}

/// `[H, W, C]` of a batch-1 NHWC tensor (`None` for any other shape, or a
/// tensor id out of range).
pub fn hwc(graph: &Graph, t: TensorId) -> Option<[usize; 3]> {
    match graph.tensors.get(t)?.shape.as_slice() {
        [1, h, w, c] => Some([*h, *w, *c]),
        _ => None,
    }
}

/// The footprint of op `index` when it can run on windows, `None` otherwise.
pub fn footprint(graph: &Graph, index: usize) -> Option<Footprint> {
    let op = &graph.ops[index];
    let out = hwc(graph, op.output())?;
    let input = hwc(graph, op.input(0)?)?;
    let geometry = |w: &crate::ir::Window| Geometry {
        input,
        output: out,
        kernel: w.kernel,
        stride: w.stride,
        dilation: w.dilation,
        pad: [w.pad_before(input[0], out[0], 0), w.pad_before(input[1], out[1], 1)],
    };
    match &op.kind {
        OpKind::Conv2d { window, .. }
        | OpKind::DepthwiseConv2d { window, .. }
        | OpKind::AveragePool2d { window, .. }
        | OpKind::MaxPool2d { window, .. } => Some(Footprint::Window(geometry(window))),
        OpKind::Pad => {
            let p = graph.const_ints(op.input(1)?);
            // Spatial padding only: batch and channels unpadded.
            (p[0] == 0 && p[1] == 0 && p[6] == 0 && p[7] == 0).then(|| Footprint::Pad {
                input,
                before: [p[2] as usize, p[4] as usize],
            })
        }
        OpKind::Add { .. } => {
            let b = hwc(graph, op.input(1)?)?;
            (b == input && input == out).then_some(Footprint::Elementwise)
        }
        OpKind::Quantize if graph.tensors[op.input(0)?].dtype == crate::ir::DType::I8 => Some(Footprint::Elementwise),
        _ => None,
    }
}

/// A patch stage: `ops` (graph indices, in order) read `input` and end with the
/// op that writes `split`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    pub input: TensorId,
    pub ops: Vec<usize>,
    pub split: TensorId,
}

impl Stage {
    /// Tensors written inside the stage, in op order (the split tensor last).
    pub fn tensors(&self, graph: &Graph) -> Vec<TensorId> {
        self.ops.iter().map(|&i| graph.ops[i].output()).collect()
    }
}

/// Every legal patch stage of `graph`, shortest first. The stage starts at the
/// int8 input (after a leading float QUANTIZE, which is not part of any
/// schedule's SRAM; `docs/design.md`, "Float I/O and memory accounting").
pub fn split_points(graph: &Graph) -> Vec<Stage> {
    let input = graph.int_input();
    let first = graph
        .ops
        .iter()
        .position(|op| op.inputs.contains(&Some(input)))
        .unwrap_or(graph.ops.len());
    let mut stages = Vec::new();
    let mut inside: Vec<TensorId> = vec![input];
    for end in first..graph.ops.len() {
        let op = &graph.ops[end];
        if footprint(graph, end).is_none() {
            break;
        }
        // Every activation input must come from inside the stage.
        if graph.activation_inputs(op).iter().any(|t| !inside.contains(t)) {
            break;
        }
        inside.push(op.output());
        let split = op.output();
        let read_later = |t: TensorId| {
            graph.ops[end + 1..].iter().any(|o| o.inputs.contains(&Some(t))) || graph.outputs.contains(&t)
        };
        let closed = inside.iter().all(|&t| t == split || !read_later(t));
        if closed && read_later(split) {
            stages.push(Stage {
                input,
                ops: (first..=end).collect(),
                split,
            });
        }
    }
    stages
}

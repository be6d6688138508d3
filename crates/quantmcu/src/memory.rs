//! Arena planning for layer-by-layer execution: every activation buffer gets
//! an offset in one arena so that buffers alive at the same time never overlap.
//!
//! Accounting (DESIGN.md, "Float I/O"): memory starts at the model's int8
//! input, which is resident for the whole inference; float buffers at the
//! boundary (a float input before its QUANTIZE, a float output after
//! DEQUANTIZE) are not counted, since an MCU converts as it reads and writes.
//! RESHAPE outputs alias their input (no copy). Offsets are aligned to
//! [`ALIGN`] bytes. Placement is greedy by size: largest buffer first, at the
//! lowest offset that does not collide with an already placed buffer whose
//! lifetime overlaps.

use serde::Serialize;

use crate::ir::{DType, Graph, OpKind, TensorId};

/// Alignment of every buffer offset and size, in bytes.
pub const ALIGN: usize = 4;

/// One buffer of the arena: the tensors stored in it, its size, the ops
/// during which it is alive (inclusive) and its offset.
#[derive(Clone, Debug, Serialize)]
pub struct Buffer {
    pub tensors: Vec<TensorId>,
    pub bytes: usize,
    pub first_op: usize,
    pub last_op: usize,
    pub offset: usize,
}

/// A complete arena plan.
#[derive(Clone, Debug, Serialize)]
pub struct ArenaPlan {
    pub buffers: Vec<Buffer>,
    /// Arena size: the peak SRAM of activations, in bytes.
    pub arena_bytes: usize,
    /// Bytes of the int8 input buffer (resident, included in `arena_bytes`).
    pub input_bytes: usize,
    /// Per op: bytes of all buffers alive while it runs.
    pub live_bytes_per_op: Vec<usize>,
}

impl ArenaPlan {
    /// Offset of the buffer holding `tensor`, if it is in the arena.
    pub fn offset_of(&self, tensor: TensorId) -> Option<usize> {
        self.buffers
            .iter()
            .find(|b| b.tensors.contains(&tensor))
            .map(|b| b.offset)
    }
}

/// Rounds `n` up to [`ALIGN`].
pub fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Plans the arena of a layer-by-layer schedule of `graph`.
pub fn plan_layer_based(graph: &Graph) -> ArenaPlan {
    let n_ops = graph.ops.len();
    // Buffer id of each tensor: RESHAPE outputs share their input's buffer.
    let mut buffer_of: Vec<Option<usize>> = vec![None; graph.tensors.len()];
    let mut buffers: Vec<Buffer> = Vec::new();
    let counted = |t: TensorId| !graph.tensors[t].is_constant() && graph.tensors[t].dtype != DType::F32;
    let mut touch = |t: TensorId, op: usize, buffer_of: &mut Vec<Option<usize>>, alias: Option<TensorId>| {
        if !counted(t) {
            return;
        }
        let id = match (buffer_of[t], alias.and_then(|a| buffer_of[a])) {
            (Some(id), _) => id,
            (None, Some(id)) => id,
            (None, None) => {
                buffers.push(Buffer {
                    tensors: vec![],
                    bytes: 0,
                    first_op: op,
                    last_op: op,
                    offset: 0,
                });
                buffers.len() - 1
            }
        };
        if buffer_of[t].is_none() {
            buffer_of[t] = Some(id);
            buffers[id].tensors.push(t);
            buffers[id].bytes = buffers[id].bytes.max(align(graph.tensors[t].bytes()));
        }
        buffers[id].first_op = buffers[id].first_op.min(op);
        buffers[id].last_op = buffers[id].last_op.max(op);
    };
    for &t in &graph.inputs {
        touch(t, 0, &mut buffer_of, None);
    }
    for (i, op) in graph.ops.iter().enumerate() {
        for t in op.inputs.iter().flatten() {
            touch(*t, i, &mut buffer_of, None);
        }
        let alias = if op.kind == OpKind::Reshape { op.input(0) } else { None };
        touch(op.output(), i, &mut buffer_of, alias);
    }
    for &t in &graph.outputs {
        touch(t, n_ops.saturating_sub(1), &mut buffer_of, None);
    }
    let int_input = graph.int_input();
    if let Some(id) = buffer_of[int_input] {
        buffers[id].first_op = 0;
    }
    place_greedy(&mut buffers);
    let arena_bytes = buffers.iter().map(|b| b.offset + b.bytes).max().unwrap_or(0);
    let live_bytes_per_op = (0..n_ops)
        .map(|i| {
            buffers
                .iter()
                .filter(|b| b.first_op <= i && i <= b.last_op)
                .map(|b| b.bytes)
                .sum()
        })
        .collect();
    let input_bytes = buffer_of[int_input].map_or(0, |id| buffers[id].bytes);
    ArenaPlan {
        buffers,
        arena_bytes,
        input_bytes,
        live_bytes_per_op,
    }
}

/// Assigns offsets: largest buffer first, each at the lowest offset that fits
/// between the buffers already placed whose lifetimes overlap it.
pub fn place_greedy(buffers: &mut [Buffer]) {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(buffers[i].bytes), buffers[i].first_op));
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    for &i in &order {
        let b = &buffers[i];
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .map(|&j| &buffers[j])
            .filter(|o| o.first_op <= b.last_op && b.first_op <= o.last_op)
            .map(|o| (o.offset, o.offset + o.bytes))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, end) in busy {
            if offset + b.bytes <= start {
                break;
            }
            offset = offset.max(end);
        }
        buffers[i].offset = offset;
        placed.push(i);
    }
}

//! Arena planning for layer-by-layer execution: every activation buffer gets
//! an offset in one arena so that buffers alive at the same time never overlap.
//!
//! Accounting (`docs/design.md`, "Float I/O and memory accounting"): memory starts at the model's int8
//! input, which is resident for the whole inference; float buffers at the
//! boundary (a float input before its QUANTIZE, a float output after
//! DEQUANTIZE) are not counted, since an MCU converts as it reads and writes.
//! RESHAPE outputs alias their input (no copy); a depthwise convolution with
//! multiplier 1 whose input is not read afterwards runs in place (its output
//! shares the input's buffer, plus a small temporary of one padded input
//! plane; see `quantmcu_rt::ops::depthwise_conv2d::in_place`). Offsets are aligned to
//! [`ALIGN`] bytes. Placement is greedy by size: largest buffer first, at the
//! lowest offset that does not collide with an already placed buffer whose
//! lifetime overlaps.

use std::ops::Range;

use serde::Serialize;

use crate::ir::{DType, Graph, OpKind, TensorId};

/// Alignment of every buffer offset and size, in bytes.
pub const ALIGN: usize = 4;

/// One buffer of the arena: the tensors stored in it, its size, the ops
/// during which it is alive (inclusive) and its offset.
#[derive(Clone, Debug, Serialize)]
pub struct Buffer {
    /// Tensors stored here; empty for an op's temporary.
    pub tensors: Vec<TensorId>,
    /// The op whose temporary this is (in-place depthwise).
    pub temp_of: Option<usize>,
    pub bytes: usize,
    pub first_op: usize,
    pub last_op: usize,
    pub offset: usize,
}

/// A complete arena plan.
#[derive(Clone, Debug, Serialize)]
pub struct ArenaLayout {
    pub buffers: Vec<Buffer>,
    /// Arena size: the peak SRAM of activations, in bytes.
    pub arena_bytes: usize,
    /// Bytes of the int8 input buffer (resident, included in `arena_bytes`).
    pub input_bytes: usize,
    /// Per op: bytes of all buffers alive while it runs.
    pub live_bytes_per_op: Vec<usize>,
}

impl ArenaLayout {
    /// Offset of the buffer holding `tensor`, if it is in the arena.
    pub fn offset_of(&self, tensor: TensorId) -> Option<usize> {
        self.buffers
            .iter()
            .find(|b| b.tensors.contains(&tensor))
            .map(|b| b.offset)
    }
}

/// Temporary bytes if op `index` is a depthwise convolution that can run in
/// place (multiplier 1, batch 1), `None` otherwise.
pub fn in_place_depthwise(graph: &Graph, index: usize) -> Option<usize> {
    use quantmcu_rt::ops::depthwise_conv2d::{can_run_in_place, in_place_temp_len};
    let op = &graph.ops[index];
    if !matches!(op.kind, OpKind::DepthwiseConv2d { .. }) {
        return None;
    }
    match crate::patch::stage::footprint(graph, index)? {
        crate::patch::stage::Footprint::Window(g) if can_run_in_place(&g) => Some(in_place_temp_len(&g)),
        _ => None,
    }
}

/// For each op of `ops`: bytes of the buffers alive while it runs.
pub fn live_bytes(buffers: &[Buffer], ops: Range<usize>) -> Vec<usize> {
    ops.map(|i| {
        buffers
            .iter()
            .filter(|b| b.first_op <= i && i <= b.last_op)
            .map(|b| b.bytes)
            .sum()
    })
    .collect()
}

/// Rounds `n` up to [`ALIGN`].
pub fn align(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Plans the arena of a layer-by-layer schedule of `graph`.
pub fn plan_layer_based(graph: &Graph) -> ArenaLayout {
    plan_ops(graph, 0..graph.ops.len(), graph.int_input(), true)
}

/// Plans the arena of running `ops` layer by layer, their input `entry`
/// resident from the first of them. Op indices in the plan are the graph's;
/// `live_bytes_per_op[k]` is for op `ops.start + k`. `in_place` allows
/// depthwise layers in place (int8 only: a mixed layer stage turns it off).
pub fn plan_ops(graph: &Graph, ops: Range<usize>, entry: TensorId, in_place: bool) -> ArenaLayout {
    // Buffer id of each tensor: RESHAPE outputs share their input's buffer.
    let mut buffer_of: Vec<Option<usize>> = vec![None; graph.tensors.len()];
    let mut buffers: Vec<Buffer> = Vec::new();
    let counted = |t: TensorId| !graph.tensors[t].is_constant() && graph.tensors[t].dtype != DType::F32;
    let touch = |t: TensorId,
                 op: usize,
                 buffer_of: &mut Vec<Option<usize>>,
                 buffers: &mut Vec<Buffer>,
                 alias: Option<TensorId>| {
        if !counted(t) {
            return;
        }
        let id = match (buffer_of[t], alias.and_then(|a| buffer_of[a])) {
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                buffers.push(Buffer {
                    tensors: vec![],
                    temp_of: None,
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
    // The last op reading each tensor (graph outputs are read at the end).
    let mut last_reader = vec![0usize; graph.tensors.len()];
    for i in ops.clone() {
        for t in graph.ops[i].inputs.iter().flatten() {
            last_reader[*t] = i;
        }
    }
    for &t in &graph.outputs {
        last_reader[t] = usize::MAX;
    }
    touch(entry, ops.start, &mut buffer_of, &mut buffers, None);
    let mut temps = Vec::new();
    for i in ops.clone() {
        let op = &graph.ops[i];
        for t in op.inputs.iter().flatten() {
            touch(*t, i, &mut buffer_of, &mut buffers, None);
        }
        let in_place = in_place_depthwise(graph, i).filter(|_| in_place).filter(|_| {
            let x = op.input(0).expect("depthwise reads an input");
            // Every tensor sharing the input's buffer must be dead after this op.
            let shared = buffer_of[x].map_or(vec![x], |b| buffers[b].tensors.clone());
            shared.iter().all(|&t| last_reader[t] == i)
        });
        let alias = match (&op.kind, in_place) {
            (OpKind::Reshape, _) => op.input(0),
            (_, Some(temp)) => {
                temps.push(Buffer {
                    tensors: vec![],
                    temp_of: Some(i),
                    bytes: align(temp),
                    first_op: i,
                    last_op: i,
                    offset: 0,
                });
                op.input(0)
            }
            _ => None,
        };
        touch(op.output(), i, &mut buffer_of, &mut buffers, alias);
    }
    buffers.extend(temps);
    let last = ops.end.saturating_sub(1);
    for &t in &graph.outputs {
        if buffer_of[t].is_some() {
            touch(t, last, &mut buffer_of, &mut buffers, None);
        }
    }
    place_greedy(&mut buffers);
    let arena_bytes = buffers.iter().map(|b| b.offset + b.bytes).max().unwrap_or(0);
    let live_bytes_per_op = live_bytes(&buffers, ops);
    let input_bytes = buffer_of[entry].map_or(0, |id| buffers[id].bytes);
    ArenaLayout {
        buffers,
        arena_bytes,
        input_bytes,
        live_bytes_per_op,
    }
}

/// Assigns offsets: for each of a few buffer orders (largest first; by first
/// use; by last use, latest first; longest lifetime first), place every buffer
/// at the lowest offset that fits between the already placed buffers whose
/// lifetimes overlap it, and keep the order that gives the smallest arena.
pub fn place_greedy(buffers: &mut [Buffer]) {
    type Key = fn(&Buffer) -> (std::cmp::Reverse<usize>, usize, usize);
    let orders: [Key; 4] = [
        |b| (std::cmp::Reverse(b.bytes), b.first_op, b.last_op),
        |b| (std::cmp::Reverse(0), b.first_op, usize::MAX - b.bytes),
        |b| (std::cmp::Reverse(b.last_op), usize::MAX - b.bytes, b.first_op),
        |b| {
            (
                std::cmp::Reverse(b.last_op - b.first_op),
                usize::MAX - b.bytes,
                b.first_op,
            )
        },
    ];
    let mut best: Option<(usize, Vec<usize>)> = None;
    for key in orders {
        let mut order: Vec<usize> = (0..buffers.len()).collect();
        order.sort_by_key(|&i| key(&buffers[i]));
        let offsets = place_in_order(buffers, &order);
        let size = buffers
            .iter()
            .zip(&offsets)
            .map(|(b, o)| o + b.bytes)
            .max()
            .unwrap_or(0);
        if best.as_ref().is_none_or(|(s, _)| size < *s) {
            best = Some((size, offsets));
        }
    }
    if let Some((_, offsets)) = best {
        for (b, o) in buffers.iter_mut().zip(offsets) {
            b.offset = o;
        }
    }
}

/// Offsets from placing `buffers` one by one in `order`, each at the lowest
/// offset free during its whole lifetime.
fn place_in_order(buffers: &[Buffer], order: &[usize]) -> Vec<usize> {
    let mut offsets = vec![0; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    for &i in order {
        let b = &buffers[i];
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].first_op <= b.last_op && b.first_op <= buffers[j].last_op)
            .map(|&j| (offsets[j], offsets[j] + buffers[j].bytes))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, end) in busy {
            if offset + b.bytes <= start {
                break;
            }
            offset = offset.max(end);
        }
        offsets[i] = offset;
        placed.push(i);
    }
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buffers(spec: &[(usize, usize, usize)]) -> Vec<Buffer> {
        spec.iter()
            .map(|&(bytes, first, len)| Buffer {
                tensors: vec![],
                temp_of: None,
                bytes,
                first_op: first,
                last_op: first + len,
                offset: 0,
            })
            .collect()
    }

    proptest! {
        /// Buffers alive at the same time never share bytes, and the arena is
        /// at least the largest sum of simultaneously live buffers.
        #[test]
        fn placement_is_valid(spec in proptest::collection::vec((1usize..5000, 0usize..30, 0usize..6), 1..40)) {
            let mut b = buffers(&spec);
            place_greedy(&mut b);
            for (i, x) in b.iter().enumerate() {
                for y in &b[i + 1..] {
                    let time = x.first_op <= y.last_op && y.first_op <= x.last_op;
                    let space = x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
                    prop_assert!(!(time && space), "{x:?} overlaps {y:?}");
                }
            }
            let arena = b.iter().map(|x| x.offset + x.bytes).max().unwrap();
            let live_max = (0..40).map(|t| b.iter().filter(|x| x.first_op <= t && t <= x.last_op).map(|x| x.bytes).sum::<usize>()).max().unwrap();
            prop_assert!(arena >= live_max);
        }
    }

    #[test]
    fn chain_reaches_the_live_peak() {
        // A layer chain: buffer k is written by op k and read by op k + 1.
        let sizes = [27_648, 18_432, 18_432, 36_864, 9_216, 18_432];
        let mut b = buffers(&sizes.iter().enumerate().map(|(k, &s)| (s, k, 1)).collect::<Vec<_>>());
        place_greedy(&mut b);
        let arena = b.iter().map(|x| x.offset + x.bytes).max().unwrap();
        assert_eq!(arena, 18_432 + 36_864);
    }
}

//! SRAM of a patch-based schedule.
//!
//! The patch phase holds: the int8 input (whole map when *resident*; only the
//! current tile's input window when *streamed*), the split tensor's full
//! buffer, and one tile's working buffers — every stage tensor's window sized
//! for the largest tile, placed by lifetime inside the stage with the same
//! greedy planner as the layer-by-layer arena, and reused by every tile. The
//! layer phase then runs the rest of the graph layer by layer from the split
//! tensor. Peak SRAM is the larger of the two phases.

use serde::{Deserialize, Serialize};

use super::stage::hwc;
use super::tiling::TilePlan;
use crate::ir::Graph;
use crate::memory::{align, place_greedy, plan_ops, Buffer};

/// How the int8 input is held during the patch phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    /// The whole input sits in SRAM (the default).
    Resident,
    /// Each tile reads its input window from the sensor or flash.
    Streamed,
}

/// Memory of a patch schedule, in bytes.
#[derive(Clone, Debug, Serialize)]
pub struct PatchMemory {
    /// The arena the schedule needs: max of the two phases.
    pub peak_bytes: usize,
    pub patch_phase_bytes: usize,
    pub layer_phase_bytes: usize,
    /// Input bytes in SRAM during the patch phase (whole map or one window).
    pub input_bytes: usize,
    pub split_bytes: usize,
    /// One tile's working buffers (the streamed input window included).
    pub tile_bytes: usize,
}

/// Memory of `plan` with the input held as `mode` says.
pub fn patch_memory(graph: &Graph, plan: &TilePlan, mode: InputMode) -> PatchMemory {
    let stage = &plan.stage;
    let window_bytes = |t: usize| {
        let c = hwc(graph, t).map_or(1, |s| s[2]);
        align(plan.tiles.iter().map(|tile| tile.rect(t).area() * c).max().unwrap_or(0))
    };
    // Working buffers: stage op outputs (the split tile included, copied into
    // the split map after the last op), plus the input window when streamed.
    let n = stage.ops.len();
    let mut buffers: Vec<Buffer> = Vec::new();
    let last_use = |t: usize, from: usize| {
        stage
            .ops
            .iter()
            .enumerate()
            .filter(|(_, &i)| graph.ops[i].inputs.contains(&Some(t)))
            .map(|(k, _)| k)
            .max()
            .unwrap_or(from)
    };
    if mode == InputMode::Streamed {
        buffers.push(Buffer {
            tensors: vec![stage.input],
            bytes: window_bytes(stage.input),
            first_op: 0,
            last_op: last_use(stage.input, 0),
            offset: 0,
        });
    }
    for (k, &i) in stage.ops.iter().enumerate() {
        let t = graph.ops[i].output();
        let last = if k + 1 == n { n } else { last_use(t, k) };
        buffers.push(Buffer {
            tensors: vec![t],
            bytes: window_bytes(t),
            first_op: k,
            last_op: last,
            offset: 0,
        });
    }
    place_greedy(&mut buffers);
    let tile_bytes = buffers.iter().map(|b| b.offset + b.bytes).max().unwrap_or(0);
    let split_bytes = align(graph.tensors[stage.split].bytes());
    let input_bytes = match mode {
        InputMode::Resident => align(graph.tensors[stage.input].bytes()),
        InputMode::Streamed => window_bytes(stage.input),
    };
    let resident = if mode == InputMode::Resident { input_bytes } else { 0 };
    let patch_phase_bytes = resident + split_bytes + tile_bytes;
    let rest = stage.ops.last().map_or(0, |&l| l + 1)..graph.ops.len();
    let layer_phase_bytes = plan_ops(graph, rest, stage.split).arena_bytes;
    PatchMemory {
        peak_bytes: patch_phase_bytes.max(layer_phase_bytes),
        patch_phase_bytes,
        layer_phase_bytes,
        input_bytes,
        split_bytes,
        tile_bytes,
    }
}

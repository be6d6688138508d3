//! SRAM of a patch-based schedule: one arena for the whole inference.
//!
//! Buffers and their lifetimes (op indices of the graph):
//! - the int8 input map while the stage runs (*resident*), or only the current
//!   tile's input window (*streamed*);
//! - per stage op, a tile buffer for its output window, sized for the largest
//!   tile and reused by every tile (tiles run one after the other and each
//!   recomputes its whole branch, so a tile buffer lives from its op to its
//!   last reader inside the stage; the last op's tile is copied into the
//!   split map);
//! - the split map, from the first stage op to its last reader;
//! - the buffers of the layer-by-layer phase after the stage.
//!
//! All of them are placed together by the greedy planner of
//! [`crate::memory`]; the arena size is the peak SRAM.

use serde::{Deserialize, Serialize};

use super::stage::hwc;
use super::tiling::Tiling;
use crate::ir::{Graph, TensorId};
use crate::memory::{align, live_bytes, place_greedy, plan_ops, Buffer};

/// How the int8 input is held during the patch phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputMode {
    /// The whole input sits in SRAM (the default).
    Resident,
    /// Each tile reads its input window from the sensor or flash.
    Streamed,
}

/// What a buffer of a patch arena holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    /// A whole map: the resident input, the split map or a layer-phase tensor.
    Map,
    /// The current tile's window of a stage tensor (the streamed input
    /// window included).
    Tile,
}

/// The arena of a patch schedule.
#[derive(Clone, Debug, Serialize)]
pub struct PatchLayout {
    pub buffers: Vec<Buffer>,
    pub roles: Vec<Role>,
    pub memory: PatchMemory,
}

impl PatchLayout {
    /// Offset and size of the buffer holding tensor `t` in `role`.
    pub fn find(&self, t: TensorId, role: Role) -> Option<(usize, usize)> {
        self.buffers
            .iter()
            .zip(&self.roles)
            .find(|(b, r)| **r == role && b.tensors.contains(&t))
            .map(|(b, _)| (b.offset, b.bytes))
    }
}

/// Memory of a patch schedule, in bytes.
#[derive(Clone, Debug, Serialize)]
pub struct PatchMemory {
    /// The arena the schedule needs.
    pub peak_bytes: usize,
    /// Highest arena byte used while the stage runs.
    pub patch_phase_bytes: usize,
    /// Highest arena byte used after the stage.
    pub layer_phase_bytes: usize,
    /// Input bytes in SRAM during the patch phase (whole map or one window).
    pub input_bytes: usize,
    pub split_bytes: usize,
    /// Largest sum of tile buffers alive at once.
    pub tile_bytes: usize,
    /// Per graph op: bytes of all arena buffers alive while it runs (0 for the
    /// float boundary ops before the stage). Not serialized with every
    /// search candidate; `quantmcu plan --json` reports it for the choice.
    #[serde(skip)]
    pub live_bytes_per_op: Vec<usize>,
}

/// Lays out the arena of `plan` with the input held as `mode` says.
pub fn patch_layout(graph: &Graph, plan: &Tiling, mode: InputMode) -> PatchLayout {
    patch_layout_with(graph, plan, mode, true)
}

/// [`patch_layout`], with depthwise layers of the layer stage in place only
/// when `in_place` (a mixed-precision layer stage needs them out of place).
pub fn patch_layout_with(graph: &Graph, plan: &Tiling, mode: InputMode, in_place: bool) -> PatchLayout {
    let stage = &plan.stage;
    let (first, last) = (stage.ops[0], *stage.ops.last().expect("stage ops"));
    let window_bytes = |t: TensorId| {
        let c = hwc(graph, t).map_or(1, |s| s[2]);
        align(plan.tiles.iter().map(|tile| tile.rect(t).area() * c).max().unwrap_or(0))
    };
    let last_reader = |t: TensorId, from: usize| {
        stage
            .ops
            .iter()
            .copied()
            .filter(|&i| graph.ops[i].inputs.contains(&Some(t)))
            .max()
            .unwrap_or(from)
    };
    let buffer = |t: TensorId, bytes: usize, first_op: usize, last_op: usize| Buffer {
        tensors: vec![t],
        temp_of: None,
        bytes,
        first_op,
        last_op,
        offset: 0,
    };
    let mut buffers = Vec::new();
    let mut roles = Vec::new();
    let input_bytes = match mode {
        InputMode::Resident => {
            let bytes = align(graph.tensors[stage.input].bytes());
            buffers.push(buffer(stage.input, bytes, first, last));
            roles.push(Role::Map);
            bytes
        }
        InputMode::Streamed => {
            let bytes = window_bytes(stage.input);
            buffers.push(buffer(stage.input, bytes, first, last_reader(stage.input, first)));
            roles.push(Role::Tile);
            bytes
        }
    };
    for &i in &stage.ops {
        let t = graph.ops[i].output();
        let end = if i == last { last } else { last_reader(t, i) };
        buffers.push(buffer(t, window_bytes(t), i, end));
        roles.push(Role::Tile);
    }
    let layer = plan_ops(graph, last + 1..graph.ops.len(), stage.split, in_place);
    for mut b in layer.buffers {
        if b.tensors.contains(&stage.split) {
            b.first_op = first;
        }
        buffers.push(b);
        roles.push(Role::Map);
    }
    if !buffers
        .iter()
        .zip(&roles)
        .any(|(b, r)| *r == Role::Map && b.tensors.contains(&stage.split))
    {
        // The split tensor is only a graph output: it lives to the end.
        buffers.push(buffer(
            stage.split,
            align(graph.tensors[stage.split].bytes()),
            first,
            graph.ops.len(),
        ));
        roles.push(Role::Map);
    }
    place_greedy(&mut buffers);
    let end_during = |during: &dyn Fn(&Buffer) -> bool| {
        buffers
            .iter()
            .filter(|b| during(b))
            .map(|b| b.offset + b.bytes)
            .max()
            .unwrap_or(0)
    };
    let tile_bytes = (first..=last)
        .map(|i| {
            buffers
                .iter()
                .zip(&roles)
                .filter(|(b, r)| **r == Role::Tile && b.first_op <= i && i <= b.last_op)
                .map(|(b, _)| b.bytes)
                .sum()
        })
        .max()
        .unwrap_or(0);
    let memory = PatchMemory {
        peak_bytes: end_during(&|_| true),
        patch_phase_bytes: end_during(&|b| b.first_op <= last),
        layer_phase_bytes: end_during(&|b| b.last_op > last),
        input_bytes,
        split_bytes: align(graph.tensors[stage.split].bytes()),
        tile_bytes,
        live_bytes_per_op: live_bytes(&buffers, 0..graph.ops.len()),
    };
    PatchLayout { buffers, roles, memory }
}

/// Memory of `plan` with the input held as `mode` says.
pub fn patch_memory(graph: &Graph, plan: &Tiling, mode: InputMode) -> PatchMemory {
    patch_layout(graph, plan, mode).memory
}

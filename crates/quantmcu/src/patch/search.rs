//! Plan search: every split point and grid (1x1 .. 8x8), their peak SRAM and
//! executed MACs, and the fitting plan with the fewest MACs.

use serde::Serialize;

use super::arena::{patch_memory, InputMode, PatchMemory};
use super::stage::split_points;
use super::tiling::TilePlan;
use crate::ir::Graph;
use crate::memory::plan_layer_based;

/// Largest grid side searched.
pub const MAX_GRID: usize = 8;

/// One evaluated schedule.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    /// Name of the split tensor.
    pub split: String,
    /// Index of the last op of the patch stage.
    pub split_op: usize,
    pub grid: [usize; 2],
    pub peak_sram_bytes: usize,
    /// MACs of the whole network with the patch stage's halo recomputation.
    pub macs: u64,
    /// Extra MACs over the layer-by-layer schedule, in percent of it.
    pub overhead_percent: f64,
    pub memory: PatchMemory,
}

/// Every candidate schedule, optionally restricted to one split op and grid.
pub fn candidates(graph: &Graph, mode: InputMode, split_op: Option<usize>, grid: Option<[usize; 2]>) -> Vec<Candidate> {
    let layer_macs = graph.macs();
    let mut out = Vec::new();
    for stage in split_points(graph) {
        let last = *stage.ops.last().expect("stages are not empty");
        if split_op.is_some_and(|s| s != last) {
            continue;
        }
        let stage_layer_macs: u64 = stage.ops.iter().map(|&i| graph.op_macs(i)).sum();
        for p in 1..=MAX_GRID {
            for q in 1..=MAX_GRID {
                if grid.is_some_and(|g| g != [p, q]) {
                    continue;
                }
                let Some(plan) = TilePlan::new(graph, &stage, [p, q]) else {
                    continue;
                };
                let macs = layer_macs - stage_layer_macs + plan.macs(graph);
                let memory = patch_memory(graph, &plan, mode);
                out.push(Candidate {
                    split: graph.tensors[stage.split].name.clone(),
                    split_op: last,
                    grid: [p, q],
                    peak_sram_bytes: memory.peak_bytes,
                    macs,
                    overhead_percent: 100.0 * (macs as f64 / layer_macs as f64 - 1.0),
                    memory,
                });
            }
        }
    }
    out
}

/// The outcome of a search under an SRAM budget.
#[derive(Clone, Debug, Serialize)]
pub struct Search {
    pub chosen: Option<Candidate>,
    /// The candidate with the smallest peak SRAM (what a budget must allow).
    pub smallest: Option<Candidate>,
    pub layer_based_peak_sram_bytes: usize,
    pub layer_based_macs: u64,
    pub candidates: Vec<Candidate>,
}

/// Picks the candidate with the fewest MACs whose peak SRAM fits `budget`
/// (ties: smaller SRAM, then fewer tiles).
pub fn search(
    graph: &Graph,
    budget: usize,
    mode: InputMode,
    split_op: Option<usize>,
    grid: Option<[usize; 2]>,
) -> Search {
    let candidates = candidates(graph, mode, split_op, grid);
    let key = |c: &Candidate| (c.macs, c.peak_sram_bytes, c.grid[0] * c.grid[1]);
    let chosen = candidates
        .iter()
        .filter(|c| c.peak_sram_bytes <= budget)
        .min_by_key(|c| key(c))
        .cloned();
    let smallest = candidates.iter().min_by_key(|c| (c.peak_sram_bytes, c.macs)).cloned();
    Search {
        chosen,
        smallest,
        layer_based_peak_sram_bytes: plan_layer_based(graph).arena_bytes,
        layer_based_macs: graph.macs(),
        candidates,
    }
}

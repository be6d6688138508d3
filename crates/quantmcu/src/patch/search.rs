//! Plan search: every split point and grid (1x1 .. 8x8), their peak SRAM and
//! executed MACs, and the fitting plan with the fewest MACs; the
//! layer-by-layer schedule competes with them.

use serde::Serialize;

use super::arena::{patch_memory, InputMode, PatchMemory};
use super::stage::split_points;
use super::tiling::Tiling;
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
                let Some(plan) = Tiling::new(graph, &stage, [p, q]) else {
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
    /// The fitting patch candidate with the fewest MACs.
    pub chosen: Option<Candidate>,
    /// True when the layer-by-layer schedule is the pick: the search was not
    /// restricted to a split op or grid, its peak fits the budget, and no
    /// fitting patch candidate needs fewer MACs, or as many MACs and less
    /// SRAM (a patch schedule that saves nothing loses to it).
    pub layer_based: bool,
    /// The candidate with the smallest peak SRAM (what a budget must allow).
    pub smallest: Option<Candidate>,
    pub layer_based_peak_sram_bytes: usize,
    pub layer_based_macs: u64,
    pub candidates: Vec<Candidate>,
}

/// Picks the candidate with the fewest MACs whose peak SRAM fits `budget`
/// (ties: smaller SRAM, then fewer tiles), and whether the layer-by-layer
/// schedule beats it (see [`Search::layer_based`]).
pub fn search(
    graph: &Graph,
    budget: usize,
    mode: InputMode,
    split_op: Option<usize>,
    grid: Option<[usize; 2]>,
) -> Search {
    let candidates = candidates(graph, mode, split_op, grid);
    let layer = (graph.macs(), plan_layer_based(graph).arena_bytes);
    let unrestricted = split_op.is_none() && grid.is_none();
    let (chosen, layer_based) = pick(&candidates, budget, unrestricted.then_some(layer));
    let smallest = candidates.iter().min_by_key(|c| (c.peak_sram_bytes, c.macs)).cloned();
    Search {
        chosen,
        layer_based,
        smallest,
        layer_based_peak_sram_bytes: layer.1,
        layer_based_macs: layer.0,
        candidates,
    }
}

/// The fitting candidate with the fewest MACs (ties: smaller SRAM, then
/// fewer tiles), and whether the layer-by-layer schedule `layer` (MACs, peak
/// bytes), when it competes, fits and is no worse on MACs then SRAM.
fn pick(candidates: &[Candidate], budget: usize, layer: Option<(u64, usize)>) -> (Option<Candidate>, bool) {
    let key = |c: &Candidate| (c.macs, c.peak_sram_bytes, c.grid[0] * c.grid[1]);
    let chosen = candidates
        .iter()
        .filter(|c| c.peak_sram_bytes <= budget)
        .min_by_key(|c| key(c))
        .cloned();
    let layer_based = layer.is_some_and(|(macs, peak)| {
        peak <= budget
            && match &chosen {
                None => true,
                Some(c) => (macs, peak) <= (c.macs, c.peak_sram_bytes),
            }
    });
    (chosen, layer_based)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(macs: u64, peak: usize, grid: [usize; 2]) -> Candidate {
        Candidate {
            split: "t".into(),
            split_op: 3,
            grid,
            peak_sram_bytes: peak,
            macs,
            overhead_percent: 0.0,
            memory: PatchMemory {
                peak_bytes: peak,
                patch_phase_bytes: peak,
                layer_phase_bytes: peak,
                input_bytes: 0,
                split_bytes: 0,
                tile_bytes: 0,
                live_bytes_per_op: vec![],
            },
        }
    }

    #[test]
    fn the_layer_schedule_wins_unless_a_patch_schedule_saves_sram() {
        // Layer by layer: 1000 MACs, 500 B. A 1x1 patch with the same MACs and
        // peak saves nothing; a 2x2 patch saves SRAM at more MACs.
        let same = candidate(1000, 500, [1, 1]);
        let smaller = candidate(1100, 200, [2, 2]);
        let all = [same.clone(), smaller.clone()];
        let layer = Some((1000, 500));
        // Ample budget: the layer-by-layer schedule, not the 1x1 patch.
        let (chosen, layer_based) = pick(&all, 10_000, layer);
        assert!(layer_based);
        assert_eq!(chosen.unwrap().grid, [1, 1]);
        // Below the layer peak: the patch that fits.
        let (chosen, layer_based) = pick(&all, 300, layer);
        assert!(!layer_based);
        assert_eq!(chosen.unwrap().grid, [2, 2]);
        // A patch with the layer's MACs and less SRAM beats it.
        let (chosen, layer_based) = pick(&[candidate(1000, 400, [1, 2])], 10_000, layer);
        assert!(!layer_based);
        assert_eq!(chosen.unwrap().grid, [1, 2]);
        // Not competing (a restricted search), or nothing else fits.
        assert!(!pick(&all, 10_000, None).1);
        assert!(pick(&[], 500, layer).1);
        assert!(!pick(&[], 499, layer).1);
    }
}

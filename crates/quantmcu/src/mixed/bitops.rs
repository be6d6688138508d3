//! BitOPs (`docs/design.md`, "Metrics"): executed MACs x weight bits (8) x the bits
//! of the activation the kernel really read, per op, counted tile by tile
//! with the width each tile stored each map at (the runtime's statistics).

use serde::Serialize;

use super::format::storage_bits;
use super::MixedPrecision;
use crate::ir::Graph;
use crate::patch::tiling::pixel_macs;
use crate::patch::Tiling;

/// Weight bits of every kernel (int8 weights).
pub const WEIGHT_BITS: u64 = 8;

/// BitOPs of one inference, and how many (tile, map) pairs and tiles turned
/// outlier.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BitOps {
    /// Per graph op.
    pub per_op: Vec<u64>,
    pub patch_stage: u64,
    pub total: u64,
    /// (tile, low-bit map) pairs stored at 8 bits, and all such pairs.
    pub outlier_maps: usize,
    pub low_maps: usize,
    /// Tiles with at least one low-bit map stored at 8 bits, and all tiles.
    pub outlier_tiles: usize,
    pub tiles: usize,
}

/// Counts the BitOPs of one run. `stats` is the runtime's `tiles x maps`
/// table of stored widths (empty for an int8 plan); without a patch plan
/// every op counts whole at 8-bit activations.
pub fn count(graph: &Graph, patch: Option<&Tiling>, mixed: Option<&MixedPrecision>, stats: &[u8]) -> BitOps {
    let n_maps = mixed.map_or(0, |m| m.maps.len());
    let width = |tile: usize, t| -> u64 {
        let m = mixed.and_then(|m| m.map_of(t));
        match m.and_then(|k| stats.get(tile * n_maps + k).map(|&b| (k, b))) {
            // Stored low: the map's own width (a 3-bit map sits in 4-bit codes).
            Some((k, b)) if b > 0 => {
                let own = mixed.map_or(8, |m| m.maps[k].format.bits);
                u64::from(if u32::from(b) == storage_bits(own) {
                    own
                } else {
                    u32::from(b)
                })
            }
            _ => 8,
        }
    };
    let mut b = BitOps {
        per_op: vec![0; graph.ops.len()],
        ..BitOps::default()
    };
    let stage_ops = patch.map_or(&[][..], |tp| &tp.stage.ops[..]);
    for (i, op) in graph.ops.iter().enumerate() {
        let macs = graph.op_macs(i);
        if macs == 0 {
            continue;
        }
        let x = graph.activation_inputs(op)[0];
        b.per_op[i] = match patch {
            Some(tp) if stage_ops.contains(&i) => {
                let px = pixel_macs(graph, i);
                let out = op.output();
                tp.tiles
                    .iter()
                    .enumerate()
                    .map(|(k, tile)| px * tile.rect(out).area() as u64 * WEIGHT_BITS * width(k, x))
                    .sum()
            }
            // The layer stage is one more tile (mixed scope `all`).
            Some(tp) => macs * WEIGHT_BITS * width(tp.tiles.len(), x),
            None => macs * WEIGHT_BITS * 8,
        };
        if stage_ops.contains(&i) {
            b.patch_stage += b.per_op[i];
        }
        b.total += b.per_op[i];
    }
    if let (Some(m), Some(tp)) = (mixed, patch) {
        b.tiles = tp.tiles.len();
        // Patch tiles only: the layer stage's entry counts in the (tile, map) shares.
        let rows = stats.len() / n_maps.max(1);
        for k in 0..rows {
            let mut outlier = false;
            for (j, spec) in m.maps.iter().enumerate() {
                let stored = stats.get(k * n_maps + j).copied().unwrap_or(0);
                if spec.format.bits < 8 && stored != 0 {
                    b.low_maps += 1;
                    if stored == 8 {
                        b.outlier_maps += 1;
                        outlier = true;
                    }
                }
            }
            if k < tp.tiles.len() {
                b.outlier_tiles += usize::from(outlier);
            }
        }
    }
    b
}

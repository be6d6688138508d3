//! Tile windows of a patch stage: for each tile of the split tensor, the
//! window of every stage tensor it needs, walking back through the stage
//! (each op's input window is its output window grown by the receptive field
//! and clipped at the real border; a tensor read by several ops gets the
//! bounding box of their needs).

use quantmcu_rt::geometry::Rect;
use quantmcu_rt::ops::pad::{pad_input_rect, PadParams};

use super::stage::{footprint, hwc, Footprint, Stage};
use crate::ir::{Graph, OpKind, TensorId};

/// One tile: its windows, one per stage tensor (the stage input first, then
/// the outputs of the stage ops in order; the last is the tile of the split
/// tensor itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub rects: Vec<(TensorId, Rect)>,
}

impl Tile {
    /// The window of tensor `t` in this tile.
    pub fn rect(&self, t: TensorId) -> Rect {
        self.rects
            .iter()
            .find(|(u, _)| *u == t)
            .map(|(_, r)| *r)
            .expect("stage tensor")
    }
}

/// A stage cut into a `grid[0] x grid[1]` grid of split-tensor tiles.
#[derive(Clone, Debug)]
pub struct Tiling {
    pub stage: Stage,
    pub grid: [usize; 2],
    pub tiles: Vec<Tile>,
}

/// Splits `n` into `parts` near-equal ranges (the first `n % parts` one longer).
pub fn split_axis(n: usize, parts: usize) -> Vec<(usize, usize)> {
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = (start, len);
            start += len;
            r
        })
        .collect()
}

impl Tiling {
    /// The windows of every tile of `stage` for a `grid` (rows x columns);
    /// `None` when the split tensor has fewer rows or columns than the grid.
    pub fn new(graph: &Graph, stage: &Stage, grid: [usize; 2]) -> Option<Self> {
        let [h, w, _] = hwc(graph, stage.split)?;
        if grid[0] == 0 || grid[1] == 0 || grid[0] > h || grid[1] > w {
            return None;
        }
        let mut tiles = Vec::with_capacity(grid[0] * grid[1]);
        for &(y, th) in &split_axis(h, grid[0]) {
            for &(x, tw) in &split_axis(w, grid[1]) {
                tiles.push(tile_windows(graph, stage, Rect { y, x, h: th, w: tw }));
            }
        }
        Some(Tiling {
            stage: stage.clone(),
            grid,
            tiles,
        })
    }

    /// MACs each stage op executes over all tiles (halo recomputation
    /// included), in stage order.
    pub fn macs_per_op(&self, graph: &Graph) -> Vec<u64> {
        self.stage
            .ops
            .iter()
            .map(|&i| {
                let out = graph.ops[i].output();
                let pixels: usize = self.tiles.iter().map(|t| t.rect(out).area()).sum();
                pixel_macs(graph, i) * pixels as u64
            })
            .collect()
    }

    /// Total MACs the stage executes.
    pub fn macs(&self, graph: &Graph) -> u64 {
        self.macs_per_op(graph).iter().sum()
    }
}

/// MACs of op `index` per output pixel (all output channels).
pub fn pixel_macs(graph: &Graph, index: usize) -> u64 {
    let pixels: usize = graph.tensors[graph.ops[index].output()].shape[..3].iter().product();
    graph.op_macs(index) / pixels as u64
}

fn union(a: Option<Rect>, b: Rect) -> Rect {
    match a {
        None => b,
        Some(a) => {
            let (y, x) = (a.y.min(b.y), a.x.min(b.x));
            Rect {
                y,
                x,
                h: (a.y + a.h).max(b.y + b.h) - y,
                w: (a.x + a.w).max(b.x + b.w) - x,
            }
        }
    }
}

fn tile_windows(graph: &Graph, stage: &Stage, out: Rect) -> Tile {
    let mut need: Vec<(TensorId, Option<Rect>)> = std::iter::once(stage.input)
        .chain(stage.tensors(graph))
        .map(|t| (t, None))
        .collect();
    let slot = |need: &mut Vec<(TensorId, Option<Rect>)>, t: TensorId| need.iter().position(|(u, _)| *u == t);
    let last = need.len() - 1;
    need[last].1 = Some(out);
    for &i in stage.ops.iter().rev() {
        let op = &graph.ops[i];
        let Some(o) = slot(&mut need, op.output()).and_then(|s| need[s].1) else {
            continue;
        };
        let input_rect = match footprint(graph, i).expect("stage ops have footprints") {
            Footprint::Window(g) => g.input_rect(&o),
            Footprint::Pad { input, before } => pad_input_rect(
                &PadParams {
                    input,
                    before,
                    value: 0,
                },
                &o,
            ),
            Footprint::Elementwise => o,
        };
        let reads: Vec<TensorId> = match op.kind {
            OpKind::Add { .. } => op.inputs.iter().flatten().copied().collect(),
            _ => vec![op.input(0).expect("stage ops read an input")],
        };
        for t in reads {
            if let Some(s) = slot(&mut need, t) {
                need[s].1 = Some(union(need[s].1, input_rect));
            }
        }
    }
    Tile {
        rects: need.into_iter().map(|(t, r)| (t, r.unwrap_or_default())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_equal_splits() {
        assert_eq!(split_axis(10, 3), vec![(0, 4), (4, 3), (7, 3)]);
        assert_eq!(split_axis(12, 4), vec![(0, 3), (3, 3), (6, 3), (9, 3)]);
    }
}

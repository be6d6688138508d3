//! How a plan's outputs compare with the layer-by-layer int8 reference over a
//! set of inputs (`docs/design.md`, "Metrics"): top-1 agreement, output SQNR,
//! accuracy where labels fit the model's classes, mean BitOPs per inference
//! (whole network and patch stage) and the share of outlier tiles.

use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::{class_scores, top_k};
use crate::patch::PlanRunner;
use crate::reference::ReferenceExecutor;
use crate::tensor::TensorData;
use crate::Result;

/// One labelled (or unlabelled) input of a comparison.
pub struct Sample {
    pub inputs: Vec<TensorData>,
    pub label: Option<usize>,
}

/// Totals of a comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub images: usize,
    /// Share of images whose top-1 class equals layer-int8's.
    pub agreement: f64,
    /// 10 log10(sum ref^2 / sum (ref - plan)^2) over the dequantized first
    /// output of every image (infinite when equal).
    pub sqnr_db: f64,
    /// Top-1 accuracy (`None` unless every image has a label among the
    /// model's classes), and layer-int8's on the same images.
    pub accuracy: Option<f64>,
    pub reference_accuracy: Option<f64>,
    /// Mean BitOPs per inference, whole network, per graph op and in the
    /// patch stage.
    pub bitops: f64,
    pub bitops_per_op: Vec<f64>,
    pub bitops_patch_stage: f64,
    /// Share of (tile, low-bit map) pairs and of tiles stored at 8 bits.
    pub outlier_map_share: f64,
    pub outlier_tile_share: f64,
    /// Per (tile, map) of the plan (`tiles x maps`, tile-major): the share
    /// of images that stored it at 8 bits (among those that wrote it).
    pub outlier_by_tile_map: Vec<f64>,
}

struct One {
    agree: bool,
    signal: f64,
    noise: f64,
    correct: Option<(bool, bool)>,
    bitops: u64,
    bitops_per_op: Vec<u64>,
    bitops_patch: u64,
    outlier_maps: usize,
    low_maps: usize,
    outlier_tiles: usize,
    tiles: usize,
    widths: Vec<u8>,
}

/// Runs `runner` and the reference on every sample, in parallel; `progress`
/// is called once per sample.
pub fn compare(
    interp: &ReferenceExecutor,
    runner: &PlanRunner,
    samples: &[Sample],
    progress: &(dyn Fn() + Sync),
) -> Result<Comparison> {
    Ok(compare_all(interp, &[runner], samples, progress)?.remove(0))
}

/// [`compare`] for several plans at once: the reference runs once per
/// sample; `progress` is called once per (sample, plan).
pub fn compare_all(
    interp: &ReferenceExecutor,
    runners: &[&PlanRunner],
    samples: &[Sample],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Comparison>> {
    let graph = interp.graph();
    let classes = graph.tensors[graph.outputs[0]].elements();
    // Labels count only when every sample has one of the model's classes.
    let labelled = samples.iter().all(|s| s.label.is_some_and(|l| l < classes));
    let per_sample: Vec<Vec<One>> = samples
        .par_iter()
        .map(|s| {
            let want = interp.run(&s.inputs)?;
            let a = class_scores(graph, &want[0]);
            let ta = top_k(&a, 1)[0];
            runners
                .iter()
                .map(|runner| {
                    let run = runner.run_stats(&s.inputs)?;
                    let got = run.values[graph.outputs[0]].as_ref().expect("outputs are computed");
                    let b = class_scores(graph, got);
                    let tb = top_k(&b, 1)[0];
                    let signal = a.iter().map(|v| v * v).sum();
                    let noise = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
                    let correct = s.label.filter(|_| labelled).map(|l| (tb == l, ta == l));
                    progress();
                    let bo = run.bitops;
                    let widths = run.widths;
                    Ok(One {
                        agree: ta == tb,
                        signal,
                        noise,
                        correct,
                        bitops: bo.total,
                        bitops_per_op: bo.per_op,
                        bitops_patch: bo.patch_stage,
                        outlier_maps: bo.outlier_maps,
                        low_maps: bo.low_maps,
                        outlier_tiles: bo.outlier_tiles,
                        tiles: bo.tiles,
                        widths,
                    })
                })
                .collect()
        })
        .collect::<Result<_>>()?;
    let mut columns: Vec<Vec<One>> = runners.iter().map(|_| Vec::with_capacity(samples.len())).collect();
    for row in per_sample {
        for (col, one) in columns.iter_mut().zip(row) {
            col.push(one);
        }
    }
    Ok(columns.iter().map(|ones| totals(graph.ops.len(), ones)).collect())
}

fn totals(n_ops: usize, ones: &[One]) -> Comparison {
    let n = ones.len().max(1) as f64;
    let sum = |f: &dyn Fn(&One) -> f64| ones.iter().map(f).sum::<f64>();
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let labelled: Vec<(bool, bool)> = ones.iter().filter_map(|o| o.correct).collect();
    let acc = |pick: fn(&(bool, bool)) -> bool| {
        (!labelled.is_empty()).then(|| labelled.iter().filter(|c| pick(c)).count() as f64 / labelled.len() as f64)
    };
    let noise = sum(&|o| o.noise);
    Comparison {
        images: ones.len(),
        agreement: sum(&|o| f64::from(u8::from(o.agree))) / n,
        sqnr_db: if noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (sum(&|o| o.signal) / noise).log10()
        },
        accuracy: acc(|c| c.0),
        reference_accuracy: acc(|c| c.1),
        bitops: sum(&|o| o.bitops as f64) / n,
        bitops_per_op: (0..n_ops).map(|i| sum(&|o| o.bitops_per_op[i] as f64) / n).collect(),
        bitops_patch_stage: sum(&|o| o.bitops_patch as f64) / n,
        outlier_map_share: share(
            ones.iter().map(|o| o.outlier_maps).sum(),
            ones.iter().map(|o| o.low_maps).sum(),
        ),
        outlier_tile_share: share(
            ones.iter().map(|o| o.outlier_tiles).sum(),
            ones.iter().map(|o| o.tiles).sum(),
        ),
        outlier_by_tile_map: (0..ones.first().map_or(0, |o| o.widths.len()))
            .map(|k| {
                let wrote = ones.iter().filter(|o| o.widths[k] != 0).count();
                share(ones.iter().filter(|o| o.widths[k] == 8).count(), wrote)
            })
            .collect(),
    }
}

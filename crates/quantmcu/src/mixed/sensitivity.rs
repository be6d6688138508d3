//! Measured sensitivity of a mixed plan (`docs/design.md`, "VDQS"): how far
//! its outputs move from layer-int8's on the calibration images, without
//! labels. Per image, the output class distribution `P` (the model's
//! softmax output when it ends in SOFTMAX, else the softmax of its
//! dequantized outputs) is compared with layer-int8's `P8` by the KL
//! divergence `KL(P8 || P)` in nats, and the top-1 classes by agreement.
//! Probabilities of a quantized softmax are floored at half its output step
//! (1/512 for int8's 1/256) and renormalized, so a class the plan rounds to
//! 0 costs a finite divergence. The runs that measure a plan also
//! re-calibrate it (its maps' histograms), so the measured search pays one
//! pass over the images per plan.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::calib::{calibrate_runs, Histogram};
use super::{map_channels, MixedPrecision};
use crate::dataset::{class_scores, top_k};
use crate::ir::{Graph, OpKind};
use crate::patch::arena::InputMode;
use crate::patch::{PlanRunner, Tiling};
use crate::reference::ReferenceExecutor;
use crate::tensor::TensorData;
use crate::Result;

/// What one image's run of a plan gives the damage: its class distribution,
/// top-1 class and BitOPs.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub probabilities: Vec<f64>,
    pub top1: usize,
    pub bitops: u64,
}

/// How far a plan's outputs are from the reference's over a set of images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Damage {
    /// Mean `KL(P8 || P)` over the images, in nats.
    pub kl: f64,
    /// Share of images whose top-1 class is the reference's.
    pub agreement: f64,
    /// Mean BitOPs per inference of the plan on the images (each tile at
    /// the widths it really used).
    pub bitops: f64,
}

/// Step of the int8 softmax the first graph output comes from (through
/// DEQUANTIZE, QUANTIZE or RESHAPE), if it comes from one.
fn softmax_step(graph: &Graph) -> Option<f64> {
    let producers = graph.producers();
    let mut t = graph.outputs[0];
    loop {
        let op = &graph.ops[producers[t]?];
        match op.kind {
            OpKind::Softmax { .. } => {
                let (scale, _) = graph.scale_zp(op.output());
                return (scale > 0.0).then_some(f64::from(scale));
            }
            OpKind::Dequantize | OpKind::Quantize | OpKind::Reshape => t = *graph.activation_inputs(op).first()?,
            _ => return None,
        }
    }
}

/// The class distribution of the first graph output `scores` (dequantized):
/// a softmax's output floored at half its step and renormalized (`step`
/// given), else the softmax of the scores.
pub fn probabilities(scores: &[f64], step: Option<f64>) -> Vec<f64> {
    let p: Vec<f64> = match step {
        Some(step) => scores.iter().map(|&s| s.max(step / 2.0)).collect(),
        None => {
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            scores.iter().map(|&s| (s - max).exp()).collect()
        }
    };
    let sum: f64 = p.iter().sum();
    p.iter().map(|&x| x / sum).collect()
}

/// `KL(p || q)` in nats (terms with `p = 0` contribute 0; `q` must be
/// positive where `p` is).
pub fn kl_divergence(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(&a, _)| a > 0.0)
        .map(|(&a, &b)| a * (a / b).ln())
        .sum()
}

/// The [`Output`] of `graph`'s first output `value` with `bitops`.
pub fn output_of(graph: &Graph, value: &TensorData, bitops: u64) -> Output {
    let scores = class_scores(graph, value);
    Output {
        probabilities: probabilities(&scores, softmax_step(graph)),
        top1: top_k(&scores, 1)[0],
        bitops,
    }
}

/// The damage of `outputs` against `reference` (the same images in the same
/// order).
pub fn damage(reference: &[Output], outputs: &[Output]) -> Damage {
    let n = reference.len().max(1) as f64;
    let pairs = || reference.iter().zip(outputs);
    Damage {
        kl: pairs()
            .map(|(r, o)| kl_divergence(&r.probabilities, &o.probabilities))
            .sum::<f64>()
            / n,
        agreement: pairs().filter(|(r, o)| r.top1 == o.top1).count() as f64 / n,
        bitops: outputs.iter().map(|o| o.bitops as f64).sum::<f64>() / n,
    }
}

/// Runs `plan` on `tp` over `inputs` (in parallel over images): its maps'
/// histograms (those stored at 8 bits) and each image's [`Output`].
pub fn run_plan(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    mode: InputMode,
    plan: &MixedPrecision,
    inputs: &[Vec<TensorData>],
) -> Result<(Vec<Histogram>, Vec<Output>)> {
    let graph = interp.graph();
    let runner = PlanRunner::with_mixed(interp, Some((tp, mode)), Some(plan))?;
    let runs = calibrate_runs(&runner, plan, &map_channels(graph, plan), inputs, &|_, run| {
        let value = run.values[graph.outputs[0]].as_ref().expect("outputs are computed");
        Ok(Some(output_of(graph, value, run.bitops.total)))
    })?;
    Ok(runs.expect("every image runs"))
}

/// Most images of `n` whose top-1 may differ for an agreement of at least
/// `min_agreement` (the same division [`damage`] makes).
pub fn allowed_disagreements(n: usize, min_agreement: f64) -> usize {
    (0..=n)
        .take_while(|&d| (n - d) as f64 / n.max(1) as f64 >= min_agreement)
        .last()
        .unwrap_or(0)
}

/// [`run_plan`] scored against `reference` (layer-int8's outputs on the
/// same `inputs`): the histograms and the damage, or `None` as soon as more
/// images disagree than an agreement of `min_agreement` allows (the other
/// images are then not run; the answer does not depend on which ran).
pub fn measure(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    mode: InputMode,
    plan: &MixedPrecision,
    inputs: &[Vec<TensorData>],
    reference: &[Output],
    min_agreement: f64,
) -> Result<Option<(Vec<Histogram>, Damage)>> {
    let graph = interp.graph();
    let runner = PlanRunner::with_mixed(interp, Some((tp, mode)), Some(plan))?;
    let allowed = allowed_disagreements(inputs.len(), min_agreement);
    let disagreements = AtomicUsize::new(0);
    let runs = calibrate_runs(&runner, plan, &map_channels(graph, plan), inputs, &|i, run| {
        let value = run.values[graph.outputs[0]].as_ref().expect("outputs are computed");
        let out = output_of(graph, value, run.bitops.total);
        if out.top1 != reference[i].top1 && disagreements.fetch_add(1, Ordering::Relaxed) + 1 > allowed {
            return Ok(None);
        }
        Ok(Some(out))
    })?;
    Ok(runs.map(|(hists, outputs)| (hists, damage(reference, &outputs))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_of_equal_distributions_is_zero_and_grows_with_the_difference() {
        let p = probabilities(&[0.75, 0.25, 0.0], Some(1.0 / 256.0));
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[2] > 0.0, "floored");
        assert_eq!(kl_divergence(&p, &p), 0.0);
        let q = probabilities(&[0.5, 0.5, 0.0], Some(1.0 / 256.0));
        let r = probabilities(&[0.25, 0.75, 0.0], Some(1.0 / 256.0));
        assert!(kl_divergence(&p, &q) > 0.0);
        assert!(kl_divergence(&p, &r) > kl_divergence(&p, &q));
        // Logits: softmax.
        let s = probabilities(&[0.0, 2f64.ln()], None);
        assert!((s[0] - 1.0 / 3.0).abs() < 1e-12 && (s[1] - 2.0 / 3.0).abs() < 1e-12);
    }
}

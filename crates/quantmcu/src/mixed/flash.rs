//! Keeps a mixed plan within a flash budget (plan bytes: weights, biases,
//! requantization parameters, windows, steps). Per-channel ranges of a map
//! read by a convolution give that reader a second int8 weight set (each
//! tap scaled by its input channel's range); a depthwise reader needs none.
//! While the encoded plan is over budget, [`fit_flash`] takes back what
//! buys the least accuracy per byte: first per-channel ranges (the map keeps
//! its width with one range per tensor), then whole maps (back to 8 bits).

use serde::{Deserialize, Serialize};

use super::calib::Histogram;
use super::{follow_pads, map_spec, relative_code_error, MixedConfig, MixedPrecision};
use crate::patch::arena::InputMode;
use crate::patch::{PlanRunner, Tiling};
use crate::reference::ReferenceExecutor;
use crate::Result;

/// What one step of [`fit_flash`] took back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlashAction {
    /// The map's per-channel ranges became one range per tensor.
    PerTensor,
    /// The map went back to 8 bits.
    Int8,
}

/// One step of [`fit_flash`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlashStep {
    pub map: usize,
    pub tensor: String,
    pub action: FlashAction,
    /// Relative squared code error the step added (0 for [`FlashAction::Int8`]).
    pub added_error: f64,
    /// Plan bytes after the step.
    pub flash_bytes: usize,
}

/// Encoded size of `plan` on `tp`.
fn plan_bytes(interp: &ReferenceExecutor, tp: &Tiling, mode: InputMode, plan: &MixedPrecision) -> Result<usize> {
    Ok(PlanRunner::with_mixed(interp, Some((tp, mode)), Some(plan))?
        .encoded()
        .bytes()
        .len())
}

/// A step of [`fit_flash`]: (key, map, plan, bytes, added error).
type Candidate = (f64, usize, MixedPrecision, usize, f64);

/// Keeps `c` in `best` when its key is lower (the earlier map wins ties).
fn offer(best: &mut Option<Candidate>, c: Candidate) {
    if best.as_ref().is_none_or(|b| c.0 < b.0) {
        *best = Some(c);
    }
}

/// Brings `plan` within `budget` plan bytes, one measured step at a time:
/// among the maps with per-channel ranges, the one whose per-tensor form
/// adds the least relative code error per byte saved goes per tensor
/// (`hists[k]`: map `k`'s int8 histogram); when none saves bytes, the
/// low-width map whose return to 8 bits saves the most bytes goes back.
/// Stops within budget or at the all-8 plan. Deterministic (ties: the
/// earliest map).
pub fn fit_flash(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    mode: InputMode,
    plan: &mut MixedPrecision,
    hists: &[Option<Histogram>],
    cfg: &MixedConfig,
    budget: usize,
) -> Result<Vec<FlashStep>> {
    let graph = interp.graph();
    let per_tensor = MixedConfig {
        per_channel: false,
        ..cfg.clone()
    };
    // `plan` with map `k` re-specified at `bits` bits under `cfg` (PAD
    // outputs following), and its encoded size.
    let with_map = |plan: &MixedPrecision, k: usize, h: &Histogram, bits: u32, cfg: &MixedConfig| {
        let mut trial = plan.clone();
        trial.maps[k] = map_spec(graph, plan.maps[k].tensor, h, bits, cfg);
        follow_pads(graph, &mut trial.maps);
        plan_bytes(interp, tp, mode, &trial).map(|bytes| (trial, bytes))
    };
    let mut now = plan_bytes(interp, tp, mode, plan)?;
    let mut steps = Vec::new();
    while now > budget {
        let mut best: Option<Candidate> = None;
        for (k, h) in hists.iter().enumerate() {
            let Some(h) = h.as_ref().filter(|_| plan.maps[k].format.per_channel()) else {
                continue;
            };
            let (trial, bytes) = with_map(plan, k, h, plan.maps[k].format.bits, &per_tensor)?;
            if bytes < now {
                let added =
                    relative_code_error(graph, &trial.maps[k], h) - relative_code_error(graph, &plan.maps[k], h);
                // Error added per byte saved.
                offer(
                    &mut best,
                    (added.max(0.0) / (now - bytes) as f64, k, trial, bytes, added),
                );
            }
        }
        let action = if best.is_some() {
            FlashAction::PerTensor
        } else {
            for (k, h) in hists.iter().enumerate() {
                let Some(h) = h.as_ref() else { continue };
                if plan.maps[k].format.bits >= 8 || super::is_pad_output(graph, plan.maps[k].tensor) {
                    continue;
                }
                let (trial, bytes) = with_map(plan, k, h, 8, cfg)?;
                if bytes < now {
                    // The fewest bytes left = the most saved.
                    offer(&mut best, (bytes as f64, k, trial, bytes, 0.0));
                }
            }
            FlashAction::Int8
        };
        let Some((_, k, trial, bytes, added)) = best else {
            break;
        };
        *plan = trial;
        now = bytes;
        steps.push(FlashStep {
            map: k,
            tensor: plan.maps[k].name.clone(),
            action,
            added_error: added,
            flash_bytes: now,
        });
    }
    Ok(steps)
}

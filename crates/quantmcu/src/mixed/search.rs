//! VDQS, the value-driven quantization search (`docs/design.md`, "VDQS"): starting with
//! every map of the patch stage at 8 bits, each iteration re-calibrates
//! through the current plan, scores every move (one map down to its next
//! lower candidate width) by `S = (1 - lambda) Phi - lambda Omega`, and
//! applies the best move while `S > 0` (and an optional BitOPs target is not
//! met). Phi is the share of the int8 plan's BitOPs (executed MACs, halos
//! included) the move saves; Omega the entropy the map's clean-tile codes
//! lose, relative to their int8 entropy. No training, no accuracy inside the
//! loop; deterministic for the same inputs.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::bitops::WEIGHT_BITS;
use super::calib::{calibrate, clean_range, entropy, Histogram};
use super::flash::{fit_flash, FlashStep};
use super::{map_channels, map_spec, MixedConfig, MixedPrecision};
use crate::ir::Graph;
use crate::patch::arena::InputMode;
use crate::patch::tiling::pixel_macs;
use crate::patch::{PlanRunner, Tiling};
use crate::reference::ReferenceExecutor;
use crate::tensor::TensorData;
use crate::{Error, Result};

/// Search settings.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Candidate widths (8 is always one).
    pub candidates: Vec<u32>,
    pub lambda: f64,
    /// Stop once the estimated whole-network BitOPs reach this.
    pub target_bitops: Option<f64>,
    /// How maps are quantized and classified (its `bits` are ignored).
    pub mixed: MixedConfig,
    /// Score Omega relative to the mean Omega of the candidate moves
    /// instead of to `H_i(8)` (the paper's score when false).
    pub rescaled_omega: bool,
    /// Only the first N maps may move (the search-time comparison's space).
    pub max_maps: Option<usize>,
    /// Most plan bytes (flash) the searched plan may take; see
    /// [`super::flash::fit_flash`] for how a plan over it is brought back.
    pub flash_budget: Option<usize>,
}

/// One applied move of the search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Move {
    pub map: usize,
    pub tensor: String,
    pub from_bits: u32,
    pub to_bits: u32,
    pub phi: f64,
    pub omega: f64,
    pub score: f64,
    /// Estimated whole-network BitOPs after the move (every tile clean).
    pub bitops: f64,
}

/// The searched plan and how the search got there.
#[derive(Clone, Debug)]
pub struct SearchResult {
    pub plan: MixedPrecision,
    pub bits: Vec<u32>,
    pub trajectory: Vec<Move>,
    /// BitOPs of the int8 plan (whole network, halos included).
    pub int8_bitops: f64,
    /// What fitting the plan into `flash_budget` changed, in order.
    pub flash_fit: Vec<FlashStep>,
    pub seconds: f64,
}

/// Executed MACs (all tiles in the stage, whole layers after it) of the ops
/// that read each map.
fn consumer_macs(graph: &Graph, tp: &Tiling, plan: &MixedPrecision) -> Vec<f64> {
    plan.maps
        .iter()
        .map(|m| {
            (0..graph.ops.len())
                .filter(|&i| graph.activation_inputs(&graph.ops[i]).contains(&m.tensor))
                .map(|i| {
                    if tp.stage.ops.contains(&i) {
                        let out = graph.ops[i].output();
                        let px: usize = tp.tiles.iter().map(|t| t.rect(out).area()).sum();
                        (pixel_macs(graph, i) * px as u64) as f64
                    } else {
                        graph.op_macs(i) as f64
                    }
                })
                .sum()
        })
        .collect()
}

/// Entropy of the clean-tile values of `h` quantized to `bits` bits on their
/// clean range (8: the int8 values themselves).
fn code_entropy(graph: &Graph, h: &Histogram, bits: u32, cfg: &MixedConfig) -> f64 {
    let (s8, z8) = graph.scale_zp(h.tensor);
    let (lo, hi) = clean_range(&h.total(), cfg.outlier_quantile, z8);
    let clean = h.clean_tiles(lo, hi);
    if bits >= 8 {
        return entropy(&clean);
    }
    let f = super::Format::low(bits, s8, z8, &[(lo, hi)]);
    let mut codes = vec![0u64; 1 << bits];
    for (v, &n) in clean.iter().enumerate() {
        let real = f64::from(s8) * f64::from(v as i32 - 128 - z8);
        codes[f.code_of(real, 0) as usize] += n;
    }
    entropy(&codes)
}

/// Runs VDQS on `tp`'s stage with calibration `inputs`; `progress` gets a
/// message per iteration.
pub fn search(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    mode: InputMode,
    inputs: &[Vec<TensorData>],
    cfg: &SearchConfig,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<SearchResult> {
    let start = Instant::now();
    let graph = interp.graph();
    let mut candidates = cfg.candidates.clone();
    candidates.push(8);
    candidates.sort_unstable_by(|a, b| b.cmp(a));
    candidates.dedup();
    if let Some(b) = candidates.iter().find(|b| !(1..=8).contains(*b)) {
        return Err(Error::Model {
            model: graph.name.clone(),
            detail: format!("--bits candidate {b} is outside 1..=8"),
        });
    }
    let mut plan = MixedPrecision::int8(
        graph,
        tp,
        cfg.mixed.scope,
        cfg.mixed.layer_in_place,
        cfg.mixed.rule,
        cfg.mixed.numerics,
        cfg.mixed.outlier_quantile,
    );
    let channels = map_channels(graph, &plan);
    let macs = consumer_macs(graph, tp, &plan);
    let stage_macs = tp.macs(graph) as f64;
    let layer_macs: f64 = (0..graph.ops.len())
        .filter(|i| !tp.stage.ops.contains(i))
        .map(|i| graph.op_macs(i) as f64)
        .sum();
    let int8_bitops = (stage_macs + layer_macs) * (WEIGHT_BITS * 8) as f64;
    let pads: Vec<bool> = plan
        .maps
        .iter()
        .map(|m| super::is_pad_output(graph, m.tensor))
        .collect();
    let mut bits = vec![8u32; plan.maps.len()];
    // Each map's int8 histogram from the last calibration that stored it at 8 bits.
    let mut hists: Vec<Option<Histogram>> = vec![None; plan.maps.len()];
    let mut trajectory = Vec::new();
    let mut bitops = int8_bitops;
    loop {
        progress(&format!("iteration {}: calibrating", trajectory.len() + 1));
        let runner = PlanRunner::with_mixed(interp, Some((tp, mode)), Some(&plan))?;
        let fresh = calibrate(&runner, &plan, &channels, inputs, &|| ())?;
        for (k, h) in fresh.into_iter().enumerate() {
            if bits[k] == 8 {
                hists[k] = Some(h);
            }
        }
        // Score every move.
        let mut moves: Vec<(usize, u32, f64, f64)> = Vec::new();
        for k in 0..plan.maps.len() {
            if cfg.max_maps.is_some_and(|n| k >= n) {
                continue;
            }
            let Some(&next) = candidates.iter().find(|&&b| b < bits[k]) else {
                continue;
            };
            let Some(h) = hists[k].as_ref().filter(|_| !pads[k]) else {
                continue;
            };
            let phi = macs[k] * (WEIGHT_BITS * u64::from(bits[k] - next)) as f64 / int8_bitops;
            let h8 = code_entropy(graph, h, 8, &cfg.mixed);
            let omega = if h8 > 0.0 {
                (code_entropy(graph, h, bits[k], &cfg.mixed) - code_entropy(graph, h, next, &cfg.mixed)) / h8
            } else {
                0.0
            };
            moves.push((k, next, phi, omega));
        }
        let mean_omega = moves.iter().map(|m| m.3).sum::<f64>() / moves.len().max(1) as f64;
        let score = |phi: f64, omega: f64| {
            let omega = if cfg.rescaled_omega && mean_omega > 0.0 {
                omega / mean_omega * moves.iter().map(|m| m.2).sum::<f64>() / moves.len().max(1) as f64
            } else {
                omega
            };
            (1.0 - cfg.lambda) * phi - cfg.lambda * omega
        };
        // Best score; ties go to the earliest map (deterministic).
        let best = moves
            .iter()
            .map(|&(k, next, phi, omega)| (score(phi, omega), k, next, phi, omega))
            .fold(None::<(f64, usize, u32, f64, f64)>, |b, m| match b {
                Some(b) if b.0 >= m.0 => Some(b),
                _ => Some(m),
            });
        let Some((s, k, next, phi, omega)) = best.filter(|b| b.0 > 0.0) else {
            break;
        };
        let from = bits[k];
        bits[k] = next;
        let h = hists[k].as_ref().expect("scored maps have histograms");
        plan.maps[k] = map_spec(graph, plan.maps[k].tensor, h, next, &cfg.mixed);
        // PAD outputs follow their input.
        super::follow_pads(graph, &mut plan.maps);
        for (j, &pad) in pads.iter().enumerate() {
            if pad {
                bits[j] = plan.maps[j].format.bits;
            }
        }
        bitops -= phi * int8_bitops;
        trajectory.push(Move {
            map: k,
            tensor: plan.maps[k].name.clone(),
            from_bits: from,
            to_bits: next,
            phi,
            omega,
            score: s,
            bitops,
        });
        if cfg.target_bitops.is_some_and(|t| bitops <= t) {
            break;
        }
    }
    let flash_fit = match cfg.flash_budget {
        Some(budget) => fit_flash(interp, tp, mode, &mut plan, &hists, &cfg.mixed, budget)?,
        None => Vec::new(),
    };
    for (b, m) in bits.iter_mut().zip(&plan.maps) {
        *b = m.format.bits;
    }
    Ok(SearchResult {
        plan,
        bits,
        trajectory,
        int8_bitops,
        flash_fit,
        seconds: start.elapsed().as_secs_f64(),
    })
}

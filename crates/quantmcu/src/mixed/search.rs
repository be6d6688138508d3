//! VDQS, the value-driven quantization search (`docs/design.md`, "VDQS"):
//! starting with every map at 8 bits, each iteration lowers one map to its
//! next lower candidate width (a move). Phi is the share of the int8 plan's
//! BitOPs (executed MACs, halos included) a move saves; Omega the entropy
//! the map's clean-tile codes lose, relative to their int8 entropy. Two
//! scores choose the move:
//!
//! - [`Score::Paper`]: each iteration re-calibrates through the current
//!   plan, scores every move by `S = (1 - lambda) Phi - lambda Omega` and
//!   applies the best while `S > 0`. No accuracy inside the loop.
//! - [`Score::Measured`]: each candidate plan runs on the calibration images
//!   ([`super::sensitivity`]); a move's damage is the rise of the mean KL
//!   divergence of the outputs from layer-int8's, its score `Phi / max(dKL,
//!   KL_FLOOR)`, and a move that would leave top-1 agreement with layer-int8
//!   below `min_agreement`, or the mean KL divergence above `max_kl`, is
//!   never taken (and not tried again). Only the
//!   `pool` moves with the largest Phi compete in an iteration, measured
//!   lazily: a move keeps the damage it was last measured at until it is the
//!   best and then is re-measured on the current plan (a stale damage is
//!   mostly an underestimate, since damage grows as maps drop); the best
//!   move whose damage is fresh wins. The runs that measure a plan also
//!   re-calibrate it.
//!
//! Both stop early once an optional BitOPs target is met; both are
//! deterministic for the same inputs.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::bitops::WEIGHT_BITS;
use super::calib::{calibrate, clean_range, entropy, Histogram};
use super::flash::{fit_flash, FlashStep};
use super::sensitivity::{damage, measure, run_plan, Damage, Output};
use super::{map_channels, map_spec, MixedConfig, MixedPrecision};
use crate::ir::Graph;
use crate::patch::arena::InputMode;
use crate::patch::tiling::pixel_macs;
use crate::patch::{PlanRunner, Tiling};
use crate::reference::ReferenceExecutor;
use crate::tensor::TensorData;
use crate::{Error, Result};

/// Damage (nats of mean KL divergence) below which a move counts as free:
/// the measured score divides Phi by at least this, so free moves go in
/// order of Phi.
pub const KL_FLOOR: f64 = 1e-5;

/// How VDQS scores its moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Score {
    /// `(1 - lambda) Phi - lambda Omega`, the paper's.
    Paper,
    /// Phi per measured output damage, under an agreement floor.
    Measured,
}

impl Score {
    /// The name the command line and the report use.
    pub fn name(self) -> &'static str {
        match self {
            Score::Paper => "paper",
            Score::Measured => "measured",
        }
    }
}

/// Search settings.
#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Candidate widths (8 is always one).
    pub candidates: Vec<u32>,
    pub score: Score,
    /// The paper score's trade-off.
    pub lambda: f64,
    /// Measured score: the least top-1 agreement with layer-int8 on the
    /// calibration images a taken move may leave, in [0, 1].
    pub min_agreement: f64,
    /// Measured score: the most mean KL divergence (nats) from layer-int8's
    /// outputs on the calibration images a taken move may leave (`None`:
    /// no ceiling).
    pub max_kl: Option<f64>,
    /// Measured score: how many moves (largest Phi first) compete in an
    /// iteration (`None`: all).
    pub pool: Option<usize>,
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

/// What the measured score saw of a taken move.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Mean KL divergence (nats) of the calibration outputs from
    /// layer-int8's after the move.
    pub kl: f64,
    /// Its rise over the plan before the move.
    pub delta_kl: f64,
    /// Top-1 agreement with layer-int8 on the calibration images after the
    /// move.
    pub agreement: f64,
    /// Mean BitOPs per calibration image after the move (tiles at the
    /// widths they really used).
    pub bitops: f64,
    /// Plans run on the calibration images in this iteration.
    pub plans_run: usize,
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
    /// The score that chose the move (paper: S; measured: Phi per damage).
    pub score: f64,
    /// Estimated whole-network BitOPs after the move (every tile clean).
    pub bitops: f64,
    /// Measured score only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Measured>,
}

/// Why the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// Paper score: no move scored above 0.
    NoPositiveScore,
    /// Measured score: every remaining move would cross the agreement floor
    /// or the KL ceiling.
    Limits,
    /// No map can go lower.
    NoMoves,
    /// The BitOPs target was met.
    Target,
}

/// The searched plan and how the search got there.
#[derive(Clone, Debug)]
pub struct SearchResult {
    pub plan: MixedPrecision,
    pub bits: Vec<u32>,
    pub trajectory: Vec<Move>,
    pub stop: Stop,
    /// BitOPs of the int8 plan (whole network, halos included).
    pub int8_bitops: f64,
    /// What fitting the plan into `flash_budget` changed, in order.
    pub flash_fit: Vec<FlashStep>,
    /// Measured score: the returned plan's damage on the calibration images
    /// (after the flash fit), and how many plans the search ran on them
    /// (the int8 plan included).
    pub calibration: Option<Damage>,
    pub plans_run: usize,
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

/// A move the search may take: map `map` from its width to `to`.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    map: usize,
    to: u32,
    phi: f64,
    omega: f64,
}

/// The search's plan and what it knows of each map.
struct State<'a, 'g> {
    interp: &'a ReferenceExecutor<'g>,
    cfg: &'a SearchConfig,
    /// Candidate widths, highest first.
    candidates: Vec<u32>,
    plan: MixedPrecision,
    bits: Vec<u32>,
    /// Each map's int8 histogram from the last calibration that stored it
    /// at 8 bits.
    hists: Vec<Option<Histogram>>,
    pads: Vec<bool>,
    macs: Vec<f64>,
    int8_bitops: f64,
    /// Estimated BitOPs of `plan`.
    bitops: f64,
}

impl State<'_, '_> {
    /// Keeps the histograms of `fresh` (a calibration of `plan`) for the
    /// maps `plan` stores at 8 bits.
    fn recalibrated(&mut self, fresh: Vec<Histogram>) {
        for (k, h) in fresh.into_iter().enumerate() {
            if self.bits[k] == 8 {
                self.hists[k] = Some(h);
            }
        }
    }

    /// Every move from the current plan, in map order.
    fn moves(&self) -> Vec<Candidate> {
        let graph = self.interp.graph();
        let mut moves = Vec::new();
        for k in 0..self.plan.maps.len() {
            if self.cfg.max_maps.is_some_and(|n| k >= n) {
                continue;
            }
            let Some(&next) = self.candidates.iter().find(|&&b| b < self.bits[k]) else {
                continue;
            };
            let Some(h) = self.hists[k].as_ref().filter(|_| !self.pads[k]) else {
                continue;
            };
            let phi = self.macs[k] * (WEIGHT_BITS * u64::from(self.bits[k] - next)) as f64 / self.int8_bitops;
            let m = &self.cfg.mixed;
            let h8 = code_entropy(graph, h, 8, m);
            let omega = if h8 > 0.0 {
                (code_entropy(graph, h, self.bits[k], m) - code_entropy(graph, h, next, m)) / h8
            } else {
                0.0
            };
            moves.push(Candidate {
                map: k,
                to: next,
                phi,
                omega,
            });
        }
        moves
    }

    /// The current plan with move `c` applied (PAD outputs following).
    fn trial(&self, c: &Candidate) -> MixedPrecision {
        let graph = self.interp.graph();
        let mut plan = self.plan.clone();
        let h = self.hists[c.map].as_ref().expect("moves have histograms");
        plan.maps[c.map] = map_spec(graph, plan.maps[c.map].tensor, h, c.to, &self.cfg.mixed);
        super::follow_pads(graph, &mut plan.maps);
        plan
    }

    /// Makes `plan` (the current plan with `c` applied) current and returns
    /// the move's record.
    fn apply(&mut self, c: &Candidate, plan: MixedPrecision, score: f64, measured: Option<Measured>) -> Move {
        let from = self.bits[c.map];
        self.plan = plan;
        self.bits[c.map] = c.to;
        for (j, &pad) in self.pads.iter().enumerate() {
            if pad {
                self.bits[j] = self.plan.maps[j].format.bits;
            }
        }
        self.bitops -= c.phi * self.int8_bitops;
        Move {
            map: c.map,
            tensor: self.plan.maps[c.map].name.clone(),
            from_bits: from,
            to_bits: c.to,
            phi: c.phi,
            omega: c.omega,
            score,
            bitops: self.bitops,
            measured,
        }
    }

    fn target_met(&self) -> bool {
        self.cfg.target_bitops.is_some_and(|t| self.bitops <= t)
    }
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
    let bad = |detail: String| Error::Model {
        model: graph.name.clone(),
        detail,
    };
    if let Some(b) = candidates.iter().find(|b| !(1..=8).contains(*b)) {
        return Err(bad(format!("--bits candidate {b} is outside 1..=8")));
    }
    if !(0.0..=1.0).contains(&cfg.min_agreement) {
        return Err(bad(format!(
            "--min-agreement {} is not a fraction in [0, 1]",
            cfg.min_agreement
        )));
    }
    if cfg.max_kl.is_some_and(|k| !(k >= 0.0 && k.is_finite())) {
        return Err(bad(format!(
            "--max-kl {:?} is not a finite number of nats >= 0",
            cfg.max_kl
        )));
    }
    if cfg.pool == Some(0) {
        return Err(bad("--pool must be at least 1".into()));
    }
    let plan = MixedPrecision::int8(
        graph,
        tp,
        cfg.mixed.scope,
        cfg.mixed.layer_in_place,
        cfg.mixed.rule,
        cfg.mixed.numerics,
        cfg.mixed.outlier_quantile,
    );
    let stage_macs = tp.macs(graph) as f64;
    let layer_macs: f64 = (0..graph.ops.len())
        .filter(|i| !tp.stage.ops.contains(i))
        .map(|i| graph.op_macs(i) as f64)
        .sum();
    let int8_bitops = (stage_macs + layer_macs) * (WEIGHT_BITS * 8) as f64;
    let mut state = State {
        interp,
        cfg,
        candidates,
        macs: consumer_macs(graph, tp, &plan),
        pads: plan
            .maps
            .iter()
            .map(|m| super::is_pad_output(graph, m.tensor))
            .collect(),
        bits: vec![8u32; plan.maps.len()],
        hists: vec![None; plan.maps.len()],
        plan,
        int8_bitops,
        bitops: int8_bitops,
    };
    let found = match cfg.score {
        Score::Paper => paper(&mut state, tp, mode, inputs, progress)?,
        Score::Measured => measured(&mut state, tp, mode, inputs, progress)?,
    };
    let fit = |plan: &mut MixedPrecision| match cfg.flash_budget {
        Some(budget) => fit_flash(interp, tp, mode, plan, &state.hists, &cfg.mixed, budget),
        None => Ok(Vec::new()),
    };
    let within = |d: &Damage| d.agreement >= cfg.min_agreement && cfg.max_kl.is_none_or(|k| d.kl <= k);
    let mut plan = state.plan;
    let mut trajectory = found.trajectory;
    let mut flash_fit = fit(&mut plan)?;
    let mut calibration = found.damage;
    let mut plans_run = found.plans_run;
    if let (Some(reference), false) = (&found.reference, flash_fit.is_empty()) {
        // The fit changed the plan: measure it again and, while it crosses
        // a limit, give the last moves back (a lowered map's histogram is
        // the one it was lowered with, so the final histograms serve every
        // earlier plan).
        loop {
            progress("measuring the flash-fitted plan");
            let d = damage(reference, &run_plan(interp, tp, mode, &plan, inputs)?.1);
            plans_run += 1;
            calibration = Some(d);
            if within(&d) || trajectory.is_empty() {
                break;
            }
            trajectory.pop();
            plan = found.plans[trajectory.len()].clone();
            flash_fit = fit(&mut plan)?;
        }
    }
    let bits = plan.maps.iter().map(|m| m.format.bits).collect();
    Ok(SearchResult {
        plan,
        bits,
        trajectory,
        stop: found.stop,
        int8_bitops,
        flash_fit,
        calibration,
        plans_run,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// What a score's loop leaves besides the state's plan.
struct Found {
    trajectory: Vec<Move>,
    stop: Stop,
    /// Measured score: layer-int8's outputs on the calibration images, the
    /// plan after each number of moves (`plans[0]`: int8), the last plan's
    /// damage and the plans run.
    reference: Option<Vec<Output>>,
    plans: Vec<MixedPrecision>,
    damage: Option<Damage>,
    plans_run: usize,
}

/// The paper's loop: re-calibrate, score every move by S, apply the best
/// while S > 0.
fn paper(
    state: &mut State,
    tp: &Tiling,
    mode: InputMode,
    inputs: &[Vec<TensorData>],
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Found> {
    let (interp, cfg) = (state.interp, state.cfg);
    let channels = map_channels(interp.graph(), &state.plan);
    let mut trajectory = Vec::new();
    let stop = loop {
        progress(&format!("iteration {}: calibrating", trajectory.len() + 1));
        let runner = PlanRunner::with_mixed(interp, Some((tp, mode)), Some(&state.plan))?;
        let fresh = calibrate(&runner, &state.plan, &channels, inputs, &|| ())?;
        state.recalibrated(fresh);
        let moves = state.moves();
        if moves.is_empty() {
            break Stop::NoMoves;
        }
        let n = moves.len() as f64;
        let mean_omega = moves.iter().map(|m| m.omega).sum::<f64>() / n;
        let sum_phi = moves.iter().map(|m| m.phi).sum::<f64>();
        let score = |c: &Candidate| {
            let omega = if cfg.rescaled_omega && mean_omega > 0.0 {
                c.omega / mean_omega * sum_phi / n
            } else {
                c.omega
            };
            (1.0 - cfg.lambda) * c.phi - cfg.lambda * omega
        };
        // Best score; ties go to the earliest map (deterministic).
        let best = moves
            .iter()
            .map(|c| (score(c), c))
            .fold(None::<(f64, &Candidate)>, |b, m| match b {
                Some(b) if b.0 >= m.0 => Some(b),
                _ => Some(m),
            });
        let Some((s, c)) = best.filter(|b| b.0 > 0.0) else {
            break Stop::NoPositiveScore;
        };
        let c = *c;
        let plan = state.trial(&c);
        trajectory.push(state.apply(&c, plan, s, None));
        if state.target_met() {
            break Stop::Target;
        }
    };
    Ok(Found {
        trajectory,
        stop,
        reference: None,
        plans: Vec::new(),
        damage: None,
        plans_run: 0,
    })
}

/// A move's damage as last measured.
struct Measurement {
    delta_kl: f64,
    /// Measured on the current plan (its run's results kept).
    fresh: Option<(MixedPrecision, Vec<Histogram>, Damage)>,
}

/// The measured loop: the pool's moves measured lazily, the best Phi per
/// damage above the agreement floor applied.
fn measured(
    state: &mut State,
    tp: &Tiling,
    mode: InputMode,
    inputs: &[Vec<TensorData>],
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Found> {
    let (interp, cfg) = (state.interp, state.cfg);
    progress("calibrating the int8 plan");
    let (fresh, reference) = run_plan(interp, tp, mode, &state.plan, inputs)?;
    state.recalibrated(fresh);
    let mut plans_run = 1;
    let mut now = Damage {
        kl: 0.0,
        agreement: 1.0,
        bitops: state.int8_bitops,
    };
    let mut plans = vec![state.plan.clone()];
    // Last measured damage of each move (map, width), and the moves that
    // crossed the floor.
    let mut known: BTreeMap<(usize, u32), Measurement> = BTreeMap::new();
    let mut dropped: Vec<(usize, u32)> = Vec::new();
    let mut trajectory = Vec::new();
    let score = |c: &Candidate, delta_kl: f64| c.phi / delta_kl.max(KL_FLOOR);
    // `measure` already refused plans under the agreement floor.
    let within_kl = |d: &Damage| cfg.max_kl.is_none_or(|k| d.kl <= k);
    let stop = 'search: loop {
        let mut run_here = 0;
        for m in known.values_mut() {
            m.fresh = None;
        }
        let chosen = loop {
            let mut live: Vec<Candidate> = state
                .moves()
                .into_iter()
                .filter(|c| c.phi > 0.0 && !dropped.contains(&(c.map, c.to)))
                .collect();
            if live.is_empty() {
                break 'search if dropped.is_empty() {
                    Stop::NoMoves
                } else {
                    Stop::Limits
                };
            }
            // The pool: the largest Phi first, ties to the earliest map.
            live.sort_by(|a, b| b.phi.total_cmp(&a.phi).then(a.map.cmp(&b.map)));
            live.truncate(cfg.pool.unwrap_or(usize::MAX));
            // Best estimate first: unmeasured moves (infinite), then Phi per
            // last measured damage; ties to the larger Phi (pool order).
            let estimate = |c: &Candidate| {
                known
                    .get(&(c.map, c.to))
                    .map_or(f64::INFINITY, |m| score(c, m.delta_kl))
            };
            let best = live
                .iter()
                .fold(None::<&Candidate>, |b, c| match b {
                    Some(b) if estimate(b) >= estimate(c) => Some(b),
                    _ => Some(c),
                })
                .copied()
                .expect("the pool is not empty");
            let key = (best.map, best.to);
            if known.get(&key).is_some_and(|m| m.fresh.is_some()) {
                break best;
            }
            progress(&format!(
                "iteration {}: measuring map {} at {} bits",
                trajectory.len() + 1,
                best.map,
                best.to
            ));
            let plan = state.trial(&best);
            let result = measure(interp, tp, mode, &plan, inputs, &reference, cfg.min_agreement)?;
            plans_run += 1;
            run_here += 1;
            let Some((hists, d)) = result.filter(|(_, d)| within_kl(d)) else {
                dropped.push(key);
                known.remove(&key);
                continue;
            };
            known.insert(
                key,
                Measurement {
                    delta_kl: d.kl - now.kl,
                    fresh: Some((plan, hists, d)),
                },
            );
        };
        let m = known
            .remove(&(chosen.map, chosen.to))
            .expect("chosen moves are measured");
        let (plan, hists, d) = m.fresh.expect("chosen moves are fresh");
        let measured = Measured {
            kl: d.kl,
            delta_kl: m.delta_kl,
            agreement: d.agreement,
            bitops: d.bitops,
            plans_run: run_here,
        };
        trajectory.push(state.apply(&chosen, plan, score(&chosen, m.delta_kl), Some(measured)));
        state.recalibrated(hists);
        plans.push(state.plan.clone());
        now = d;
        if state.target_met() {
            break Stop::Target;
        }
    };
    Ok(Found {
        trajectory,
        stop,
        reference: Some(reference),
        plans,
        damage: Some(now),
        plans_run,
    })
}

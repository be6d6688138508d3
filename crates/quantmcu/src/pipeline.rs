//! The main job (`quantmcu compile`): choose the patch schedule that fits the
//! SRAM budget, calibrate, search bit widths (VDQS), and put four plans side
//! by side on the same evaluation data (`docs/design.md`, "Metrics"):
//! `layer-int8` (what tflite-micro runs), `patch-int8` (MCUNetV2),
//! `patch-uniform-low` (every map of clean tiles at the lowest candidate
//! width >= 4, same VDPC: what VDPC alone buys) and `quantmcu` (VDPC +
//! VDQS).

use serde::{Deserialize, Serialize};

use crate::compare::{compare, compare_all, Comparison, Sample};
use crate::mixed::search::{search, Move, Score, SearchConfig, Stop};
use crate::mixed::sensitivity::{damage, run_plan, Damage};
use crate::mixed::{build, calibrate_int8, MixedConfig, MixedPrecision};
use crate::patch::arena::InputMode;
use crate::patch::search::search as search_schedule;
use crate::patch::{split_points, PlanFile, PlanRunner, Tiling};
use crate::reference::ReferenceExecutor;
use crate::{Error, Result};

/// Outlier quantiles the automatic choice tries (eps is set by
/// measurement, not by a constant).
pub const EPS_SWEEP: [f64; 8] = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 0.0];
/// The automatic eps is the largest (narrowest clean ranges, finest codes)
/// that leaves at most this share of patch tiles outlier on the
/// calibration images (so most tiles run at low width).
pub const EPS_MAX_OUTLIER_TILES: f64 = 0.25;

/// What `compile` is asked for.
#[derive(Clone, Debug)]
pub struct Options {
    /// Choose the outlier quantile by [`EPS_SWEEP`] on the calibration
    /// images (otherwise `search.mixed.outlier_quantile` is used).
    pub auto_eps: bool,
    pub sram: usize,
    pub input: InputMode,
    pub split: Option<usize>,
    pub grid: Option<[usize; 2]>,
    pub search: SearchConfig,
    /// Lambdas to sweep (each a full search and evaluation); may be empty.
    pub sweep_lambdas: Vec<f64>,
    /// Evaluate sweep points on the first N evaluation images only.
    pub sweep_eval_limit: Option<usize>,
    /// Compare VDQS with an exhaustive, accuracy-evaluated search over the
    /// widths of the first N maps (0: off).
    pub exhaustive_maps: usize,
    /// The quantmcu plan's flash at most this many times patch-int8's
    /// (sets `search.flash_budget`; `None`: no limit).
    pub max_flash_ratio: Option<f64>,
}

/// One row of the four-plan table (the `report.json` schema).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportRow {
    pub name: String,
    pub peak_sram_bytes: usize,
    /// The plan's bytes, what a firmware keeps in flash: weights, biases,
    /// requantization parameters, windows and steps (the runtime's code is
    /// not included).
    #[serde(default)]
    pub flash_bytes: usize,
    /// The kernels' scratch buffer the plan asks for (`Plan::scratch_words` x 4),
    /// in SRAM beside the arena.
    #[serde(default)]
    pub scratch_bytes: usize,
    pub macs: u64,
    pub bitops: f64,
    pub bitops_patch_stage: f64,
    pub accuracy: Option<f64>,
    pub agreement: f64,
    /// `None` when the outputs equal layer-int8's (infinite SQNR).
    pub sqnr_db: Option<f64>,
    pub outlier_tile_share: f64,
    pub search_seconds: f64,
    /// Mean BitOPs per graph op.
    pub bitops_per_op: Vec<f64>,
}

/// One point of a lambda sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepPoint {
    pub lambda: f64,
    pub images: usize,
    pub bitops: f64,
    pub bitops_patch_stage: f64,
    pub accuracy: Option<f64>,
    pub agreement: f64,
    pub search_seconds: f64,
}

/// One point of the outlier-quantile sweep (patch-uniform-low on the
/// calibration images).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpsPoint {
    pub outlier_quantile: f64,
    pub agreement: f64,
    pub bitops: f64,
    pub outlier_tile_share: f64,
}

/// A plan found by one of the compared searches.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Found {
    pub bits: Vec<u32>,
    pub bitops: f64,
    /// Accuracy, or agreement with layer-int8 without labels.
    pub quality: f64,
}

/// VDQS next to an exhaustive search over the same space: the widths of the
/// first `maps` maps (the others at 8 bits), every assignment built and
/// evaluated on the (sweep) evaluation images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchComparison {
    pub maps: usize,
    pub images: usize,
    pub plans_evaluated: usize,
    pub exhaustive_seconds: f64,
    /// Fewest BitOPs at a quality at least VDQS's (else the best quality).
    pub exhaustive: Found,
    pub vdqs_seconds: f64,
    pub vdqs: Found,
}

/// Everything `compile` measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub model: String,
    pub sram_budget_bytes: usize,
    pub split_op: usize,
    pub grid: [usize; 2],
    pub input: InputMode,
    pub calibration_images: usize,
    pub evaluation_images: usize,
    /// The score that chose the quantmcu plan's moves (reports written
    /// before the measured score used the paper's).
    #[serde(default = "paper_score")]
    pub score: Score,
    pub lambda: f64,
    /// Measured score: the agreement floor and KL ceiling on the
    /// calibration images and the moves competing per iteration.
    #[serde(default)]
    pub min_agreement: Option<f64>,
    #[serde(default)]
    pub max_kl: Option<f64>,
    #[serde(default)]
    pub pool: Option<usize>,
    pub candidates: Vec<u32>,
    pub outlier_quantile: f64,
    pub plans: Vec<ReportRow>,
    pub lambda_sweep: Vec<SweepPoint>,
    pub outlier_quantile_sweep: Vec<EpsPoint>,
    #[serde(default)]
    pub search_comparison: Option<SearchComparison>,
    pub trajectory: Vec<Move>,
    /// Why the search stopped, how many plans it ran on the calibration
    /// images (measured score) and the quantmcu plan's damage there.
    #[serde(default)]
    pub search_stop: Option<Stop>,
    #[serde(default)]
    pub search_plans_run: usize,
    #[serde(default)]
    pub calibration_damage: Option<Damage>,
    /// The quantmcu plan's flash budget (plan bytes), if any, and what
    /// fitting the searched plan into it took back.
    #[serde(default)]
    pub flash_budget_bytes: Option<usize>,
    #[serde(default)]
    pub flash_fit: Vec<crate::mixed::flash::FlashStep>,
    /// Chosen width per map of the patch stage (in stage order).
    pub bits: Vec<u32>,
    pub maps: Vec<String>,
    /// Graph ops of the patch stage.
    pub stage_ops: Vec<usize>,
    /// Kind of every graph op (for per-layer plots).
    pub ops: Vec<String>,
    /// Bytes alive while each graph op runs: layer by layer, and under the
    /// quantmcu plan's patch schedule.
    pub layer_live_bytes_per_op: Vec<usize>,
    pub patch_live_bytes_per_op: Vec<usize>,
    /// Per map: the choices the plan made.
    pub map_choices: Vec<MapChoice>,
    /// quantmcu plan: share of evaluation images that stored each
    /// (tile, map) at 8 bits, tile-major (`tiles x maps`; with mixed scope
    /// `all` the last tile is the layer stage).
    pub outlier_by_tile_map: Vec<f64>,
    pub tiles: usize,
}

/// What the plan chose for one map.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapChoice {
    pub name: String,
    pub bits: u32,
    pub per_channel: bool,
    pub bias_correction: bool,
    pub clipped: bool,
    /// In the patch stage (else the layer stage).
    pub in_patch_stage: bool,
}

/// The compiled result: the report, the plan file and the plan bytes.
pub struct Compiled {
    pub report: Report,
    pub plan_file: PlanFile,
    pub plan_bytes: Vec<u8>,
    pub tiles: Tiling,
    pub mixed: MixedPrecision,
}

/// Progress callbacks: a phase message, and one tick per image evaluated.
pub struct Progress<'a> {
    pub phase: &'a (dyn Fn(&str) + Sync),
    pub tick: &'a (dyn Fn() + Sync),
}

fn row(name: &str, runner: &PlanRunner, macs: u64, c: &Comparison, search_seconds: f64) -> ReportRow {
    let plan = runner.encoded();
    ReportRow {
        name: name.into(),
        peak_sram_bytes: plan.arena_bytes,
        flash_bytes: plan.bytes().len(),
        scratch_bytes: 4 * plan.scratch_words,
        macs,
        bitops: c.bitops,
        bitops_patch_stage: c.bitops_patch_stage,
        accuracy: c.accuracy,
        agreement: c.agreement,
        sqnr_db: c.sqnr_db.is_finite().then_some(c.sqnr_db),
        outlier_tile_share: c.outlier_tile_share,
        search_seconds,
        bitops_per_op: c.bitops_per_op.clone(),
    }
}

fn paper_score() -> Score {
    Score::Paper
}

/// Runs the main job on `interp`'s model.
pub fn compile(
    interp: &ReferenceExecutor,
    opts: &Options,
    calib: &[Sample],
    eval: &[Sample],
    progress: &Progress,
) -> Result<Compiled> {
    let graph = interp.graph();
    (progress.phase)("planning the patch schedule");
    let s = search_schedule(graph, opts.sram, opts.input, opts.split, opts.grid);
    let chosen = match (&s.chosen, &s.smallest) {
        (Some(c), _) => c.clone(),
        (None, Some(best)) => {
            return Err(Error::Model {
                model: graph.name.clone(),
                detail: format!(
                    "no schedule fits {} bytes of SRAM; the smallest peak is {} bytes (split after op {}, grid {}x{}); layer by layer needs {} bytes",
                    opts.sram, best.peak_sram_bytes, best.split_op, best.grid[0], best.grid[1], s.layer_based_peak_sram_bytes
                ),
            })
        }
        (None, None) => {
            return Err(Error::Model {
                model: graph.name.clone(),
                detail: "no patch schedule is possible for this model".into(),
            })
        }
    };
    let stage = split_points(graph)
        .into_iter()
        .find(|st| st.ops.last() == Some(&chosen.split_op))
        .expect("chosen split is legal");
    let tp = Tiling::new(graph, &stage, chosen.grid).expect("chosen grid fits");
    let inputs: Vec<_> = calib.iter().map(|s| s.inputs.clone()).collect();
    // A mixed layer stage runs its depthwise layers out of place when that
    // still fits the budget; otherwise they stay in place (and int8).
    let mut opts = opts.clone();
    opts.search.mixed.layer_in_place = crate::patch::arena::patch_layout_with(graph, &tp, opts.input, false)
        .memory
        .peak_bytes
        > opts.sram;
    let opts = &opts;

    // patch-uniform-low: every map at the lowest candidate >= 4, same VDPC.
    let low = opts
        .search
        .candidates
        .iter()
        .copied()
        .filter(|&b| b >= 4)
        .min()
        .unwrap_or(8);
    (progress.phase)("calibrating");
    let hists = calibrate_int8(
        interp,
        &tp,
        opts.input,
        opts.search.mixed.scope,
        opts.search.mixed.layer_in_place,
        &inputs,
        &|| (),
    )?;
    let uniform_at = |eps: f64| {
        build(
            graph,
            &tp,
            &hists,
            &MixedConfig {
                bits: vec![low],
                outlier_quantile: eps,
                ..opts.search.mixed.clone()
            },
        )
    };
    let mut search_cfg = opts.search.clone();
    let patch = PlanRunner::new(interp, Some((&tp, opts.input)))?;
    if let Some(r) = opts.max_flash_ratio {
        search_cfg.flash_budget = Some((r * patch.encoded().bytes().len() as f64) as usize);
    }
    let mut outlier_quantile_sweep = Vec::new();
    if opts.auto_eps {
        (progress.phase)("choosing the outlier quantile");
        for eps in EPS_SWEEP {
            let plan = uniform_at(eps)?;
            let runner = PlanRunner::with_mixed(interp, Some((&tp, opts.input)), Some(&plan))?;
            let c = compare(interp, &runner, calib, &|| ())?;
            outlier_quantile_sweep.push(EpsPoint {
                outlier_quantile: eps,
                agreement: c.agreement,
                bitops: c.bitops,
                outlier_tile_share: c.outlier_tile_share,
            });
        }
        // EPS_SWEEP runs from the largest eps down: the first that keeps
        // the outlier tiles few enough, else the smallest.
        let pick = outlier_quantile_sweep
            .iter()
            .find(|p| p.outlier_tile_share <= EPS_MAX_OUTLIER_TILES)
            .or(outlier_quantile_sweep.last());
        search_cfg.mixed.outlier_quantile = pick.expect("the sweep is not empty").outlier_quantile;
    }
    let uniform = uniform_at(search_cfg.mixed.outlier_quantile)?;

    (progress.phase)("searching bit widths (VDQS)");
    let mut found = search(interp, &tp, opts.input, &inputs, &search_cfg, &|m| (progress.phase)(m))?;
    if found.calibration.is_none() {
        // The paper's score measures nothing: its plan's damage on the
        // calibration images, for the report (outside its search time).
        let int8 = MixedPrecision::int8(
            graph,
            &tp,
            search_cfg.mixed.scope,
            search_cfg.mixed.layer_in_place,
            search_cfg.mixed.rule,
            search_cfg.mixed.numerics,
            search_cfg.mixed.outlier_quantile,
        );
        let reference = run_plan(interp, &tp, opts.input, &int8, &inputs)?.1;
        let outputs = run_plan(interp, &tp, opts.input, &found.plan, &inputs)?.1;
        found.calibration = Some(damage(&reference, &outputs));
    }

    let layer = PlanRunner::new(interp, None)?;
    let uniform_runner = PlanRunner::with_mixed(interp, Some((&tp, opts.input)), Some(&uniform))?;
    let quant = PlanRunner::with_mixed(interp, Some((&tp, opts.input)), Some(&found.plan))?;
    let patch_macs = chosen.macs;
    (progress.phase)("evaluating the four plans");
    let comparisons = compare_all(interp, &[&layer, &patch, &uniform_runner, &quant], eval, progress.tick)?;
    let plans: Vec<ReportRow> = [
        ("layer-int8", &layer, graph.macs(), 0.0),
        ("patch-int8", &patch, patch_macs, 0.0),
        ("patch-uniform-low", &uniform_runner, patch_macs, 0.0),
        ("quantmcu", &quant, patch_macs, found.seconds),
    ]
    .iter()
    .zip(&comparisons)
    .map(|(&(name, runner, macs, secs), c)| row(name, runner, macs, c, secs))
    .collect();

    let mut lambda_sweep = Vec::new();
    for &lambda in &opts.sweep_lambdas {
        (progress.phase)(&format!("lambda sweep: {lambda}"));
        // Lambda weighs the paper's score only.
        let cfg = SearchConfig {
            lambda,
            score: Score::Paper,
            ..search_cfg.clone()
        };
        let r = search(interp, &tp, opts.input, &inputs, &cfg, &|_| ())?;
        let runner = PlanRunner::with_mixed(interp, Some((&tp, opts.input)), Some(&r.plan))?;
        let sub = &eval[..opts.sweep_eval_limit.map_or(eval.len(), |n| n.min(eval.len()))];
        let c = compare(interp, &runner, sub, progress.tick)?;
        lambda_sweep.push(SweepPoint {
            lambda,
            images: sub.len(),
            bitops: c.bitops,
            bitops_patch_stage: c.bitops_patch_stage,
            accuracy: c.accuracy,
            agreement: c.agreement,
            search_seconds: r.seconds,
        });
    }

    let search_comparison = if opts.exhaustive_maps > 0 {
        (progress.phase)("comparing VDQS with an exhaustive search");
        let sub = &eval[..opts.sweep_eval_limit.map_or(eval.len(), |n| n.min(eval.len()))];
        Some(compare_searches(interp, &tp, opts, &search_cfg, &hists, &inputs, sub)?)
    } else {
        None
    };

    let mut plan_file = PlanFile::new(graph, chosen.split_op, chosen.grid, opts.input);
    plan_file.mixed = Some(found.plan.clone());
    let report = Report {
        model: graph.name.clone(),
        sram_budget_bytes: opts.sram,
        split_op: chosen.split_op,
        grid: chosen.grid,
        input: opts.input,
        calibration_images: calib.len(),
        evaluation_images: eval.len(),
        score: opts.search.score,
        lambda: opts.search.lambda,
        min_agreement: (opts.search.score == Score::Measured).then_some(opts.search.min_agreement),
        max_kl: opts.search.max_kl.filter(|_| opts.search.score == Score::Measured),
        pool: opts.search.pool.filter(|_| opts.search.score == Score::Measured),
        candidates: opts.search.candidates.clone(),
        outlier_quantile: search_cfg.mixed.outlier_quantile,
        plans,
        lambda_sweep,
        outlier_quantile_sweep,
        search_comparison,
        trajectory: found.trajectory.clone(),
        search_stop: Some(found.stop),
        search_plans_run: found.plans_run,
        calibration_damage: found.calibration,
        flash_budget_bytes: search_cfg.flash_budget,
        flash_fit: found.flash_fit.clone(),
        bits: found.bits.clone(),
        maps: found.plan.maps.iter().map(|m| m.name.clone()).collect(),
        stage_ops: tp.stage.ops.clone(),
        ops: graph.ops.iter().map(|o| o.kind.name().to_string()).collect(),
        layer_live_bytes_per_op: crate::memory::plan_layer_based(graph).live_bytes_per_op,
        patch_live_bytes_per_op: crate::patch::arena::patch_layout_with(
            graph,
            &tp,
            opts.input,
            opts.search.mixed.scope == crate::mixed::Scope::Patch || opts.search.mixed.layer_in_place,
        )
        .memory
        .live_bytes_per_op,
        map_choices: found
            .plan
            .maps
            .iter()
            .map(|m| MapChoice {
                name: m.name.clone(),
                bits: m.format.bits,
                per_channel: m.format.per_channel(),
                bias_correction: !m.mean_error.is_empty(),
                clipped: m.code != m.clean,
                in_patch_stage: tp.stage.tensors(graph).contains(&m.tensor),
            })
            .collect(),
        outlier_by_tile_map: comparisons[3].outlier_by_tile_map.clone(),
        tiles: quant.encoded().tiles,
    };
    Ok(Compiled {
        report,
        plan_file,
        plan_bytes: quant.encoded().bytes().to_vec(),
        tiles: tp,
        mixed: found.plan,
    })
}

/// VDQS restricted to the first `opts.exhaustive_maps` maps next to every
/// width assignment of those maps, each evaluated on `eval`.
fn compare_searches(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    opts: &Options,
    cfg: &SearchConfig,
    hists: &[crate::mixed::Histogram],
    inputs: &[Vec<crate::TensorData>],
    eval: &[Sample],
) -> Result<SearchComparison> {
    let graph = interp.graph();
    let quality = |c: &Comparison| c.accuracy.unwrap_or(c.agreement);
    let n_maps = crate::mixed::mixed_maps(graph, tp, cfg.mixed.scope, cfg.mixed.layer_in_place).len();
    let k = opts.exhaustive_maps.min(n_maps);
    let start = std::time::Instant::now();
    let restricted = SearchConfig {
        max_maps: Some(k),
        ..cfg.clone()
    };
    let v = search(interp, tp, opts.input, inputs, &restricted, &|_| ())?;
    let vdqs_seconds = start.elapsed().as_secs_f64();
    let runner = PlanRunner::with_mixed(interp, Some((tp, opts.input)), Some(&v.plan))?;
    let c = compare(interp, &runner, eval, &|| ())?;
    let vdqs = Found {
        bits: v.bits[..k].to_vec(),
        bitops: c.bitops,
        quality: quality(&c),
    };
    let mut widths: Vec<u32> = cfg.candidates.iter().copied().chain([8]).collect();
    widths.sort_unstable();
    widths.dedup();
    let start = std::time::Instant::now();
    let mut all = Vec::new();
    let total = widths.len().pow(k as u32);
    for code in 0..total {
        let mut bits = vec![8u32; n_maps];
        let mut rest = code;
        for b in bits.iter_mut().take(k) {
            *b = widths[rest % widths.len()];
            rest /= widths.len();
        }
        let plan = build(
            graph,
            tp,
            hists,
            &MixedConfig {
                bits: bits.clone(),
                ..cfg.mixed.clone()
            },
        )?;
        let runner = PlanRunner::with_mixed(interp, Some((tp, opts.input)), Some(&plan))?;
        let c = compare(interp, &runner, eval, &|| ())?;
        all.push(Found {
            bits: bits[..k].to_vec(),
            bitops: c.bitops,
            quality: quality(&c),
        });
    }
    let exhaustive_seconds = start.elapsed().as_secs_f64();
    let ok: Vec<&Found> = all.iter().filter(|f| f.quality >= vdqs.quality).collect();
    let best = if ok.is_empty() {
        all.iter().max_by(|a, b| a.quality.total_cmp(&b.quality))
    } else {
        ok.into_iter().min_by(|a, b| a.bitops.total_cmp(&b.bitops))
    }
    .expect("at least one assignment")
    .clone();
    Ok(SearchComparison {
        maps: k,
        images: eval.len(),
        plans_evaluated: total,
        exhaustive_seconds,
        exhaustive: best,
        vdqs_seconds,
        vdqs,
    })
}

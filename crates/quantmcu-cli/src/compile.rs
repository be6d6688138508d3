//! `quantmcu compile` and `quantmcu demo`: the main job. Plans the patch
//! schedule, calibrates, searches bit widths, evaluates the four plans and
//! writes `DIR/plan.qmcu` (runtime bytes), `DIR/plan.json` (plan file for
//! `run`/`eval --plan`) and `DIR/report.json`; prints the side-by-side table.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::ProgressStyle;
use quantmcu::mixed::flash::FlashAction;
use quantmcu::mixed::search::{SearchConfig, Stop};
use quantmcu::mixed::MixedConfig;
use quantmcu::pipeline::{self, Options, Progress, Report};
use quantmcu::{tflite, ReferenceExecutor};

use crate::args::{Input, Levers, MixedScope, ScheduleArgs, Score};
use crate::samples::{self, Source};

/// Default VDQS lambda (chosen by the sweep in the README).
pub const DEFAULT_LAMBDA: f64 = 0.01;

/// Options of `quantmcu compile`.
#[derive(clap::Args)]
pub struct Args {
    /// The int8 .tflite model.
    pub model: PathBuf,
    /// Calibration images (IDX file, class folders or {set}_{index}_{label}
    /// files; all sets of such a folder unless --calib-set chooses).
    #[arg(long)]
    pub calib: PathBuf,
    /// Only these sets (comma-separated) of a {set}_{index}_{label} folder.
    #[arg(long)]
    pub calib_set: Option<String>,
    /// Use the first N calibration images (per set).
    #[arg(long, default_value_t = 64, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub calib_limit: usize,
    /// Evaluation images (default: the calibration images; all sets of a
    /// {set}_{index}_{label} folder unless --eval-set chooses).
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Only these sets of the evaluation folder.
    #[arg(long)]
    pub eval_set: Option<String>,
    /// Evaluate only the first N images (per set).
    #[arg(long, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub eval_limit: Option<usize>,
    /// Also evaluate every image flipped left to right.
    #[arg(long)]
    pub mirror: bool,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Candidate widths of the search (8 is always one).
    #[arg(long, value_parser = crate::mixed::parse_bits, default_value = "8,4")]
    pub bits: crate::mixed::Widths,
    /// How the search scores its moves: the paper's entropy score, or each
    /// move's measured effect on the calibration outputs.
    #[arg(long, value_enum, default_value_t = DEFAULT_SCORE)]
    pub score: Score,
    /// Measured score: the least top-1 agreement with layer-int8 on the
    /// calibration images the search may leave, a fraction (0.98) or a
    /// percentage (98%).
    #[arg(long, default_value = DEFAULT_MIN_AGREEMENT, value_parser = crate::args::parse_agreement, allow_negative_numbers = true)]
    pub min_agreement: f64,
    /// Measured score: the most mean KL divergence (nats) of the
    /// calibration outputs from layer-int8's the search may leave (0 = no
    /// ceiling).
    #[arg(long, default_value_t = DEFAULT_MAX_KL, value_parser = crate::args::parse_kl, allow_negative_numbers = true)]
    pub max_kl: f64,
    /// Measured score: how many moves (largest BitOPs saving first) compete
    /// in each iteration.
    #[arg(long, default_value_t = DEFAULT_POOL, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub pool: usize,
    /// Paper score's trade-off in [0, 1]: S = (1 - lambda) Phi - lambda Omega.
    #[arg(long, default_value_t = DEFAULT_LAMBDA, value_parser = crate::args::parse_unit, allow_negative_numbers = true)]
    pub lambda: f64,
    /// Stop the search once the estimated BitOPs reach this (above 0).
    #[arg(long, value_parser = crate::args::parse_positive, allow_negative_numbers = true)]
    pub target_bitops: Option<f64>,
    /// Fraction of calibration values left outside each clean range, in
    /// [0, 1) (default: the largest saving that keeps 99 % top-1 agreement
    /// on the calibration images, from a sweep).
    #[arg(long, value_parser = crate::args::parse_quantile, allow_negative_numbers = true)]
    pub outlier_quantile: Option<f64>,
    /// Mixed precision in the patch stage only, or also in the
    /// layer-by-layer stage (each of its maps one tile, `map` rule).
    #[arg(long, value_enum, default_value_t = MixedScope::All)]
    pub mixed_scope: MixedScope,
    #[command(flatten)]
    pub levers: Levers,
    /// Score Omega relative to the mean Omega of the moves (instead of
    /// normalizing each map's Omega by its 8-bit BitOPs H_i(8)).
    #[arg(long)]
    pub rescaled_omega: bool,
    /// Also search and evaluate at each of these lambdas (comma-separated,
    /// each in [0, 1]).
    #[arg(long, value_delimiter = ',', value_parser = crate::args::parse_unit, allow_negative_numbers = true)]
    pub sweep_lambda: Vec<f64>,
    /// Evaluate the sweep's plans on the first N evaluation images only.
    #[arg(long, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub sweep_eval_limit: Option<usize>,
    /// Also compare VDQS with an exhaustive, accuracy-evaluated search
    /// over the widths of the first N maps (timed; 0 = off).
    #[arg(long, default_value_t = 0)]
    pub exhaustive: usize,
    /// The quantmcu plan's flash (plan bytes) at most this many times
    /// patch-int8's: maps whose per-channel ranges would give their
    /// convolution readers a second weight set past it take one range per
    /// tensor (0 = no limit).
    #[arg(long, default_value_t = DEFAULT_MAX_FLASH_RATIO, value_parser = crate::args::parse_flash_ratio, allow_negative_numbers = true)]
    pub max_flash_ratio: f64,
    /// Output directory.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Print report.json instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Default of `--score` (the comparison in docs/design.md, "VDQS").
pub const DEFAULT_SCORE: Score = Score::Paper;
/// Default of `--min-agreement` (docs/design.md, "VDQS").
pub const DEFAULT_MIN_AGREEMENT: &str = "0.98";
/// Default of `--max-kl` (docs/design.md, "VDQS").
pub const DEFAULT_MAX_KL: f64 = 0.02;
/// Default of `--pool` (docs/design.md, "VDQS").
pub const DEFAULT_POOL: usize = 4;

/// Default of `--max-flash-ratio`.
pub const DEFAULT_MAX_FLASH_RATIO: f64 = 1.25;

/// Options of `quantmcu demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Output directory.
    #[arg(short = 'o', long = "output", default_value = "demo")]
    pub output: PathBuf,
    /// Evaluate only the first N test images (default: all 10,000).
    #[arg(long, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub eval_limit: Option<usize>,
    /// Print report.json instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn compile(a: &Args) -> Result<()> {
    let graph = tflite::load(&a.model)?;
    let interp = ReferenceExecutor::new(&graph)?;
    let calib = samples::load(
        &graph,
        &Source {
            data: &a.calib,
            sets: a.calib_set.as_deref(),
            limit: Some(a.calib_limit),
            mirror: false,
        },
    )
    .with_context(|| format!("calibration data {}", a.calib.display()))?;
    let eval = match &a.eval {
        Some(path) => samples::load(
            &graph,
            &Source {
                data: path,
                sets: a.eval_set.as_deref(),
                limit: a.eval_limit,
                mirror: a.mirror,
            },
        )
        .with_context(|| format!("evaluation data {}", path.display()))?,
        None => samples::load(
            &graph,
            &Source {
                data: &a.calib,
                sets: a.calib_set.as_deref(),
                limit: Some(a.calib_limit),
                mirror: a.mirror,
            },
        )?,
    };
    let opts = Options {
        auto_eps: a.outlier_quantile.is_none(),
        sram: a.schedule.sram,
        input: a.schedule.input.into(),
        split: a.schedule.split,
        grid: a.schedule.grid,
        search: SearchConfig {
            candidates: a.bits.0.clone(),
            score: a.score.into(),
            lambda: a.lambda,
            min_agreement: a.min_agreement,
            max_kl: (a.max_kl > 0.0).then_some(a.max_kl),
            pool: Some(a.pool),
            target_bitops: a.target_bitops,
            mixed: MixedConfig {
                bits: vec![8],
                outlier_quantile: a.outlier_quantile.unwrap_or(0.0),
                rule: a.levers.vdpc.into(),
                scope: a.mixed_scope.into(),
                layer_in_place: true,
                per_channel: a.levers.per_channel,
                clip: a.levers.clip,
                bias_correction: a.levers.bias_correction,
                numerics: a.levers.numerics.into(),
            },
            rescaled_omega: a.rescaled_omega,
            max_maps: None,
            flash_budget: None,
        },
        sweep_lambdas: a.sweep_lambda.clone(),
        sweep_eval_limit: a.sweep_eval_limit,
        exhaustive_maps: a.exhaustive,
        max_flash_ratio: (a.max_flash_ratio > 0.0).then_some(a.max_flash_ratio),
    };
    let per_sweep = a.sweep_eval_limit.map_or(eval.len(), |n| n.min(eval.len()));
    let evaluations = eval.len() * 4 + per_sweep * a.sweep_lambda.len();
    let bar = samples::progress(evaluations, "compile", a.json);
    bar.set_style(
        ProgressStyle::with_template("{msg:40} {bar:30} {pos}/{len} evaluations, eta {eta}").expect("valid template"),
    );
    let phase = |m: &str| bar.set_message(m.to_string());
    let tick = || bar.inc(1);
    let compiled = pipeline::compile(
        &interp,
        &opts,
        &calib,
        &eval,
        &Progress {
            phase: &phase,
            tick: &tick,
        },
    )?;
    bar.finish_and_clear();
    write_outputs(&a.output, &compiled)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&compiled.report)?);
    } else {
        print_table(&compiled.report, &a.output);
    }
    Ok(())
}

fn write_outputs(dir: &Path, c: &pipeline::Compiled) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    };
    write("plan.qmcu", &c.plan_bytes)?;
    write("plan.json", serde_json::to_string_pretty(&c.plan_file)?.as_bytes())?;
    write("report.json", serde_json::to_string_pretty(&c.report)?.as_bytes())?;
    crate::report::write(dir, &c.report)
}

/// The side-by-side table of the four plans.
pub fn print_table(r: &Report, dir: &Path) {
    let score = match (r.min_agreement, r.pool) {
        (Some(a), Some(k)) => format!(
            "{} score, floor {:.2} %, KL ceiling {}, pool {k}",
            r.score.name(),
            100.0 * a,
            r.max_kl.map_or("none".into(), |c| c.to_string())
        ),
        _ => format!("{} score, lambda {}", r.score.name(), r.lambda),
    };
    println!(
        "{}: split after op {}, grid {}x{}, input {:?}; {} calibration / {} evaluation images; bits {:?}, {score}, eps {}",
        r.model,
        r.split_op,
        r.grid[0],
        r.grid[1],
        r.input,
        r.calibration_images,
        r.evaluation_images,
        r.candidates,
        r.outlier_quantile
    );
    println!(
        "{:<18} {:>10} {:>8} {:>10} {:>11} {:>11} {:>11} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "plan",
        "peak SRAM",
        "scratch",
        "flash",
        "MACs",
        "BitOPs",
        "stage BOPs",
        "accuracy",
        "agree",
        "SQNR dB",
        "outlier",
        "search s"
    );
    let patch = r.plans.iter().find(|p| p.name == "patch-int8");
    for p in &r.plans {
        let acc = p.accuracy.map_or("-".into(), |a| format!("{:.2}%", 100.0 * a));
        let sqnr = p.sqnr_db.map_or("exact".into(), |s| format!("{s:.1}"));
        println!(
            "{:<18} {:>10} {:>8} {:>10} {:>11} {:>11.4e} {:>11.4e} {:>9} {:>8.2}% {:>8} {:>7.1}% {:>8.2}",
            p.name,
            p.peak_sram_bytes,
            p.scratch_bytes,
            p.flash_bytes,
            p.macs,
            p.bitops,
            p.bitops_patch_stage,
            acc,
            100.0 * p.agreement,
            sqnr,
            100.0 * p.outlier_tile_share,
            p.search_seconds
        );
    }
    if let (Some(base), Some(q)) = (patch, r.plans.iter().find(|p| p.name == "quantmcu")) {
        println!(
            "quantmcu vs patch-int8: patch-stage BitOPs {:.2}x lower, whole network {:.2}x lower, flash {:.2}x",
            base.bitops_patch_stage / q.bitops_patch_stage,
            base.bitops / q.bitops,
            q.flash_bytes as f64 / base.flash_bytes.max(1) as f64
        );
    }
    print_search(r);
    if let Some(budget) = r.flash_budget_bytes {
        let took = |a: FlashAction| r.flash_fit.iter().filter(|s| s.action == a).count();
        println!(
            "flash budget {budget} B: {} maps gave up per-channel ranges (second weight sets), {} went back to 8 bits",
            took(FlashAction::PerTensor),
            took(FlashAction::Int8)
        );
    }
    if let Some(c) = &r.search_comparison {
        println!(
            "search over the first {} maps ({} images): VDQS {:?} -> {:.4e} BitOPs, quality {:.2} % in {:.2} s; exhaustive ({} plans) best {:?} -> {:.4e} BitOPs, quality {:.2} % in {:.2} s",
            c.maps, c.images, c.vdqs.bits, c.vdqs.bitops, 100.0 * c.vdqs.quality, c.vdqs_seconds,
            c.plans_evaluated, c.exhaustive.bits, c.exhaustive.bitops, 100.0 * c.exhaustive.quality, c.exhaustive_seconds
        );
    }
    if !r.outlier_quantile_sweep.is_empty() {
        let pts: Vec<String> = r
            .outlier_quantile_sweep
            .iter()
            .map(|p| {
                format!(
                    "{:e}: {:.1}% agree, {:.1}% outlier tiles",
                    p.outlier_quantile,
                    100.0 * p.agreement,
                    100.0 * p.outlier_tile_share
                )
            })
            .collect();
        println!(
            "outlier quantile (chosen {:e}) on the calibration images: {}",
            r.outlier_quantile,
            pts.join("; ")
        );
    }
    let chosen: Vec<String> = r.bits.iter().map(u32::to_string).collect();
    println!("widths of the {} stage maps: {}", r.bits.len(), chosen.join(","));
    println!(
        "wrote {0}/plan.qmcu, {0}/plan.json, {0}/report.json, {0}/report.html",
        dir.display()
    );
}

/// The search's moves and why it stopped.
fn print_search(r: &Report) {
    println!(
        "{:>4} {:>4} {:>6} {:>8} {:>7} {:>10} {:>10} {:>9} {:>11}",
        "move", "map", "bits", "Phi", "Omega", "score", "KL", "agree", "est. BitOPs"
    );
    for (i, m) in r.trajectory.iter().enumerate() {
        let (kl, agree) = m.measured.map_or(("-".into(), "-".into()), |d| {
            (format!("{:.5}", d.kl), format!("{:.2}%", 100.0 * d.agreement))
        });
        println!(
            "{:>4} {:>4} {:>6} {:>8.5} {:>7.4} {:>10.4e} {:>10} {:>9} {:>11.4e}",
            i + 1,
            m.map,
            format!("{}->{}", m.from_bits, m.to_bits),
            m.phi,
            m.omega,
            m.score,
            kl,
            agree,
            m.bitops
        );
    }
    let stop = match r.search_stop {
        Some(Stop::NoPositiveScore) => "no move scored above 0",
        Some(Stop::Limits) => "every remaining move would cross the agreement floor or the KL ceiling",
        Some(Stop::NoMoves) => "no map can go lower",
        Some(Stop::Target) => "the BitOPs target was met",
        None => "-",
    };
    let runs = if r.search_plans_run > 0 {
        format!("; {} plans run on the calibration images", r.search_plans_run)
    } else {
        String::new()
    };
    let measured = r.calibration_damage.map_or(String::new(), |d| {
        format!(
            "{runs}; the plan on the calibration images: agreement {:.2} %, KL {:.5}",
            100.0 * d.agreement,
            d.kl
        )
    });
    println!(
        "search ({} score): {} moves, stopped because {stop}{measured}",
        r.score.name(),
        r.trajectory.len()
    );
}

/// The reference model `demo` runs (trained on Fashion-MNIST; see
/// `models/` in the source tree), carried in the binary.
const REFERENCE_MODEL: &[u8] = include_bytes!("../../../models/fmnist_mobilenetv2_int8.tflite");
const REFERENCE_MODEL_FILE: &str = "fmnist_mobilenetv2_int8.tflite";

/// `quantmcu demo`: compile + eval on the project's reference model (written
/// to `reference/` in the asset cache) and Fashion-MNIST (fetched on first
/// use).
pub fn demo(d: &DemoArgs) -> Result<()> {
    let data = quantmcu::assets::ensure("fashion-mnist")?.join("fashion-mnist");
    let model = quantmcu::assets::dir()?.join("reference").join(REFERENCE_MODEL_FILE);
    quantmcu::assets::write_if_changed(&model, REFERENCE_MODEL)?;
    let args = Args {
        model,
        calib: data.join("train-images-idx3-ubyte.gz"),
        calib_set: None,
        calib_limit: 64,
        eval: Some(data.join("t10k-images-idx3-ubyte.gz")),
        eval_set: None,
        eval_limit: d.eval_limit,
        mirror: false,
        schedule: ScheduleArgs {
            sram: 40 * 1024,
            input: Input::Streamed,
            split: None,
            grid: None,
        },
        bits: crate::mixed::Widths(vec![8, 4]),
        score: DEFAULT_SCORE,
        lambda: DEFAULT_LAMBDA,
        min_agreement: crate::args::parse_agreement(DEFAULT_MIN_AGREEMENT).expect("a valid default"),
        max_kl: DEFAULT_MAX_KL,
        pool: DEFAULT_POOL,
        target_bitops: None,
        outlier_quantile: None,
        mixed_scope: MixedScope::All,
        levers: Levers::default(),
        rescaled_omega: false,
        sweep_lambda: vec![0.0, 0.02, 0.05],
        sweep_eval_limit: Some(1000),
        exhaustive: 3,
        max_flash_ratio: DEFAULT_MAX_FLASH_RATIO,
        output: d.output.clone(),
        json: d.json,
    };
    if !d.json {
        println!(
            "demo: {} on Fashion-MNIST (calibration: first {} training images; evaluation: test set), SRAM 40 KiB, streamed input",
            args.model.display(),
            args.calib_limit
        );
    }
    compile(&args)
}

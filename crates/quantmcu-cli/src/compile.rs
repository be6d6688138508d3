//! `quantmcu compile` and `quantmcu demo`: the main job. Plans the patch
//! schedule, calibrates, searches bit widths, evaluates the four plans and
//! writes `DIR/plan.qmcu` (runtime bytes), `DIR/plan.json` (plan file for
//! `run`/`eval --plan`) and `DIR/report.json`; prints the side-by-side table.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::ProgressStyle;
use quantmcu::mixed::search::SearchConfig;
use quantmcu::mixed::{MixedConfig, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::pipeline::{self, Options, Progress, Report};
use quantmcu::{tflite, Interpreter};

use crate::samples::{self, Source};

/// Default VDQS lambda (chosen by the sweep in the README).
pub const DEFAULT_LAMBDA: f64 = 0.01;

/// Options of `quantmcu compile`.
pub struct CompileArgs {
    pub model: PathBuf,
    pub calib: PathBuf,
    pub calib_set: Option<String>,
    pub calib_limit: usize,
    pub eval: Option<PathBuf>,
    pub eval_set: Option<String>,
    pub eval_limit: Option<usize>,
    pub mirror: bool,
    pub sram: usize,
    pub input: InputMode,
    pub split: Option<usize>,
    pub grid: Option<[usize; 2]>,
    pub bits: Vec<u32>,
    pub lambda: f64,
    pub target_bitops: Option<f64>,
    /// `None`: chosen by a sweep on the calibration images.
    pub outlier_quantile: Option<f64>,
    pub rule: Rule,
    pub scope: Scope,
    pub per_channel: bool,
    pub clip: bool,
    pub bias_correction: bool,
    pub rescaled_omega: bool,
    pub sweep_lambda: Vec<f64>,
    pub sweep_eval_limit: Option<usize>,
    pub exhaustive: usize,
    pub output: PathBuf,
    pub json: bool,
}

pub fn compile(a: &CompileArgs) -> Result<()> {
    let graph = tflite::load(&a.model)?;
    let interp = Interpreter::new(&graph)?;
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
        sram: a.sram,
        input: a.input,
        split: a.split,
        grid: a.grid,
        search: SearchConfig {
            candidates: a.bits.clone(),
            lambda: a.lambda,
            target_bitops: a.target_bitops,
            mixed: MixedConfig {
                bits: vec![8],
                outlier_quantile: a.outlier_quantile.unwrap_or(0.0),
                rule: a.rule,
                scope: a.scope,
                layer_in_place: true,
                per_channel: a.per_channel,
                clip: a.clip,
                bias_correction: a.bias_correction,
            },
            rescaled_omega: a.rescaled_omega,
            max_maps: None,
        },
        sweep_lambdas: a.sweep_lambda.clone(),
        sweep_eval_limit: a.sweep_eval_limit,
        exhaustive_maps: a.exhaustive,
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
    println!(
        "{}: split after op {}, grid {}x{}, input {:?}; {} calibration / {} evaluation images; bits {:?}, lambda {}, eps {}",
        r.model,
        r.split_op,
        r.grid[0],
        r.grid[1],
        r.input,
        r.calibration_images,
        r.evaluation_images,
        r.candidates,
        r.lambda,
        r.outlier_quantile
    );
    println!(
        "{:<18} {:>10} {:>11} {:>11} {:>11} {:>9} {:>9} {:>8} {:>8} {:>8}",
        "plan", "peak SRAM", "MACs", "BitOPs", "stage BOPs", "accuracy", "agree", "SQNR dB", "outlier", "search s"
    );
    let patch = r.plans.iter().find(|p| p.name == "patch-int8");
    for p in &r.plans {
        let acc = p.accuracy.map_or("-".into(), |a| format!("{:.2}%", 100.0 * a));
        let sqnr = p.sqnr_db.map_or("exact".into(), |s| format!("{s:.1}"));
        println!(
            "{:<18} {:>10} {:>11} {:>11.4e} {:>11.4e} {:>9} {:>8.2}% {:>8} {:>7.1}% {:>8.2}",
            p.name,
            p.peak_sram_bytes,
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
            "quantmcu vs patch-int8: patch-stage BitOPs {:.2}x lower, whole network {:.2}x lower",
            base.bitops_patch_stage / q.bitops_patch_stage,
            base.bitops / q.bitops
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

/// `quantmcu demo`: compile + eval on the project's reference model and
/// Fashion-MNIST (fetched on first use).
pub fn demo(output: &Path, eval_limit: Option<usize>, json: bool) -> Result<()> {
    let root = quantmcu::assets::repo_root();
    let data = quantmcu::assets::ensure("fashion-mnist")?.join("fashion-mnist");
    let args = CompileArgs {
        model: root.join("models/fmnist_mobilenetv2_int8.tflite"),
        calib: data.join("train-images-idx3-ubyte.gz"),
        calib_set: None,
        calib_limit: 64,
        eval: Some(data.join("t10k-images-idx3-ubyte.gz")),
        eval_set: None,
        eval_limit,
        mirror: false,
        sram: 40 * 1024,
        input: InputMode::Streamed,
        split: None,
        grid: None,
        bits: vec![8, 4],
        lambda: DEFAULT_LAMBDA,
        target_bitops: None,
        outlier_quantile: None,
        rule: Rule::Map,
        scope: Scope::All,
        per_channel: true,
        clip: true,
        bias_correction: true,
        rescaled_omega: false,
        sweep_lambda: vec![0.0, 0.02, 0.05],
        sweep_eval_limit: Some(1000),
        exhaustive: 3,
        output: output.to_path_buf(),
        json,
    };
    if !json {
        println!(
            "demo: {} on Fashion-MNIST (calibration: first {} training images; evaluation: test set), SRAM 40 KiB, streamed input",
            args.model.display(),
            args.calib_limit
        );
    }
    compile(&args)
}

//! The mixed-precision part of `quantmcu plan`: calibrate the patch stage,
//! derive clean ranges and low-bit formats, and measure what the plan does
//! on the calibration images.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use quantmcu::compare::{compare, Comparison};
use quantmcu::mixed::{build, calibrate_int8, MixedConfig, MixedPrecision, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{PlanRunner, Tiling};
use quantmcu::ReferenceExecutor;
use serde::Serialize;

use crate::samples::{self, Source};

/// Options of `plan`'s mixed-precision plan (all but `--calib` need it).
#[derive(clap::Args)]
pub struct MixedArgs {
    /// Calibration images for value-driven mixed precision in the patch
    /// stage (same layouts as `eval --data`; all sets of a
    /// {set}_{index}_{label} folder unless --calib-set chooses).
    #[arg(long)]
    pub calib: Option<PathBuf>,
    /// Only these sets (comma-separated) of a {set}_{index}_{label} folder.
    #[arg(long, requires = "calib")]
    pub calib_set: Option<String>,
    /// Use at most this many calibration images per set.
    #[arg(long, default_value_t = 256, requires = "calib", value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub calib_limit: usize,
    /// Width of clean tiles' feature maps: one for all maps of the stage,
    /// or a comma list with one per map (e.g. 4 or 4,4,8,2).
    #[arg(long, value_parser = parse_bits, default_value = "4", requires = "calib")]
    pub clean_bits: Widths,
    /// Fraction of calibration values left outside each clean range, in [0, 1).
    #[arg(long, default_value_t = 1e-4, requires = "calib", value_parser = crate::args::parse_quantile, allow_negative_numbers = true)]
    pub outlier_quantile: f64,
    #[command(flatten)]
    pub levers: crate::args::Levers,
}

/// What the plan did on the calibration images, next to patch-int8.
#[derive(Serialize)]
pub struct MixedReport {
    pub plan: MixedPrecision,
    pub calibration_images: usize,
    pub on_calibration: Comparison,
    pub patch_int8_bitops: f64,
    pub patch_int8_bitops_patch_stage: f64,
    /// Graph ops of the patch stage, and patch-int8's BitOPs per graph op
    /// (the worst case of this plan: every tile outlier).
    pub stage_ops: Vec<usize>,
    pub patch_int8_bitops_per_op: Vec<f64>,
    /// Plan bytes (weights, variants, steps) of this plan and of patch-int8.
    pub plan_bytes: usize,
    pub patch_int8_plan_bytes: usize,
}

/// Bit widths given on the command line.
#[derive(Clone, Debug)]
pub struct Widths(pub Vec<u32>);

/// Parses `4` or `4,4,8,2` (one width per feature map).
pub fn parse_bits(s: &str) -> Result<Widths, String> {
    s.split(',')
        .map(|b| {
            b.trim()
                .parse::<u32>()
                .ok()
                .filter(|b| (1..=8).contains(b))
                .ok_or_else(|| format!("'{b}' in '{s}' is not a width of 1..=8 bits"))
        })
        .collect::<Result<_, _>>()
        .map(Widths)
}

/// Calibrates `tp`'s stage and builds and measures the mixed plan.
pub fn mixed_plan(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    mode: InputMode,
    a: &MixedArgs,
    calib_path: &Path,
    quiet: bool,
) -> Result<MixedReport> {
    let graph = interp.graph();
    let calib = samples::load(
        graph,
        &Source {
            data: calib_path,
            sets: a.calib_set.as_deref(),
            limit: Some(a.calib_limit),
            mirror: false,
        },
    )
    .with_context(|| format!("calibration data {}", calib_path.display()))?;
    let inputs: Vec<_> = calib.iter().map(|s| s.inputs.clone()).collect();
    let bar = samples::progress(inputs.len(), "calibrating", quiet);
    let hists = calibrate_int8(interp, tp, mode, Scope::Patch, true, &inputs, &|| bar.inc(1))?;
    bar.finish_and_clear();
    let cfg = MixedConfig {
        bits: a.clean_bits.0.clone(),
        outlier_quantile: a.outlier_quantile,
        rule: a.levers.vdpc.into(),
        scope: Scope::Patch,
        layer_in_place: true,
        per_channel: a.levers.per_channel,
        clip: a.levers.clip,
        bias_correction: a.levers.bias_correction,
        numerics: a.levers.numerics.into(),
    };
    let plan = build(graph, tp, &hists, &cfg)?;
    let runner = PlanRunner::with_mixed(interp, Some((tp, mode)), Some(&plan))?;
    let int8 = PlanRunner::new(interp, Some((tp, mode)))?;
    let bar = samples::progress(calib.len(), "measuring", quiet);
    let on_calibration = compare(interp, &runner, &calib, &|| bar.inc(1))?;
    let base = compare(interp, &int8, &calib[..1], &|| ())?;
    bar.finish_and_clear();
    Ok(MixedReport {
        calibration_images: calib.len(),
        on_calibration,
        patch_int8_bitops: base.bitops,
        patch_int8_bitops_patch_stage: base.bitops_patch_stage,
        stage_ops: tp.stage.ops.clone(),
        patch_int8_bitops_per_op: base.bitops_per_op,
        plan_bytes: runner.encoded().bytes().len(),
        patch_int8_plan_bytes: int8.encoded().bytes().len(),
        plan,
    })
}

/// Prints the per-map table and the measured totals.
pub fn print(r: &MixedReport) {
    let p = &r.plan;
    println!(
        "mixed precision: rule {:?}, outlier quantile {}, calibrated on {} images",
        p.rule, p.outlier_quantile, r.calibration_images
    );
    println!(
        "{:>3} {:<36} {:>4} {:>12} {:>8}",
        "map", "tensor", "bits", "clean range", "scales"
    );
    for (k, m) in p.maps.iter().enumerate() {
        let (lo, hi) = (
            m.clean.iter().map(|c| c.0).min().unwrap_or(0),
            m.clean.iter().map(|c| c.1).max().unwrap_or(0),
        );
        println!(
            "{k:>3} {:<36} {:>4} {:>12} {:>8}",
            crate::plan::truncate(&m.name, 36),
            m.format.bits,
            format!("[{lo}, {hi}]"),
            if m.format.per_channel() { "channel" } else { "tensor" }
        );
    }
    let c = &r.on_calibration;
    println!("BitOPs per patch-stage op (mean over the calibration images; worst case = patch-int8):");
    for &i in &r.stage_ops {
        let (got, worst) = (c.bitops_per_op[i], r.patch_int8_bitops_per_op[i]);
        if worst > 0.0 {
            println!(
                "  op {i:>3}: {got:>12.4e} of {worst:>12.4e} ({:.2}x below)",
                worst / got
            );
        }
    }
    println!(
        "on the calibration images: {:.1} % of tiles and {:.1} % of (tile, map) pairs outlier; top-1 agreement with layer-int8 {:.1} %",
        100.0 * c.outlier_tile_share,
        100.0 * c.outlier_map_share,
        100.0 * c.agreement
    );
    println!(
        "BitOPs per inference: patch stage {:.4e} ({:.2}x below patch-int8 {:.4e}), whole network {:.4e} ({:.2}x below {:.4e})",
        c.bitops_patch_stage,
        r.patch_int8_bitops_patch_stage / c.bitops_patch_stage,
        r.patch_int8_bitops_patch_stage,
        c.bitops,
        r.patch_int8_bitops / c.bitops,
        r.patch_int8_bitops
    );
    println!(
        "plan size (flash): {} B ({} B more than patch-int8: low-bit variants' biases, multipliers and weight sets)",
        r.plan_bytes,
        r.plan_bytes as i64 - r.patch_int8_plan_bytes as i64
    );
}

//! `quantmcu`: inspect, run and benchmark int8 `.tflite` models for
//! microcontrollers.

mod bench;
mod compile;
mod eval;
mod export;
mod inspect;
mod mcu;
mod mixed;
mod plan;
mod plot;
mod report;
mod run;
mod samples;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "quantmcu",
    version,
    about = "Make int8 CNNs fit and run fast on microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per-op shapes, MACs, parameters and layer-by-layer SRAM of a model.
    Inspect {
        /// The int8 .tflite model.
        model: PathBuf,
        /// Also show per-op SRAM under this patch plan (from `quantmcu plan -o`).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Run a model on one input (PNG/JPEG image or .npy tensor) with the
    /// bit-exact int8 reference executor.
    Run {
        /// The int8 .tflite model.
        model: PathBuf,
        /// A PNG/JPEG image (converted to the model's input spec) or a .npy
        /// tensor of the input's exact dtype and shape.
        input: PathBuf,
        /// Run this patch plan (from `quantmcu plan -o`) instead of layer by layer.
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Print all outputs as JSON instead of the top-5 classes.
        #[arg(long)]
        json: bool,
    },
    /// Search patch-based schedules (split point x grid) that fit an SRAM
    /// budget; print the candidates and write the plan with the fewest MACs.
    Plan {
        /// The int8 .tflite model.
        model: PathBuf,
        /// SRAM budget: bytes, or with a unit (e.g. 64KiB, 128KB, 1MiB).
        #[arg(long, value_parser = parse_bytes)]
        sram: usize,
        /// Only consider the patch stage that ends with this op index.
        #[arg(long)]
        split: Option<usize>,
        /// Only consider this grid, rows x columns (e.g. 3x3).
        #[arg(long, value_parser = parse_grid)]
        grid: Option<[usize; 2]>,
        /// How the int8 input is held during the patch stage.
        #[arg(long, value_enum, default_value_t = Input::Resident)]
        input: Input,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Write the chosen plan to this file.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Plot peak SRAM vs executed MACs of every candidate to this SVG file.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Calibration images for value-driven mixed precision in the patch
        /// stage (same layouts as `eval --data`); enables --clean-bits.
        #[arg(long)]
        calib: Option<PathBuf>,
        /// Only these sets (comma-separated) of a {set}_{index}_{label} folder.
        #[arg(long, requires = "calib")]
        calib_set: Option<String>,
        /// Use at most this many calibration images per set.
        #[arg(long, default_value_t = 256, requires = "calib")]
        calib_limit: usize,
        /// Width of clean tiles' feature maps: one for all maps of the stage,
        /// or a comma list with one per map (e.g. 4 or 4,4,8,2).
        #[arg(long, value_parser = mixed::parse_bits, requires = "calib")]
        clean_bits: Option<mixed::Widths>,
        /// Fraction of calibration values left outside each clean range.
        #[arg(long, default_value_t = 1e-4, requires = "calib")]
        outlier_quantile: f64,
        /// How a tile picks widths: each map on its own, or the paper's
        /// sticky branch rule.
        #[arg(long, value_enum, default_value_t = Vdpc::Map, requires = "calib")]
        vdpc: Vdpc,
        /// Per-channel clean ranges where a map feeds only (depthwise)
        /// convolutions.
        #[arg(long, requires = "calib")]
        per_channel: bool,
        /// Codes cover the MSE-optimal range inside each clean range.
        #[arg(long, requires = "calib")]
        clip: bool,
        /// Fold each low-bit map's mean quantization error into its readers'
        /// biases.
        #[arg(long, requires = "calib")]
        bias_correction: bool,
    },
    /// The main job: plan the patch schedule for an SRAM budget, calibrate,
    /// search bit widths (VDQS), evaluate layer-int8 / patch-int8 /
    /// patch-uniform-low / quantmcu side by side, and write DIR/plan.qmcu,
    /// DIR/plan.json and DIR/report.json.
    Compile {
        /// The int8 .tflite model.
        model: PathBuf,
        /// Calibration images (IDX file, class folders or {set}_{index}_{label} files).
        #[arg(long)]
        calib: PathBuf,
        /// Only these sets (comma-separated) of a {set}_{index}_{label} folder.
        #[arg(long)]
        calib_set: Option<String>,
        /// Use the first N calibration images (per set).
        #[arg(long, default_value_t = 64)]
        calib_limit: usize,
        /// Evaluation images (default: the calibration images).
        #[arg(long)]
        eval: Option<PathBuf>,
        /// Only these sets of the evaluation folder.
        #[arg(long)]
        eval_set: Option<String>,
        /// Evaluate only the first N images (per set).
        #[arg(long)]
        eval_limit: Option<usize>,
        /// Also evaluate every image flipped left to right.
        #[arg(long)]
        mirror: bool,
        /// SRAM budget: bytes, or with a unit (e.g. 64KiB).
        #[arg(long, value_parser = parse_bytes)]
        sram: usize,
        /// How the int8 input is held during the patch stage.
        #[arg(long, value_enum, default_value_t = Input::Resident)]
        input: Input,
        /// Only consider the patch stage that ends with this op index.
        #[arg(long)]
        split: Option<usize>,
        /// Only consider this grid (e.g. 3x3).
        #[arg(long, value_parser = parse_grid)]
        grid: Option<[usize; 2]>,
        /// Candidate widths of the search (8 is always one).
        #[arg(long, value_parser = mixed::parse_bits, default_value = "8,4")]
        bits: mixed::Widths,
        /// VDQS trade-off: S = (1 - lambda) Phi - lambda Omega.
        #[arg(long, default_value_t = compile::DEFAULT_LAMBDA)]
        lambda: f64,
        /// Stop the search once the estimated BitOPs reach this.
        #[arg(long)]
        target_bitops: Option<f64>,
        /// Fraction of calibration values left outside each clean range
        /// (default: the largest saving that keeps 99 % top-1 agreement on
        /// the calibration images, from a sweep).
        #[arg(long)]
        outlier_quantile: Option<f64>,
        /// VDPC rule.
        #[arg(long, value_enum, default_value_t = Vdpc::Map)]
        vdpc: Vdpc,
        /// Mixed precision in the patch stage only, or also in the
        /// layer-by-layer stage (each of its maps one tile, `map` rule).
        #[arg(long, value_enum, default_value_t = MixedScope::All)]
        mixed_scope: MixedScope,
        /// Turn off per-channel clean ranges.
        #[arg(long)]
        no_per_channel: bool,
        /// Turn off MSE-optimal clipping of the code range.
        #[arg(long)]
        no_clip: bool,
        /// Turn off bias correction of low-bit readers.
        #[arg(long)]
        no_bias_correction: bool,
        /// Score Omega relative to the mean Omega of the moves (instead of
        /// DESIGN.md's H_i(8) normalization).
        #[arg(long)]
        rescaled_omega: bool,
        /// Also search and evaluate at each of these lambdas (comma-separated).
        #[arg(long, value_delimiter = ',')]
        sweep_lambda: Vec<f64>,
        /// Evaluate the sweep's plans on the first N evaluation images only.
        #[arg(long)]
        sweep_eval_limit: Option<usize>,
        /// Also compare VDQS with an exhaustive, accuracy-evaluated search
        /// over the widths of the first N maps (timed; 0 = off).
        #[arg(long, default_value_t = 0)]
        exhaustive: usize,
        /// Output directory.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Print report.json instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild DIR/report.html from DIR/report.json (written by `compile`).
    Report {
        /// The output directory of `compile` or `demo`.
        dir: PathBuf,
    },
    /// The main job on the built-in default: the project's reference model
    /// and Fashion-MNIST (fetched on first use).
    Demo {
        /// Output directory.
        #[arg(short = 'o', long = "output", default_value = "demo")]
        output: PathBuf,
        /// Evaluate only the first N test images (default: all 10,000).
        #[arg(long)]
        eval_limit: Option<usize>,
        /// Print report.json instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Top-1/top-5 accuracy, per-class accuracy and confusion matrix of a
    /// model over a labelled data set (reference executor, parallel).
    Eval {
        /// The int8 .tflite model.
        model: PathBuf,
        /// An IDX images file (labels beside it), a folder with one subfolder
        /// per class, or a folder of {set}_{index}_{label}.png|jpg files.
        #[arg(long)]
        data: PathBuf,
        /// Evaluate only the first N images.
        #[arg(long)]
        limit: Option<usize>,
        /// Keep only this set of a {set}_{index}_{label} folder (e.g. cifar10;
        /// several comma-separated).
        #[arg(long)]
        set: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Run this plan (from `quantmcu plan -o`) and compare it with
        /// layer-by-layer int8: top-1 agreement, output SQNR, BitOPs, outlier
        /// tiles (labels are optional).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Also evaluate every image flipped left to right.
        #[arg(long)]
        mirror: bool,
    },
    /// Measure images/s of the reference executor on one thread.
    Bench {
        /// The int8 .tflite model.
        model: PathBuf,
        /// Minimum measuring time in seconds.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a compiled plan, int8 test inputs, the host runtime's outputs
    /// for them and the buffer sizes into a directory a firmware builds with.
    Export {
        /// The int8 .tflite model.
        model: PathBuf,
        /// A plan from `quantmcu plan -o` (default: the layer-by-layer int8 plan).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// The directory to write (plan.qmcu, inputs.bin, expected.bin, consts.rs, ...).
        #[arg(long)]
        firmware: PathBuf,
        /// Test images (same layouts as `eval --data`; default: seeded
        /// pseudo-random images).
        #[arg(long)]
        inputs: Option<PathBuf>,
        /// Only this set of a {set}_{index}_{label} folder.
        #[arg(long, requires = "inputs")]
        set: Option<String>,
        /// Number of test inputs.
        #[arg(long, default_value_t = export::DEFAULT_LIMIT)]
        limit: usize,
    },
    /// Run a plan on a Cortex-M4F under QEMU (firmware/, mps2-an386): checks
    /// the outputs equal the host runtime's byte for byte and reports
    /// instructions per inference, flash and RAM.
    McuRun {
        /// The int8 .tflite model.
        model: PathBuf,
        /// A plan from `quantmcu plan -o` (default: the layer-by-layer int8 plan).
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Test images (same layouts as `eval --data`; default: seeded
        /// pseudo-random images).
        #[arg(long)]
        inputs: Option<PathBuf>,
        /// Only this set of a {set}_{index}_{label} folder.
        #[arg(long, requires = "inputs")]
        set: Option<String>,
        /// Number of test inputs.
        #[arg(long, default_value_t = export::DEFAULT_LIMIT)]
        limit: usize,
        /// Seconds QEMU may run before the run fails.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Also report single kernels' instructions per MAC on DESIGN.md's
        /// CMSIS-NN anchor shapes (firmware feature kernel-bench; text only).
        #[arg(long)]
        kernels: bool,
        /// Also report instructions per plan op, from one extra inference
        /// with SysTick read around every op (firmware feature op-ticks;
        /// text only).
        #[arg(long)]
        per_op: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A reader that stopped reading our output (`quantmcu inspect M | head`)
/// ends the program quietly with the shell's SIGPIPE status, as other Unix
/// tools do, instead of a panic message: Rust ignores SIGPIPE, so `println!`
/// panics with "Broken pipe" there.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model, plan, json } => inspect::inspect(&model, plan.as_deref(), json),
        Command::Run {
            model,
            input,
            plan,
            json,
        } => run::run(&model, &input, plan.as_deref(), json),
        Command::Bench { model, seconds, json } => bench::bench(&model, seconds, json),
        Command::Export {
            model,
            plan,
            firmware,
            inputs,
            set,
            limit,
        } => export::export(
            &export::ExportArgs {
                model,
                plan,
                inputs,
                set,
                limit,
            },
            &firmware,
        ),
        Command::McuRun {
            model,
            plan,
            inputs,
            set,
            limit,
            timeout,
            kernels,
            per_op,
            json,
        } => mcu::mcu_run(
            &export::ExportArgs {
                model,
                plan,
                inputs,
                set,
                limit,
            },
            &mcu::McuOptions {
                json,
                timeout: std::time::Duration::from_secs(timeout),
                kernels,
                per_op,
            },
        ),
        Command::Eval {
            model,
            data,
            limit,
            set,
            json,
            plan,
            mirror,
        } => eval::eval(eval::EvalArgs {
            model: &model,
            data: &data,
            limit,
            set: set.as_deref(),
            json,
            plan: plan.as_deref(),
            mirror,
        }),
        Command::Report { dir } => report::rebuild(&dir),
        Command::Demo {
            output,
            eval_limit,
            json,
        } => compile::demo(&output, eval_limit, json),
        Command::Compile {
            model,
            calib,
            calib_set,
            calib_limit,
            eval,
            eval_set,
            eval_limit,
            mirror,
            sram,
            input,
            split,
            grid,
            bits,
            lambda,
            target_bitops,
            outlier_quantile,
            vdpc,
            mixed_scope,
            no_per_channel,
            no_clip,
            no_bias_correction,
            rescaled_omega,
            sweep_lambda,
            sweep_eval_limit,
            exhaustive,
            output,
            json,
        } => compile::compile(&compile::CompileArgs {
            model,
            calib,
            calib_set,
            calib_limit,
            eval,
            eval_set,
            eval_limit,
            mirror,
            sram,
            input: input.into(),
            split,
            grid,
            bits: bits.0,
            lambda,
            target_bitops,
            outlier_quantile,
            rule: vdpc.into(),
            scope: mixed_scope.into(),
            per_channel: !no_per_channel,
            clip: !no_clip,
            bias_correction: !no_bias_correction,
            rescaled_omega,
            sweep_lambda,
            sweep_eval_limit,
            exhaustive,
            output,
            json,
        }),
        Command::Plan {
            model,
            sram,
            split,
            grid,
            input,
            json,
            output,
            svg,
            calib,
            calib_set,
            calib_limit,
            clean_bits,
            outlier_quantile,
            vdpc,
            per_channel,
            clip,
            bias_correction,
        } => plan::plan(plan::PlanArgs {
            mixed: calib.map(|calib| mixed::MixedArgs {
                calib,
                calib_set,
                calib_limit,
                clean_bits: clean_bits.map_or_else(|| vec![4], |w| w.0),
                outlier_quantile,
                rule: vdpc.into(),
                per_channel,
                clip,
                bias_correction,
            }),
            model: &model,
            sram,
            split,
            grid,
            input: input.into(),
            json,
            output,
            svg,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Input accounting of a patch schedule.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Input {
    /// The whole int8 input sits in SRAM.
    Resident,
    /// Each tile reads its input window from the sensor or flash.
    Streamed,
}

impl From<Input> for quantmcu::patch::arena::InputMode {
    fn from(i: Input) -> Self {
        match i {
            Input::Resident => Self::Resident,
            Input::Streamed => Self::Streamed,
        }
    }
}

/// Where mixed precision applies.
#[derive(Clone, Copy, clap::ValueEnum)]
enum MixedScope {
    /// The patch stage only.
    Patch,
    /// The patch stage and the layer-by-layer stage.
    All,
}

impl From<MixedScope> for quantmcu::mixed::Scope {
    fn from(v: MixedScope) -> Self {
        match v {
            MixedScope::Patch => Self::Patch,
            MixedScope::All => Self::All,
        }
    }
}

/// VDPC rule of a mixed plan.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Vdpc {
    /// Each (tile, feature map) decides on its own.
    Map,
    /// From a tile's first outlier map on, 8 bits (the paper's rule).
    Branch,
}

impl From<Vdpc> for quantmcu::mixed::Rule {
    fn from(v: Vdpc) -> Self {
        match v {
            Vdpc::Map => Self::Map,
            Vdpc::Branch => Self::Branch,
        }
    }
}

/// Parses `65536`, `64KiB`, `64KB`, `64k`, `1MiB`, `1MB` (K = 1024, KB = 1000).
fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a byte count (e.g. 65536, 64KiB, 128KB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1024,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        u => return Err(format!("unknown unit '{u}' in '{s}' (use B, KiB, KB, MiB, MB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))
}

/// Parses `PxQ` (rows x columns), each in 1..=8.
fn parse_grid(s: &str) -> Result<[usize; 2], String> {
    let bad = || format!("'{s}' is not a grid like 3x3 (rows x columns, each 1..=8)");
    let (p, q) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (p, q): (usize, usize) = (
        p.trim().parse().map_err(|_| bad())?,
        q.trim().parse().map_err(|_| bad())?,
    );
    if !(1..=8).contains(&p) || !(1..=8).contains(&q) {
        return Err(bad());
    }
    Ok([p, q])
}

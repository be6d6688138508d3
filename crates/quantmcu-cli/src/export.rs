//! `quantmcu export`: writes a compiled plan, test inputs, the host runtime's
//! outputs for them and the buffer sizes into a directory a firmware builds
//! with (`firmware/`, `QUANTMCU_FIRMWARE_DIR`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use quantmcu::dataset::{Dataset, Split};
use quantmcu::export::FirmwareExport;
use quantmcu::patch::{PlanFile, PlanRunner};
use quantmcu::{input, tflite, Graph, ReferenceExecutor, TensorData};

/// Test inputs when none are given.
pub const DEFAULT_LIMIT: usize = 3;

/// What to export (`export`, `mcu-run`): a model, an optional plan file and
/// where the test inputs come from.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The int8 .tflite model.
    pub model: PathBuf,
    /// A plan from `quantmcu plan -o` (default: the layer-by-layer int8 plan).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Test images (same layouts as `eval --data`; default: seeded
    /// pseudo-random images).
    #[arg(long)]
    pub inputs: Option<PathBuf>,
    /// Only this set of a {set}_{index}_{label} folder.
    #[arg(long, requires = "inputs")]
    pub set: Option<String>,
    /// Number of test inputs (at least 1).
    #[arg(long, default_value_t = DEFAULT_LIMIT, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub limit: usize,
}

/// Options of `quantmcu export`: at least one of `--firmware` and `--c`.
#[derive(clap::Args)]
#[group(id = "dest", required = true, multiple = true, args = ["firmware", "c"])]
pub struct Args {
    #[command(flatten)]
    pub what: ExportArgs,
    /// The directory to write for the Rust firmware (plan.qmcu, inputs.bin,
    /// expected.bin, consts.rs, ...).
    #[arg(long)]
    pub firmware: Option<PathBuf>,
    /// The directory to write for C firmware (quantmcu_plan.h, quantmcu_plan.c).
    #[arg(long)]
    pub c: Option<PathBuf>,
}

/// An export and a one-line description of its schedule.
pub struct Prepared {
    pub export: FirmwareExport,
    pub schedule: String,
}

/// Encodes the plan and runs it on the host for every test input.
pub fn prepare(args: &ExportArgs) -> Result<Prepared> {
    let graph = tflite::load(&args.model)?;
    let interp = ReferenceExecutor::new(&graph)?;
    let inputs = test_inputs(&graph, args)?;
    let loaded = args.plan.as_deref().map(|p| PlanFile::load(p, &graph)).transpose()?;
    let (export, schedule) = match &loaded {
        None => {
            let runner = PlanRunner::new(&interp, None)?;
            (
                FirmwareExport::new(&graph, &runner, None, &inputs)?,
                "layer-by-layer int8".to_string(),
            )
        }
        Some(plan) => {
            let runner = PlanRunner::with_mixed(&interp, Some((&plan.tiles, plan.input)), plan.mixed.as_ref())?;
            let t = &plan.tiles;
            let mut schedule = format!(
                "patch {}x{} after op {}",
                t.grid[0],
                t.grid[1],
                t.stage.ops.last().copied().unwrap_or(0)
            );
            if let Some(m) = &plan.mixed {
                let mut bits: Vec<u32> = m.maps.iter().map(|s| s.format.bits).filter(|&b| b < 8).collect();
                let low = bits.len();
                bits.sort_unstable();
                bits.dedup();
                let bits: Vec<String> = bits.iter().map(u32::to_string).collect();
                schedule += &format!(
                    ", mixed: {low} of {} maps at {} bits in clean tiles",
                    m.maps.len(),
                    if bits.is_empty() { "8".into() } else { bits.join("/") }
                );
            } else {
                schedule += ", int8";
            }
            (FirmwareExport::new(&graph, &runner, Some(t), &inputs)?, schedule)
        }
    };
    Ok(Prepared { export, schedule })
}

/// The test inputs: the first `limit` images of a data set, or seeded
/// pseudo-random images (uniform pixels 0..255).
fn test_inputs(graph: &Graph, args: &ExportArgs) -> Result<Vec<Vec<TensorData>>> {
    if graph.inputs.len() != 1 {
        anyhow::bail!("{}: firmware export supports models with one input", graph.name);
    }
    match &args.inputs {
        Some(path) => {
            let data = Dataset::open_set(path, args.set.as_deref())?.subset(&Split::first(args.limit));
            if data.is_empty() {
                anyhow::bail!("{}: no images", path.display());
            }
            (0..data.len())
                .map(|i| Ok(vec![data.get(i)?.to_input(graph)?]))
                .collect()
        }
        None => {
            let n = graph.tensors[graph.inputs[0]].elements();
            let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
            (0..args.limit)
                .map(|_| {
                    let pixels: Vec<u8> = (0..n)
                        .map(|_| {
                            // xorshift64*
                            state ^= state >> 12;
                            state ^= state << 25;
                            state ^= state >> 27;
                            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
                        })
                        .collect();
                    Ok(vec![input::pixels_to_input(graph, &pixels).map_err(anyhow::Error::msg)?])
                })
                .collect()
        }
    }
}

/// `quantmcu export`: prepares and writes the directories.
pub fn export(a: &Args) -> Result<()> {
    let p = prepare(&a.what)?;
    let e = &p.export;
    let mut dirs = Vec::new();
    if let Some(dir) = &a.firmware {
        e.write(dir)
            .with_context(|| format!("writing the firmware export to {}", dir.display()))?;
        dirs.push(dir.display().to_string());
    }
    if let Some(dir) = &a.c {
        e.write_c(dir)
            .with_context(|| format!("writing the C export to {}", dir.display()))?;
        dirs.push(dir.display().to_string());
    }
    println!(
        "{}: {} -> {}\n  plan {} B, arena {} B, scratch {} words, input {} B, output {} B, {} test inputs, {} MACs per inference",
        e.model,
        p.schedule,
        dirs.join(", "),
        e.plan_bytes,
        e.arena_bytes,
        e.scratch_words,
        e.input_len,
        e.output_len,
        e.n_inputs,
        e.macs
    );
    let abs = |dir: &Path| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some(dir) = &a.firmware {
        println!(
            "  build: cd firmware && QUANTMCU_FIRMWARE_DIR={} cargo run --release",
            abs(dir).display()
        );
    }
    if let Some(dir) = &a.c {
        println!(
            "  C: make -C firmware/c EXPORT_DIR={} (see firmware/README.md, \"C firmware\")",
            abs(dir).display()
        );
    }
    Ok(())
}

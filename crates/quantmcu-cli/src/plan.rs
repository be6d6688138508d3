//! `quantmcu plan`: search split points and grids under an SRAM budget.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::search::{search, Candidate};
use quantmcu::patch::PlanFile;
use quantmcu::tflite;

use crate::args::ScheduleArgs;

/// Options of `quantmcu plan`.
#[derive(clap::Args)]
pub struct Args {
    /// The int8 .tflite model.
    pub model: PathBuf,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the chosen plan to this file (a patch schedule: fails when the
    /// layer-by-layer schedule is the pick).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Plot peak SRAM vs executed MACs of every candidate to this SVG file.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Mixed precision of the patch stage (with --calib: the layer-by-layer
    /// schedule then does not compete).
    #[command(flatten)]
    pub mixed: crate::mixed::MixedArgs,
}

pub fn plan(a: &Args) -> Result<()> {
    let graph = tflite::load(&a.model)?;
    let ScheduleArgs { sram, split, grid, .. } = a.schedule;
    let input: InputMode = a.schedule.input.into();
    let s = search(&graph, sram, input, split, grid);
    let splits = quantmcu::patch::split_points(&graph);
    if splits.is_empty() {
        bail!(
            "{}: no patch stage is possible: the ops after the int8 input do not run on windows of [1, H, W, C] maps \
             (conv, depthwise, pool, pad, residual add)",
            graph.name
        );
    }
    if s.candidates.is_empty() {
        bail!(
            "{}: no patch schedule matches{}{} (legal split ops: {:?})",
            graph.name,
            split.map(|s| format!(" split op {s}")).unwrap_or_default(),
            grid.map(|g| format!(" grid {}x{}", g[0], g[1])).unwrap_or_default(),
            splits.iter().map(|s| *s.ops.last().unwrap()).collect::<Vec<_>>()
        );
    }
    // With --calib the mixed plan needs a patch stage; otherwise the
    // layer-by-layer schedule competes (see `Search::layer_based`).
    let calib = a.mixed.calib.as_deref();
    let chosen = if s.layer_based && calib.is_none() {
        None
    } else if let Some(c) = s.chosen.clone() {
        Some(c)
    } else {
        let best = s.smallest.as_ref().expect("candidates exist");
        bail!(
            "{}: no schedule fits {} bytes of SRAM; the smallest peak is {} bytes (split after op {} '{}', grid {}x{}, input {}); the layer-by-layer schedule needs {} bytes",
            graph.name,
            sram,
            best.peak_sram_bytes,
            best.split_op,
            best.split,
            best.grid[0],
            best.grid[1],
            mode_name(input),
            s.layer_based_peak_sram_bytes
        );
    };
    if let Some(svg) = &a.svg {
        let point = chosen
            .as_ref()
            .map_or((s.layer_based_peak_sram_bytes, s.layer_based_macs), |c| {
                (c.peak_sram_bytes, c.macs)
            });
        crate::plot::frontier(svg, &graph.name, &s, sram, point)?;
    }
    let mixed = match (calib, &chosen) {
        (Some(calib), Some(chosen)) => {
            let interp = quantmcu::ReferenceExecutor::new(&graph)?;
            let stage = splits
                .iter()
                .find(|s| s.ops.last() == Some(&chosen.split_op))
                .expect("chosen split is legal");
            let tp = quantmcu::patch::Tiling::new(&graph, stage, chosen.grid).expect("chosen grid fits");
            Some(crate::mixed::mixed_plan(&interp, &tp, input, &a.mixed, calib, a.json)?)
        }
        _ => None,
    };
    let layer_note = format!(
        "the layer-by-layer schedule fits (peak {} B <= budget {sram} B) and no patch schedule needs fewer MACs or \
         less SRAM: run the model without --plan (--split or --grid restrict the search to patch schedules)",
        s.layer_based_peak_sram_bytes
    );
    if let (Some(path), None) = (&a.output, &chosen) {
        bail!("{}: nothing written to {}: {layer_note}", graph.name, path.display());
    }
    if let (Some(path), Some(chosen)) = (&a.output, &chosen) {
        let mut file = PlanFile::new(&graph, chosen.split_op, chosen.grid, input);
        file.mixed = mixed.as_ref().map(|m| m.plan.clone());
        std::fs::write(path, serde_json::to_string_pretty(&file)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        let brief = |c: &Candidate| {
            serde_json::json!({"split": c.split, "split_op": c.split_op, "grid": c.grid, "peak_sram_bytes": c.peak_sram_bytes,
                "macs": c.macs, "overhead_percent": c.overhead_percent, "memory": c.memory})
        };
        let layer = quantmcu::memory::plan_layer_based(&graph);
        let chosen_json = match &chosen {
            Some(c) => {
                let mut j = brief(c);
                j["schedule"] = "patch".into();
                j["live_bytes_per_op"] = serde_json::json!(c.memory.live_bytes_per_op);
                j
            }
            None => serde_json::json!({"schedule": "layer-by-layer", "peak_sram_bytes": s.layer_based_peak_sram_bytes,
                "macs": s.layer_based_macs, "overhead_percent": 0.0, "live_bytes_per_op": layer.live_bytes_per_op}),
        };
        let json = serde_json::json!({
            "chosen": chosen_json,
            "layer_based": {"peak_sram_bytes": s.layer_based_peak_sram_bytes, "macs": s.layer_based_macs,
                "live_bytes_per_op": layer.live_bytes_per_op},
            "input": mode_name(input),
            "candidates": s.candidates.iter().map(brief).collect::<Vec<_>>(),
            "mixed": mixed,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "{}: layer-by-layer peak SRAM {} B, {} MACs; input {}; budget {} B",
        graph.name,
        s.layer_based_peak_sram_bytes,
        s.layer_based_macs,
        mode_name(input),
        sram
    );
    println!(
        "{:>8} {:<28} {:>5} {:>10} {:>12} {:>9}",
        "split op", "split tensor", "grid", "peak B", "MACs", "overhead"
    );
    // The best candidate per (split, grid side) frontier is long; show those that fit plus the frontier.
    let mut shown: Vec<&Candidate> = s.candidates.iter().filter(|c| c.grid[0] == c.grid[1]).collect();
    shown.sort_by_key(|c| (c.split_op, c.grid));
    for c in shown {
        let mark = if chosen
            .as_ref()
            .is_some_and(|x| c.split_op == x.split_op && c.grid == x.grid)
        {
            " <- chosen"
        } else {
            ""
        };
        println!(
            "{:>8} {:<28} {:>5} {:>10} {:>12} {:>8.1}%{}",
            c.split_op,
            truncate(&c.split, 28),
            format!("{}x{}", c.grid[0], c.grid[1]),
            c.peak_sram_bytes,
            c.macs,
            c.overhead_percent,
            mark
        );
    }
    println!("smallest peak SRAM per square grid (any split):");
    for g in 2..=quantmcu::patch::search::MAX_GRID.min(4) {
        let best = s
            .candidates
            .iter()
            .filter(|c| c.grid == [g, g])
            .min_by_key(|c| (c.peak_sram_bytes, c.macs));
        if let Some(c) = best {
            println!(
                "  {g}x{g}: split after op {:>3}: peak {:>7} B ({:.2}x below layer-by-layer), {:>10} MACs (+{:.1}%)",
                c.split_op,
                c.peak_sram_bytes,
                s.layer_based_peak_sram_bytes as f64 / c.peak_sram_bytes as f64,
                c.macs,
                c.overhead_percent
            );
        }
    }
    let Some(chosen) = chosen else {
        println!(
            "chosen: layer by layer, peak SRAM {} B, {} MACs; {layer_note}",
            s.layer_based_peak_sram_bytes, s.layer_based_macs
        );
        return Ok(());
    };
    println!(
        "chosen: split after op {} ('{}'), grid {}x{}: peak SRAM {} B ({:.2}x below layer-by-layer), {} MACs (+{:.1}%)",
        chosen.split_op,
        chosen.split,
        chosen.grid[0],
        chosen.grid[1],
        chosen.peak_sram_bytes,
        s.layer_based_peak_sram_bytes as f64 / chosen.peak_sram_bytes as f64,
        chosen.macs,
        chosen.overhead_percent
    );
    if let Some(m) = &mixed {
        crate::mixed::print(m);
    }
    Ok(())
}

fn mode_name(m: InputMode) -> &'static str {
    match m {
        InputMode::Resident => "resident",
        InputMode::Streamed => "streamed",
    }
}

/// `s` cut to its last `n - 1` characters behind an ellipsis when longer than `n`.
pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

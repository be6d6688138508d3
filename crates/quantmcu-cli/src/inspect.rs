//! `quantmcu inspect`: per-op table, totals and the layer-by-layer memory chart.

use std::path::PathBuf;

use anyhow::Result;
use quantmcu::patch::arena::{patch_memory, InputMode};
use quantmcu::patch::{PlanFile, Tiling};
use quantmcu::{ir::Graph, memory, tflite};
use serde::Serialize;

#[derive(Serialize)]
struct OpRow {
    index: usize,
    kind: &'static str,
    inputs: Vec<Vec<usize>>,
    output: Vec<usize>,
    macs: u64,
    params: u64,
    /// Bytes of the op's non-constant, non-float inputs and output.
    activation_bytes: usize,
    /// Bytes of every arena buffer alive while the op runs.
    live_bytes: usize,
    /// The same under the patch plan given with `--plan`.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan_live_bytes: Option<usize>,
}

/// The patch schedule given with `--plan`.
#[derive(Serialize)]
struct PlanReport {
    split_op: usize,
    grid: [usize; 2],
    input: quantmcu::patch::arena::InputMode,
    peak_sram_bytes: usize,
    macs: u64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    ops: Vec<OpRow>,
    macs: u64,
    params: u64,
    peak_sram_bytes: usize,
    input_bytes: usize,
    accounting: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<PlanReport>,
}

const ACCOUNTING: &str = "layer-by-layer arena from the int8 input on (resident); float I/O buffers not counted";

fn report(graph: &Graph, patch: Option<(&Tiling, InputMode)>) -> Report {
    let patch_memory = patch.map(|(p, mode)| patch_memory(graph, p, mode));
    let plan = memory::plan_layer_based(graph);
    let counted = |t: usize| {
        let t = &graph.tensors[t];
        !t.is_constant() && t.dtype != quantmcu::ir::DType::F32
    };
    let ops = graph
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| OpRow {
            index: i,
            kind: op.kind.name(),
            inputs: graph
                .activation_inputs(op)
                .into_iter()
                .map(|t| graph.tensors[t].shape.clone())
                .collect(),
            output: graph.tensors[op.output()].shape.clone(),
            macs: graph.op_macs(i),
            params: graph.op_params(i),
            activation_bytes: op
                .inputs
                .iter()
                .flatten()
                .chain(&op.outputs)
                .filter(|&&t| counted(t))
                .map(|&t| graph.tensors[t].bytes())
                .sum(),
            live_bytes: plan.live_bytes_per_op[i],
            plan_live_bytes: patch_memory.as_ref().map(|m| m.live_bytes_per_op[i]),
        })
        .collect();
    Report {
        model: graph.name.clone(),
        ops,
        macs: graph.macs(),
        params: graph.params(),
        peak_sram_bytes: plan.arena_bytes,
        input_bytes: plan.input_bytes,
        accounting: ACCOUNTING,
        plan: patch.zip(patch_memory.as_ref()).map(|((p, mode), m)| PlanReport {
            split_op: *p.stage.ops.last().expect("stage ops"),
            grid: p.grid,
            input: mode,
            peak_sram_bytes: m.peak_bytes,
            macs: graph.macs() - p.stage.ops.iter().map(|&i| graph.op_macs(i)).sum::<u64>() + p.macs(graph),
        }),
    }
}

/// Options of `quantmcu inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The int8 .tflite model.
    pub model: PathBuf,
    /// Also show per-op SRAM under this patch plan (from `quantmcu plan -o`).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn inspect(a: &Args) -> Result<()> {
    let (model, plan, json) = (&a.model, a.plan.as_deref(), a.json);
    let graph = tflite::load(model)?;
    let patch = plan.map(|p| PlanFile::load(p, &graph)).transpose()?;
    let r = report(&graph, patch.as_ref().map(|p| (&p.tiles, p.input)));
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{}: {} ops, {} MACs, {} parameters",
        r.model,
        r.ops.len(),
        r.macs,
        r.params
    );
    println!(
        "{:>3}  {:<18} {:<26} {:<16} {:>10} {:>8} {:>9} {:>9}",
        "#", "op", "input", "output", "MACs", "params", "act B", "live B"
    );
    for o in &r.ops {
        let shapes = |s: &[Vec<usize>]| s.iter().map(|d| shape(d)).collect::<Vec<_>>().join(" ");
        println!(
            "{:>3}  {:<18} {:<26} {:<16} {:>10} {:>8} {:>9} {:>9}",
            o.index,
            o.kind,
            shapes(&o.inputs),
            shape(&o.output),
            o.macs,
            o.params,
            o.activation_bytes,
            o.live_bytes
        );
    }
    println!();
    println!("live SRAM per op (layer by layer; {ACCOUNTING}):");
    let max = r.ops.iter().map(|o| o.live_bytes).max().unwrap_or(1).max(1);
    for o in &r.ops {
        let width = (o.live_bytes * 50).div_ceil(max);
        println!(
            "{:>3} {:<18} {:>8.1} KB |{}",
            o.index,
            o.kind,
            o.live_bytes as f64 / 1000.0,
            "█".repeat(width)
        );
    }
    println!();
    println!(
        "peak SRAM (arena): {} bytes ({:.1} KB), of which int8 input {} bytes",
        r.peak_sram_bytes,
        r.peak_sram_bytes as f64 / 1000.0,
        r.input_bytes
    );
    if let Some(p) = &r.plan {
        println!();
        println!(
            "live SRAM per op under the plan (split after op {}, grid {}x{}, input {:?}; same scale):",
            p.split_op, p.grid[0], p.grid[1], p.input
        );
        for o in &r.ops {
            let live = o.plan_live_bytes.unwrap_or(0);
            let width = (live * 50).div_ceil(max);
            println!(
                "{:>3} {:<18} {:>8.1} KB |{}",
                o.index,
                o.kind,
                live as f64 / 1000.0,
                "█".repeat(width)
            );
        }
        println!();
        println!("plan peak SRAM (arena): {} bytes, {} MACs", p.peak_sram_bytes, p.macs);
    }
    Ok(())
}

/// `32x32x16` style shape text (batch dimension of 1 dropped).
pub fn shape(s: &[usize]) -> String {
    let s = if s.len() > 1 && s[0] == 1 { &s[1..] } else { s };
    s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

//! `quantmcu run`: one inference with the reference executor.

use std::path::PathBuf;

use anyhow::Result;
use quantmcu::patch::{PlanFile, PlanRunner};
use quantmcu::{input, tflite, ReferenceExecutor, TensorData};
use serde::Serialize;

#[derive(Serialize)]
struct Output {
    name: String,
    shape: Vec<usize>,
    dtype: &'static str,
    /// Raw values in the tensor's own type (int8 codes stay codes).
    data: serde_json::Value,
}

/// Options of `quantmcu run`.
#[derive(clap::Args)]
pub struct Args {
    /// The int8 .tflite model.
    pub model: PathBuf,
    /// A PNG/JPEG image (converted to the model's input spec) or a .npy
    /// tensor of the input's exact dtype and shape.
    pub input: PathBuf,
    /// Run this patch plan (from `quantmcu plan -o`) instead of layer by layer.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Print all outputs as JSON instead of the top-5 classes.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args) -> Result<()> {
    let (model, input_path, plan, json) = (&a.model, &a.input, a.plan.as_deref(), a.json);
    let graph = tflite::load(model)?;
    let interp = ReferenceExecutor::new(&graph)?;
    let x = input::load(&graph, input_path)?;
    let outputs = match plan {
        None => interp.run(&[x])?,
        Some(p) => {
            let plan = PlanFile::load(p, &graph)?;
            let runner = PlanRunner::with_mixed(&interp, Some((&plan.tiles, plan.input)), plan.mixed.as_ref())?;
            let run = runner.run_stats(&[x])?;
            if plan.mixed.is_some() && !json {
                let b = &run.bitops;
                println!(
                    "mixed precision: {} of {} (tile, map) pairs and {} of {} tiles stored outliers at 8 bits; \
                     BitOPs {} (patch stage {})",
                    b.outlier_maps, b.low_maps, b.outlier_tiles, b.tiles, b.total, b.patch_stage
                );
            }
            let mut values = run.values;
            graph
                .outputs
                .iter()
                .map(|&t| values[t].take().expect("outputs are computed"))
                .collect()
        }
    };
    if json {
        let outputs: Vec<Output> = graph
            .outputs
            .iter()
            .zip(&outputs)
            .map(|(&t, v)| Output {
                name: graph.tensors[t].name.clone(),
                shape: graph.tensors[t].shape.clone(),
                dtype: v.dtype().name(),
                data: raw_json(v),
            })
            .collect();
        println!("{}", serde_json::json!({ "outputs": outputs }));
        return Ok(());
    }
    for (&t, v) in graph.outputs.iter().zip(&outputs) {
        let tensor = &graph.tensors[t];
        let (scale, zp) = tensor
            .quant
            .as_ref()
            .map_or((1.0, 0), |q| (q.scale[0], q.zero_point[0]));
        let real: Vec<f64> = match v {
            TensorData::F32(_) => v.to_f64(),
            _ => v
                .to_f64()
                .iter()
                .map(|&q| f64::from(scale) * (q - f64::from(zp)))
                .collect(),
        };
        let mut order: Vec<usize> = (0..real.len()).collect();
        order.sort_by(|&a, &b| real[b].total_cmp(&real[a]).then(a.cmp(&b)));
        println!(
            "output '{}' {:?} ({}): top-5",
            tensor.name,
            tensor.shape,
            v.dtype().name()
        );
        for &c in order.iter().take(5) {
            println!("  class {c:>4}  {:.4}", real[c]);
        }
    }
    Ok(())
}

fn raw_json(v: &TensorData) -> serde_json::Value {
    match v {
        TensorData::F32(d) => serde_json::json!(d),
        TensorData::I8(d) => serde_json::json!(d),
        TensorData::U8(d) => serde_json::json!(d),
        TensorData::I32(d) => serde_json::json!(d),
        TensorData::I64(d) => serde_json::json!(d),
    }
}

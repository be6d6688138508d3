//! `quantmcu bench`: single-thread throughput of the reference executor and of
//! the runtime (the layer-by-layer plan through `quantmcu-rt`'s kernels).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use quantmcu::patch::PlanRunner;
use quantmcu::{input, tflite, ReferenceExecutor, TensorData};

/// Inferences per second of `f` over at least `seconds` (after one warm-up).
fn rate(seconds: f64, mut f: impl FnMut() -> Result<()>) -> Result<(u64, f64)> {
    f()?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        f()?;
        n += 1;
    }
    Ok((n, n as f64 / start.elapsed().as_secs_f64()))
}

/// Options of `quantmcu bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The int8 .tflite model.
    pub model: PathBuf,
    /// Minimum measuring time per executor in seconds (a finite number
    /// above 0).
    #[arg(long, default_value_t = 2.0, value_parser = crate::args::parse_positive, allow_negative_numbers = true)]
    pub seconds: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn bench(a: &Args) -> Result<()> {
    let (model, seconds, json) = (&a.model, a.seconds, a.json);
    let graph = tflite::load(model)?;
    let interp = ReferenceExecutor::new(&graph)?;
    let t = &graph.tensors[graph.inputs[0]];
    // A fixed pseudo-random image (the executors' speed does not depend on values).
    let mut state = 0x2545_f491_u32;
    let pixels: Vec<u8> = (0..t.elements())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    let x: TensorData = input::pixels_to_input(&graph, &pixels).map_err(anyhow::Error::msg)?;
    let inputs = std::slice::from_ref(&x);
    let (n, reference) = rate(seconds, || interp.run(inputs).map(|_| ()).map_err(Into::into))?;
    let runner = PlanRunner::new(&interp, None)?;
    let (m, runtime) = rate(seconds, || runner.run_all(inputs).map(|_| ()).map_err(Into::into))?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "model": graph.name, "images": n, "images_per_second": reference,
                "runtime_images": m, "runtime_images_per_second": runtime, "threads": 1 })
        );
    } else {
        println!(
            "{}: reference executor {reference:.1} images/s ({n} runs), 1 thread",
            graph.name
        );
        println!(
            "{}: runtime (layer-by-layer plan) {runtime:.1} images/s ({m} runs), 1 thread",
            graph.name
        );
    }
    Ok(())
}

//! `quantmcu bench`: single-thread throughput of the reference executor.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use quantmcu::{input, tflite, Interpreter};

pub fn bench(model: &Path, seconds: f64, json: bool) -> Result<()> {
    let graph = tflite::load(model)?;
    let interp = Interpreter::new(&graph)?;
    let t = &graph.tensors[graph.inputs[0]];
    // A fixed pseudo-random image (the executor's speed does not depend on values).
    let mut state = 0x2545_f491_u32;
    let pixels: Vec<u8> = (0..t.elements())
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    let x = input::pixels_to_input(&graph, &pixels).map_err(anyhow::Error::msg)?;
    interp.run(std::slice::from_ref(&x))?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        interp.run(std::slice::from_ref(&x))?;
        n += 1;
    }
    let ips = n as f64 / start.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({ "model": graph.name, "images": n, "images_per_second": ips, "threads": 1 })
        );
    } else {
        println!(
            "{}: {n} inferences, {ips:.1} images/s (reference executor, 1 thread)",
            graph.name
        );
    }
    Ok(())
}

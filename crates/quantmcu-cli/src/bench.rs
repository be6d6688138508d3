//! `quantmcu bench`: single-thread throughput of the reference executor and of
//! the runtime (the layer-by-layer plan through `quantmcu-rt`'s kernels),
//! next to LiteRT (XNNPACK, one thread) and tflite-micro when a Python with
//! their packages is at hand (`tools/bench/bench_interpreters.py --model`,
//! carried by the binary).

use std::path::{Path, PathBuf};
use std::process::Command;
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
    /// The Python that runs LiteRT (`ai-edge-litert`) and tflite-micro
    /// (`tflite-micro`) on the same model.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Time only the reference executor and the runtime (no Python).
    #[arg(long)]
    pub no_interpreters: bool,
}

/// The interpreter benchmark, run with `--model` for LiteRT and tflite-micro.
const SCRIPT: &str = include_str!("../../../tools/bench/bench_interpreters.py");

/// One timed executor: its name, runs and images per second.
struct Row {
    name: String,
    runs: u64,
    rate: f64,
}

/// What the Python side measured: timed interpreters, and for each one it
/// could not run a sentence saying why and how to install it.
struct Interpreters {
    rows: Vec<Row>,
    missing: Vec<String>,
}

/// LiteRT and tflite-micro on `model` through `python` for `seconds` each.
/// A Python that does not start, or fails, counts as missing both.
fn interpreters(python: &Path, model: &Path, seconds: f64) -> Interpreters {
    let py = python.display();
    let install = format!("`{py} -m pip install ai-edge-litert tflite-micro`, or pass --python PATH");
    let both = |why: String| Interpreters {
        rows: Vec::new(),
        missing: vec![format!(
            "LiteRT and tflite-micro not measured: {why} (install them with {install})"
        )],
    };
    let script = std::env::temp_dir().join(format!("quantmcu-bench-{}.py", std::process::id()));
    if let Err(e) = std::fs::write(&script, SCRIPT) {
        return both(format!("cannot write {}: {e}", script.display()));
    }
    let out = Command::new(python)
        .arg(&script)
        .arg("--model")
        .arg(model)
        .args(["--min-seconds", &seconds.to_string()])
        .output();
    let _ = std::fs::remove_file(&script);
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let last = err.lines().last().unwrap_or("no message");
            return both(format!("`{py}` failed ({last})"));
        }
        Err(e) => return both(format!("cannot run `{py}` ({e})")),
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return both(format!("`{py}` printed no benchmark JSON"));
    };
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("?").to_string();
    let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
    let rows = list("results")
        .iter()
        .map(|r| Row {
            name: text(r, "runtime"),
            runs: r["images"].as_u64().unwrap_or(0),
            rate: r["images_per_s"].as_f64().unwrap_or(0.0),
        })
        .collect();
    let missing = list("missing")
        .iter()
        .map(|m| {
            format!(
                "{} not measured: `{py}` cannot import {} (install it with `{py} -m pip install {}`, or pass --python PATH)",
                text(m, "runtime"),
                text(m, "module"),
                text(m, "package")
            )
        })
        .collect();
    Interpreters { rows, missing }
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
    let others = if a.no_interpreters {
        Interpreters {
            rows: Vec::new(),
            missing: Vec::new(),
        }
    } else {
        interpreters(&a.python, model, seconds)
    };
    let xnnpack = others.rows.iter().find(|r| r.name.contains("XNNPACK")).map(|r| r.rate);
    if json {
        let rows: Vec<_> = others
            .rows
            .iter()
            .map(|r| serde_json::json!({ "runtime": r.name, "images": r.runs, "images_per_second": r.rate }))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "model": graph.name, "images": n, "images_per_second": reference,
                "runtime_images": m, "runtime_images_per_second": runtime, "threads": 1,
                "interpreters": rows, "missing": others.missing })
        );
        return Ok(());
    }
    let mut rows = vec![
        Row {
            name: "reference executor".into(),
            runs: n,
            rate: reference,
        },
        Row {
            name: "runtime (layer-by-layer plan)".into(),
            runs: m,
            rate: runtime,
        },
    ];
    rows.extend(others.rows);
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &rows {
        println!(
            "{}: {:<width$} {:>8.1} images/s ({} runs), 1 thread",
            graph.name, r.name, r.rate, r.runs
        );
    }
    if let Some(x) = xnnpack {
        println!("{}: runtime / LiteRT-XNNPACK = {:.2}", graph.name, runtime / x);
    }
    for line in &others.missing {
        println!("{}: {line}", graph.name);
    }
    Ok(())
}

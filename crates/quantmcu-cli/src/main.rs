//! `quantmcu`: inspect, run and benchmark int8 `.tflite` models for
//! microcontrollers.

mod args;
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

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "quantmcu",
    version,
    about = "Make int8 CNNs fit and run fast on microcontrollers",
    after_help = "Assets (public models, images, Fashion-MNIST) are fetched on first use into \
                  $QUANTMCU_ASSETS, or else ${XDG_CACHE_HOME:-$HOME/.cache}/quantmcu."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per-op shapes, MACs, parameters and layer-by-layer SRAM of a model.
    Inspect(inspect::Args),
    /// Run a model on one input (PNG/JPEG image or .npy tensor) with the
    /// bit-exact int8 reference executor.
    Run(run::Args),
    /// Search patch-based schedules (split point x grid, and the
    /// layer-by-layer schedule) that fit an SRAM budget; print the candidates
    /// and write the plan with the fewest MACs.
    Plan(plan::Args),
    /// The main job: plan the patch schedule for an SRAM budget, calibrate,
    /// search bit widths (VDQS), evaluate layer-int8 / patch-int8 /
    /// patch-uniform-low / quantmcu side by side, and write DIR/plan.qmcu,
    /// DIR/plan.json and DIR/report.json.
    Compile(compile::Args),
    /// Rebuild DIR/report.html from DIR/report.json (written by `compile`).
    Report(report::Args),
    /// The main job on the built-in default: the project's reference model
    /// (carried in this binary) and Fashion-MNIST (fetched on first use).
    Demo(compile::DemoArgs),
    /// Top-1/top-5 accuracy, per-class accuracy and confusion matrix of a
    /// model over a labelled data set (reference executor, parallel).
    Eval(eval::Args),
    /// Measure images/s of the reference executor on one thread.
    Bench(bench::Args),
    /// Write a compiled plan, int8 test inputs, the host runtime's outputs
    /// for them and the buffer sizes into a directory a firmware builds with.
    Export(export::Args),
    /// Run a plan on a Cortex-M4F under QEMU (mps2-an386; the firmware's
    /// sources are carried in this binary): checks the outputs equal the
    /// host runtime's byte for byte and reports instructions per inference,
    /// flash and RAM.
    McuRun(mcu::Args),
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
    let result = match Cli::parse().command {
        Command::Inspect(a) => inspect::inspect(&a),
        Command::Run(a) => run::run(&a),
        Command::Plan(a) => plan::plan(&a),
        Command::Compile(a) => compile::compile(&a),
        Command::Report(a) => report::rebuild(&a.dir),
        Command::Demo(a) => compile::demo(&a),
        Command::Eval(a) => eval::eval(&a),
        Command::Bench(a) => bench::bench(&a),
        Command::Export(a) => export::export(&a),
        Command::McuRun(a) => mcu::mcu_run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by ": ", leaving out a cause whose text
/// the message before it already ends with (an error that prints its source
/// itself).
fn chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::chain;

    #[test]
    fn a_cause_printed_by_its_error_appears_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let lib = quantmcu::Error::Io {
            path: "m.tflite".into(),
            source: io,
        };
        let e = anyhow::Error::new(lib).context("loading the model");
        let text = chain(&e);
        assert_eq!(text.matches("not found").count(), 1, "{text}");
        assert!(text.starts_with("loading the model: cannot read m.tflite: "), "{text}");
    }
}

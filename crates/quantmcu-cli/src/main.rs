//! `quantmcu`: inspect, run and benchmark int8 `.tflite` models for
//! microcontrollers.

mod bench;
mod inspect;
mod run;

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
        /// Print all outputs as JSON instead of the top-5 classes.
        #[arg(long)]
        json: bool,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model, json } => inspect::inspect(&model, json),
        Command::Run { model, input, json } => run::run(&model, &input, json),
        Command::Bench { model, seconds, json } => bench::bench(&model, seconds, json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

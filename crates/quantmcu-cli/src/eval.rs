//! `quantmcu eval`: accuracy of a model over a labelled data set with the
//! reference executor, in parallel over images.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantmcu::dataset::{self, Dataset, Evaluation, Split};
use quantmcu::{tflite, ReferenceExecutor};
use serde::Serialize;

/// Largest class count whose confusion matrix is printed as a table.
const MAX_TABLE_CLASSES: usize = 20;

/// Options of `quantmcu eval`.
#[derive(clap::Args)]
pub struct Args {
    /// The int8 .tflite model.
    pub model: PathBuf,
    /// An IDX images file (labels beside it), a folder with one subfolder
    /// per class, or a folder of {set}_{index}_{label}.png|jpg files (all of
    /// its sets unless --set chooses).
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluate only the first N images (in the folder's set order; with
    /// --plan, --mirror or several --set names, the first N of each set).
    #[arg(long, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub limit: Option<usize>,
    /// Keep only this set of a {set}_{index}_{label} folder (e.g. cifar10;
    /// several comma-separated).
    #[arg(long)]
    pub set: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Run this plan (from `quantmcu plan -o`) and compare it with
    /// layer-by-layer int8: top-1 agreement, output SQNR, BitOPs, outlier
    /// tiles (labels are optional).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Also evaluate every image flipped left to right.
    #[arg(long)]
    pub mirror: bool,
}

#[derive(Serialize)]
struct ClassJson {
    class: usize,
    name: Option<String>,
    images: usize,
    top1: f64,
}

pub fn eval(args: &Args) -> Result<()> {
    if args.plan.is_some() || args.mirror || args.set.as_ref().is_some_and(|s| s.contains(',')) {
        return eval_plan(args);
    }
    let graph = tflite::load(&args.model)?;
    let interp = ReferenceExecutor::new(&graph)?;
    let mut data = Dataset::open_set(&args.data, args.set.as_deref())?;
    if let Some(n) = args.limit {
        data = data.subset(&Split::first(n));
    }
    let bar = if args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(data.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} images, {per_sec}, eta {eta}").expect("valid template"),
        );
        bar
    };
    let result = dataset::evaluate(&graph, &data, |x| interp.run(x), &|| bar.inc(1));
    bar.finish_and_clear();
    let ev = result?;
    let text = if args.json {
        json_text(&ev)
    } else {
        table_text(&graph.name, &data, &ev)?
    };
    // A closed pipe (e.g. `| head`) is not an error of the evaluation.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn json_text(ev: &Evaluation) -> String {
    let per_class: Vec<ClassJson> = ev
        .per_class()
        .into_iter()
        .map(|c| ClassJson {
            class: c.class,
            name: c.name,
            images: c.images,
            top1: c.top1,
        })
        .collect();
    let doc = serde_json::json!({
        "top1": ev.top1(),
        "top5": ev.top5(),
        "images": ev.images,
        "per_class": per_class,
        "confusion": ev.confusion,
        "images_per_second": ev.images_per_second(),
        "threads": ev.threads,
    });
    format!("{doc}\n")
}

fn table_text(model: &str, data: &Dataset, ev: &Evaluation) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    let set = match data.sets() {
        [] => String::new(),
        [one] => format!(", set {one}"),
        several => format!(", sets {}", several.join(", ")),
    };
    writeln!(
        out,
        "{model}: {} images from {} ({}{set})",
        ev.images,
        data.path().display(),
        data.kind().name()
    )?;
    writeln!(
        out,
        "top-1 {:.2} % ({}/{})   top-5 {:.2} % ({}/{})",
        100.0 * ev.top1(),
        ev.top1_correct,
        ev.images,
        100.0 * ev.top5(),
        ev.top5_correct,
        ev.images
    )?;
    writeln!(out)?;
    writeln!(out, "class  name                  images  correct   top-1")?;
    for c in ev.per_class() {
        let name = c.name.unwrap_or_default();
        if c.images == 0 {
            writeln!(out, "{:>5}  {name:<20} {:>7} {:>8}       -", c.class, 0, 0)?;
        } else {
            writeln!(
                out,
                "{:>5}  {name:<20} {:>7} {:>8} {:>6.1} %",
                c.class,
                c.images,
                c.correct,
                100.0 * c.top1
            )?;
        }
    }
    writeln!(out)?;
    if ev.classes <= MAX_TABLE_CLASSES {
        let width = ev
            .confusion
            .iter()
            .flatten()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(ev.classes.saturating_sub(1).to_string().len())
            .max(2);
        writeln!(out, "confusion matrix (rows: label, columns: predicted class)")?;
        let header: String = (0..ev.classes).map(|c| format!(" {c:>width$}")).collect();
        writeln!(out, "{:>5} {header}", "")?;
        for (label, row) in ev.confusion.iter().enumerate() {
            let cells: String = row
                .iter()
                .enumerate()
                .map(|(p, &n)| {
                    if n == 0 && p != label {
                        format!(" {:>width$}", ".")
                    } else {
                        format!(" {n:>width$}")
                    }
                })
                .collect();
            writeln!(out, "{label:>5} {cells}")?;
        }
    } else {
        writeln!(
            out,
            "confusion matrix: {} x {} classes, printed with --json",
            ev.classes, ev.classes
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:.1} images/s ({} threads, reference executor; decoding and preprocessing included)",
        ev.images_per_second(),
        ev.threads
    )?;
    Ok(out)
}

/// A plan (or the layer-by-layer schedule) against layer-int8: agreement,
/// SQNR, accuracy where labels fit, BitOPs, outlier shares.
fn eval_plan(args: &Args) -> Result<()> {
    use quantmcu::compare::compare;
    use quantmcu::patch::{PlanFile, PlanRunner};

    let graph = tflite::load(&args.model)?;
    let interp = ReferenceExecutor::new(&graph)?;
    let samples = crate::samples::load(
        &graph,
        &crate::samples::Source {
            data: &args.data,
            sets: args.set.as_deref(),
            limit: args.limit,
            mirror: args.mirror,
        },
    )?;
    let loaded = args.plan.as_deref().map(|p| PlanFile::load(p, &graph)).transpose()?;
    let runner = match &loaded {
        Some(p) => PlanRunner::with_mixed(&interp, Some((&p.tiles, p.input)), p.mixed.as_ref())?,
        None => PlanRunner::new(&interp, None)?,
    };
    let bar = crate::samples::progress(samples.len(), "evaluating", args.json);
    let c = compare(&interp, &runner, &samples, &|| bar.inc(1))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    let what = args
        .plan
        .as_deref()
        .map_or("layer-by-layer".to_string(), |p| p.display().to_string());
    println!(
        "{}: {what} on {} images of {}",
        graph.name,
        c.images,
        args.data.display()
    );
    println!(
        "top-1 agreement with layer-int8 {:.2} %, output SQNR {:.2} dB",
        100.0 * c.agreement,
        c.sqnr_db
    );
    if let (Some(a), Some(r)) = (c.accuracy, c.reference_accuracy) {
        println!("top-1 accuracy {:.2} % (layer-int8 {:.2} %)", 100.0 * a, 100.0 * r);
    }
    println!(
        "BitOPs per inference {:.4e} (patch stage {:.4e}); outlier tiles {:.1} %, outlier (tile, map) pairs {:.1} %",
        c.bitops,
        c.bitops_patch_stage,
        100.0 * c.outlier_tile_share,
        100.0 * c.outlier_map_share
    );
    Ok(())
}

//! Inputs for calibration and comparisons: images of a data set (of a
//! `{set}_{index}_{label}` folder the sets named, comma-separated, or else
//! all of its sets; and their mirror images) converted to the model's input,
//! and the progress bar long loops show.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantmcu::compare::Sample;
use quantmcu::dataset::{Dataset, Split};
use quantmcu::Graph;

/// Which images to read.
pub struct Source<'a> {
    pub data: &'a Path,
    /// Comma-separated set names of a foolbox-style folder (`None`: all its
    /// sets).
    pub sets: Option<&'a str>,
    /// At most this many images per set (the first ones).
    pub limit: Option<usize>,
    /// Also add every image flipped left to right.
    pub mirror: bool,
}

/// The samples of `src` for `graph`.
pub fn load(graph: &Graph, src: &Source) -> Result<Vec<Sample>> {
    let sets: Vec<Option<String>> = match src.sets {
        Some(s) => s.split(',').map(|x| Some(x.trim().to_string())).collect(),
        None => match Dataset::open(src.data)?.sets() {
            several @ [_, _, ..] => several.iter().cloned().map(Some).collect(),
            _ => vec![None],
        },
    };
    let mut out = Vec::new();
    for set in sets {
        let mut data = Dataset::open_set(src.data, set.as_deref())?;
        if let Some(n) = src.limit {
            data = data.subset(&Split::first(n));
        }
        for i in 0..data.len() {
            let image = data.get(i)?;
            let mut images = vec![image.clone()];
            if src.mirror {
                images.push(image.mirrored());
            }
            for im in images {
                out.push(Sample {
                    inputs: vec![im.to_input(graph)?],
                    label: Some(im.label),
                });
            }
        }
    }
    if out.is_empty() {
        anyhow::bail!("{}: no images", src.data.display());
    }
    Ok(out)
}

/// A progress bar on stderr (hidden when stderr is not a terminal or `hide`).
pub fn progress(len: usize, what: &str, hide: bool) -> ProgressBar {
    if hide || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    let template = format!("{what} {{bar:40}} {{pos}}/{{len}}, {{per_sec}}, eta {{eta}}");
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}

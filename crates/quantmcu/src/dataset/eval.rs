//! Accuracy of a classifier over a [`Dataset`], evaluated in parallel.

use std::time::Instant;

use rayon::prelude::*;

use super::Dataset;
use crate::ir::Graph;
use crate::tensor::TensorData;
use crate::{Error, Result};

/// How many classes top-k accuracy counts ([`Evaluation::top5`]).
const TOP_K: usize = 5;

/// Results of [`evaluate`].
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Number of classes (elements of the model's first output).
    pub classes: usize,
    /// Class names when the data set records them.
    pub class_names: Option<Vec<String>>,
    /// Images evaluated.
    pub images: usize,
    /// Images whose label is the predicted class.
    pub top1_correct: usize,
    /// Images whose label is among the 5 highest scores.
    pub top5_correct: usize,
    /// `confusion[label][predicted]` image counts, `classes x classes`.
    pub confusion: Vec<Vec<usize>>,
    /// Wall-clock time of the whole evaluation (decoding, preprocessing and
    /// inference of every image).
    pub seconds: f64,
    /// Worker threads used.
    pub threads: usize,
}

/// Accuracy on the images of one class.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassResult {
    pub class: usize,
    pub name: Option<String>,
    pub images: usize,
    pub correct: usize,
    /// `correct / images`, 0 for a class without images.
    pub top1: f64,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

impl Evaluation {
    /// Top-1 accuracy in [0, 1].
    pub fn top1(&self) -> f64 {
        ratio(self.top1_correct, self.images)
    }

    /// Top-5 accuracy in [0, 1] (1 when there are at most 5 classes).
    pub fn top5(&self) -> f64 {
        ratio(self.top5_correct, self.images)
    }

    /// Images per second of wall-clock time.
    pub fn images_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.images as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Top-1 accuracy per class (by label), every class of the model.
    pub fn per_class(&self) -> Vec<ClassResult> {
        self.confusion
            .iter()
            .enumerate()
            .map(|(class, row)| {
                let images = row.iter().sum();
                let correct = row[class];
                ClassResult {
                    class,
                    name: self.class_names.as_ref().and_then(|n| n.get(class).cloned()),
                    images,
                    correct,
                    top1: ratio(correct, images),
                }
            })
            .collect()
    }
}

/// The scores of `output`, the model's first output: dequantized with its
/// per-tensor scale and zero point (float outputs as they are).
pub fn class_scores(graph: &Graph, output: &TensorData) -> Vec<f64> {
    let t = &graph.tensors[graph.outputs[0]];
    let values = output.to_f64();
    match (output, &t.quant) {
        (TensorData::F32(_), _) | (_, None) => values,
        (_, Some(q)) => {
            let (s, z) = (f64::from(q.scale[0]), f64::from(q.zero_point[0]));
            values.iter().map(|&v| s * (v - z)).collect()
        }
    }
}

/// Indices of the `k` highest scores, highest first; equal scores rank the
/// lower index first (so the top-1 class is the argmax with ties to the
/// lowest index).
pub fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Evaluates a classifier over every image of `data` in parallel (rayon's
/// global pool): each image goes through [`super::Image::to_input`] and `run`
/// (which returns the graph outputs, e.g. [`crate::ReferenceExecutor::run`]); the
/// predicted class is the argmax of the dequantized first output, ties to the
/// lowest index. `progress` is called once per finished image, from any
/// worker thread.
///
/// Labels are checked against the class count (the first output's element
/// count) before anything runs; a label out of range is an error naming the
/// image.
pub fn evaluate<F>(graph: &Graph, data: &Dataset, run: F, progress: &(dyn Fn() + Sync)) -> Result<Evaluation>
where
    F: Fn(&[TensorData]) -> Result<Vec<TensorData>> + Sync,
{
    let out = &graph.tensors[graph.outputs[0]];
    let classes = out.elements();
    if classes == 0 {
        return Err(Error::Input(format!(
            "{}: output '{}' has no elements to classify with",
            graph.name, out.name
        )));
    }
    for i in 0..data.len() {
        let label = data.label(i);
        if label >= classes {
            return Err(Error::Input(format!(
                "{}: {}: label {label} is outside the {classes} classes of {}",
                data.path().display(),
                data.name(i),
                graph.name
            )));
        }
    }
    let start = Instant::now();
    let ranked: Vec<(usize, Vec<usize>)> = (0..data.len())
        .into_par_iter()
        .map(|i| {
            let image = data.get(i)?;
            let x = image.to_input(graph)?;
            let outputs = run(std::slice::from_ref(&x)).map_err(|e| Error::Input(format!("{}: {e}", image.name)))?;
            let first = outputs
                .first()
                .ok_or_else(|| Error::Input(format!("{}: the model returned no output", graph.name)))?;
            let top = top_k(&class_scores(graph, first), TOP_K);
            progress();
            Ok((image.label, top))
        })
        .collect::<Result<_>>()?;
    let seconds = start.elapsed().as_secs_f64();
    let mut confusion = vec![vec![0usize; classes]; classes];
    let (mut top1_correct, mut top5_correct) = (0, 0);
    for (label, top) in &ranked {
        confusion[*label][top[0]] += 1;
        top1_correct += usize::from(top[0] == *label);
        top5_correct += usize::from(top.contains(label));
    }
    Ok(Evaluation {
        classes,
        class_names: data.class_names().map(<[String]>::to_vec),
        images: ranked.len(),
        top1_correct,
        top5_correct,
        confusion,
        seconds,
        threads: rayon::current_num_threads(),
    })
}

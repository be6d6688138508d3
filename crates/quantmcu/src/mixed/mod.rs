//! Value-driven mixed precision inside the patch stage (DESIGN.md, "VDPC"):
//! which feature maps of the stage may drop to low-bit codes in clean tiles,
//! their clean ranges from calibration, their low-bit formats, the variants
//! of every op for each (input widths, output width) pair, and the BitOPs a
//! run really executed.
//!
//! A **map** is a tensor written inside the stage (not the split tensor,
//! which the layer stage reads as int8) by a convolution, depthwise
//! convolution, pool, ADD or PAD and read only by such ops or a fully
//! connected layer. A PAD's output shares its input's format (PAD copies
//! codes). Per-channel scales are used for a map only when `per_channel` is
//! asked for and it is legal for free or for flash: written by a
//! (depthwise) convolution and read only by (depthwise) convolutions.

pub mod bitops;
pub mod calib;
pub mod format;
pub(crate) mod variant;

use serde::{Deserialize, Serialize};

use crate::ir::{Graph, OpKind, TensorId};
use crate::patch::stage::{hwc, Stage};
use crate::{Error, Result};
pub use calib::{calibrate, clean_range, Histogram};
pub use format::Format;

/// How a tile chooses the width of the next map (DESIGN.md, VDPC rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// Each (tile, map) decides alone (the default).
    #[default]
    Map,
    /// The paper's sticky rule: after a tile's first outlier map, 8 bits.
    Branch,
}

impl Rule {
    /// The runtime's encoding.
    pub fn runtime(self) -> quantmcu_rt::plan::Rule {
        match self {
            Rule::Map => quantmcu_rt::plan::Rule::Map,
            Rule::Branch => quantmcu_rt::plan::Rule::Branch,
        }
    }
}

/// One map of a mixed plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapSpec {
    pub tensor: TensorId,
    pub name: String,
    /// The clean-tile format (`bits == 8`: the map never drops).
    pub format: Format,
    /// Int8 clean range, one per channel (per-channel format) or one.
    pub clean: Vec<(i32, i32)>,
}

/// The mixed-precision part of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MixedPlan {
    pub rule: Rule,
    /// Fraction of calibration values outside each clean range.
    pub outlier_quantile: f64,
    pub maps: Vec<MapSpec>,
}

impl MixedPlan {
    /// Map number of tensor `t`, if it is a map.
    pub fn map_of(&self, t: TensorId) -> Option<usize> {
        self.maps.iter().position(|m| m.tensor == t)
    }
}

/// What the user asks for.
#[derive(Clone, Debug)]
pub struct MixedConfig {
    /// One width for every map, or one per map (in [`stage_maps`] order).
    pub bits: Vec<u32>,
    pub outlier_quantile: f64,
    pub rule: Rule,
    pub per_channel: bool,
}

fn kind_ok(kind: &OpKind, reader: bool) -> bool {
    matches!(
        kind,
        OpKind::Conv2d { .. }
            | OpKind::DepthwiseConv2d { .. }
            | OpKind::AveragePool2d { .. }
            | OpKind::MaxPool2d { .. }
            | OpKind::Add { .. }
            | OpKind::Pad
    ) || (reader && matches!(kind, OpKind::FullyConnected { .. }))
}

fn consumers(graph: &Graph, t: TensorId) -> impl Iterator<Item = &crate::ir::Op> {
    graph
        .ops
        .iter()
        .filter(move |op| graph.activation_inputs(op).contains(&t))
}

/// The tensors of `stage` that can be maps, in stage order.
pub fn stage_maps(graph: &Graph, stage: &Stage) -> Vec<TensorId> {
    let mut maps: Vec<TensorId> = Vec::new();
    for &i in &stage.ops {
        let op = &graph.ops[i];
        let t = op.output();
        let pad_ok = op.kind != OpKind::Pad || graph.activation_inputs(op).iter().all(|x| maps.contains(x));
        if t != stage.split
            && hwc(graph, t).is_some()
            && kind_ok(&op.kind, false)
            && pad_ok
            && consumers(graph, t).all(|c| kind_ok(&c.kind, true))
        {
            maps.push(t);
        }
    }
    maps
}

/// True when map `t` may carry per-channel scales.
fn per_channel_ok(graph: &Graph, t: TensorId) -> bool {
    let conv = |k: &OpKind| matches!(k, OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. });
    let producer = graph.ops.iter().find(|op| op.output() == t);
    producer.is_some_and(|p| conv(&p.kind)) && consumers(graph, t).all(|c| conv(&c.kind))
}

/// Builds the mixed plan of `stage` from calibration histograms of its maps
/// (`hists`, one per [`stage_maps`] entry).
pub fn build(graph: &Graph, stage: &Stage, hists: &[Histogram], cfg: &MixedConfig) -> Result<MixedPlan> {
    let maps = stage_maps(graph, stage);
    let bad = |detail: String| Error::Model {
        model: graph.name.clone(),
        detail,
    };
    if cfg.bits.len() != 1 && cfg.bits.len() != maps.len() {
        return Err(bad(format!(
            "--clean-bits lists {} widths but the patch stage has {} feature maps (give one width, or one per map)",
            cfg.bits.len(),
            maps.len()
        )));
    }
    if let Some(b) = cfg.bits.iter().find(|b| !(1..=8).contains(*b)) {
        return Err(bad(format!("clean-tile width {b} is outside 1..=8 bits")));
    }
    if !(0.0..1.0).contains(&cfg.outlier_quantile) {
        return Err(bad(format!(
            "--outlier-quantile {} must lie in [0, 1)",
            cfg.outlier_quantile
        )));
    }
    let mut specs: Vec<MapSpec> = Vec::with_capacity(maps.len());
    for (k, &t) in maps.iter().enumerate() {
        let bits = cfg.bits[if cfg.bits.len() == 1 { 0 } else { k }];
        let (s8, z8) = graph.scale_zp(t);
        let producer = graph.ops.iter().find(|op| op.output() == t).expect("maps are written");
        if producer.kind == OpKind::Pad {
            // PAD copies codes: its output is its input's format.
            let from = graph.activation_inputs(producer)[0];
            let src = specs
                .iter()
                .find(|m| m.tensor == from)
                .expect("PAD reads a map")
                .clone();
            specs.push(MapSpec {
                tensor: t,
                name: graph.tensors[t].name.clone(),
                ..src
            });
            continue;
        }
        let hist = hists
            .iter()
            .find(|h| h.tensor == t)
            .ok_or_else(|| bad(format!("no calibration histogram for '{}'", graph.tensors[t].name)))?;
        let clean = if cfg.per_channel && per_channel_ok(graph, t) {
            hist.counts
                .iter()
                .map(|c| clean_range(c, cfg.outlier_quantile, z8))
                .collect()
        } else {
            vec![clean_range(&hist.total(), cfg.outlier_quantile, z8)]
        };
        let format = if bits >= 8 {
            Format::int8(s8, z8)
        } else {
            Format::low(bits, s8, z8, &clean)
        };
        specs.push(MapSpec {
            tensor: t,
            name: graph.tensors[t].name.clone(),
            format,
            clean,
        });
    }
    Ok(MixedPlan {
        rule: cfg.rule,
        outlier_quantile: cfg.outlier_quantile,
        maps: specs,
    })
}

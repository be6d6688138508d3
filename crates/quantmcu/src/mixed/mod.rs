//! Value-driven mixed precision inside the patch stage (`docs/design.md`, "Numerics"):
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
pub mod check;
pub mod flash;
pub mod format;
pub mod search;
pub mod sensitivity;
pub(crate) mod variant;

use serde::{Deserialize, Serialize};

use crate::ir::{Graph, OpKind, TensorId};
use crate::patch::arena::InputMode;
use crate::patch::stage::{hwc, Stage};
use crate::patch::Tiling;
use crate::{Error, Result};
pub use calib::{calibrate, clean_range, entropy, Histogram};
pub use format::Format;

/// How a tile chooses the width of the next map (`docs/design.md`, "Numerics", rules).
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

/// How a clean map's codes are obtained (`docs/design.md`, "Numerics").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Numerics {
    /// The producer always writes int8 (the int8 kernel); a tile's map whose
    /// values all lie in the clean range is then recoded to its codes
    /// (`quantmcu_rt::ops::recode`). No op runs twice.
    #[default]
    Int8First,
    /// The producer requantizes its accumulators straight to codes; an
    /// outlier stops it and the op runs again at 8 bits.
    Direct,
}

impl Numerics {
    /// The name plan files and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Numerics::Int8First => "int8-first",
            Numerics::Direct => "direct",
        }
    }
}

/// Where mixed precision applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The patch stage's maps (the paper).
    #[default]
    Patch,
    /// Also the layer-by-layer stage, each of its maps one tile.
    All,
}

impl Scope {
    /// The name plan files and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Patch => "patch",
            Scope::All => "all",
        }
    }
}

/// One map of a mixed plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    pub tensor: TensorId,
    pub name: String,
    /// The clean-tile format (`bits == 8`: the map never drops).
    pub format: Format,
    /// Int8 clean range, one per channel (per-channel format) or one: a
    /// tile with a value outside it is an outlier.
    pub clean: Vec<(i32, i32)>,
    /// Int8 range the codes cover (inside `clean`; narrower when clipping
    /// lowers the quantization error).
    pub code: Vec<(i32, i32)>,
    /// Mean quantization error (real units) of each channel's clean values;
    /// folded into the bias of the readers' low-bit variants (empty: none).
    pub mean_error: Vec<f64>,
}

/// The mixed-precision part of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixedPrecision {
    pub rule: Rule,
    pub scope: Scope,
    pub numerics: Numerics,
    /// With scope `all`: the layer stage keeps its depthwise layers in place
    /// (int8; their tensors are not maps), so peak SRAM stays that of the
    /// int8 plan. Without it they run out of place and every map may drop.
    pub layer_in_place: bool,
    /// Fraction of calibration values outside each clean range.
    pub outlier_quantile: f64,
    pub maps: Vec<MapSpec>,
}

impl MixedPrecision {
    /// Map number of tensor `t`, if it is a map.
    pub fn map_of(&self, t: TensorId) -> Option<usize> {
        self.maps.iter().position(|m| m.tensor == t)
    }

    /// Every map at 8 bits: the plan that calibrates int8 values.
    pub fn int8(
        graph: &Graph,
        tp: &Tiling,
        scope: Scope,
        layer_in_place: bool,
        rule: Rule,
        numerics: Numerics,
        outlier_quantile: f64,
    ) -> Self {
        let maps = mixed_maps(graph, tp, scope, layer_in_place)
            .into_iter()
            .map(|t| {
                let (s, z) = graph.scale_zp(t);
                MapSpec {
                    tensor: t,
                    name: graph.tensors[t].name.clone(),
                    format: Format::int8(s, z),
                    clean: vec![(-128, 127)],
                    code: vec![(-128, 127)],
                    mean_error: Vec::new(),
                }
            })
            .collect();
        MixedPrecision {
            rule,
            scope,
            numerics,
            layer_in_place,
            outlier_quantile,
            maps,
        }
    }
}

/// What the user asks for.
#[derive(Clone, Debug)]
pub struct MixedConfig {
    /// One width for every map, or one per map (in [`stage_maps`] order).
    pub bits: Vec<u32>,
    pub outlier_quantile: f64,
    pub rule: Rule,
    pub scope: Scope,
    /// See [`MixedPrecision::layer_in_place`].
    pub layer_in_place: bool,
    /// Per-channel scales where a map feeds only (depthwise) convolutions.
    pub per_channel: bool,
    /// MSE-optimal code range inside the clean range.
    pub clip: bool,
    /// Fold each map's mean quantization error into its readers' biases.
    pub bias_correction: bool,
    pub numerics: Numerics,
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

/// The maps of a plan with patch plan `tp` under `scope`: the stage's
/// ([`stage_maps`]) and, for [`Scope::All`], the layer stage's tensors
/// written and read by supported ops, except the graph outputs and, when
/// `layer_in_place`, the tensors of depthwise layers run in place.
pub fn mixed_maps(graph: &Graph, tp: &Tiling, scope: Scope, layer_in_place: bool) -> Vec<TensorId> {
    let mut maps = stage_maps(graph, &tp.stage);
    if scope == Scope::Patch {
        return maps;
    }
    let in_place: Vec<TensorId> = if layer_in_place {
        crate::patch::arena::patch_layout(graph, tp, InputMode::Resident)
            .buffers
            .iter()
            .filter_map(|b| b.temp_of)
            .flat_map(|i| {
                let op = &graph.ops[i];
                let mut t = graph.activation_inputs(op);
                t.push(op.output());
                t
            })
            .collect()
    } else {
        Vec::new()
    };
    let first = tp.stage.ops.last().map_or(0, |&l| l + 1);
    for op in graph.ops.iter().skip(first) {
        let t = op.output();
        let pad_ok = op.kind != OpKind::Pad || graph.activation_inputs(op).iter().all(|x| maps.contains(x));
        if hwc(graph, t).is_some()
            && kind_ok(&op.kind, false)
            && pad_ok
            && !in_place.contains(&t)
            && !graph.outputs.contains(&t)
            && graph.tensors[t].dtype == crate::ir::DType::I8
            && consumers(graph, t).all(|c| kind_ok(&c.kind, true))
        {
            maps.push(t);
        }
    }
    maps
}

/// Channels of each map of `plan`.
pub fn map_channels(graph: &Graph, plan: &MixedPrecision) -> Vec<usize> {
    plan.maps
        .iter()
        .map(|m| hwc(graph, m.tensor).map_or(1, |s| s[2]))
        .collect()
}

/// True when map `t` may carry per-channel scales.
fn per_channel_ok(graph: &Graph, t: TensorId) -> bool {
    let conv = |k: &OpKind| matches!(k, OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. });
    let producer = graph.ops.iter().find(|op| op.output() == t);
    producer.is_some_and(|p| conv(&p.kind)) && consumers(graph, t).all(|c| conv(&c.kind))
}

/// True when `t` is written by a PAD (its format follows its input's).
pub(super) fn is_pad_output(graph: &Graph, t: TensorId) -> bool {
    graph.ops.iter().any(|op| op.output() == t && op.kind == OpKind::Pad)
}

/// Squared quantization error of the values of `counts` inside `range`
/// stored in `format` (channel `c`), and their mean error and count.
fn quantization_error(
    counts: &[u64; 256],
    range: (i32, i32),
    format: &Format,
    c: usize,
    s8: f64,
    z8: i32,
) -> (f64, f64, u64) {
    let (mut sq, mut sum, mut n) = (0.0, 0.0, 0u64);
    for v in range.0..=range.1 {
        let k = counts[(v + 128) as usize];
        if k == 0 {
            continue;
        }
        let real = s8 * f64::from(v - z8);
        let e = real - format.real_of(format.code_of(real, c), c);
        sq += k as f64 * e * e;
        sum += k as f64 * e;
        n += k;
    }
    (sq, sum, n)
}

/// Squared error of map `spec`'s clean-tile codes over the values of `hist`
/// inside its clean ranges, relative to those values' squared magnitude
/// (reals, 0 when there are none).
pub(super) fn relative_code_error(graph: &Graph, spec: &MapSpec, hist: &Histogram) -> f64 {
    let (s8, z8) = graph.scale_zp(spec.tensor);
    let (mut err, mut signal) = (0.0, 0.0);
    for (c, counts) in hist.counts.iter().enumerate() {
        let range = spec.clean[if spec.clean.len() == 1 { 0 } else { c }];
        err += quantization_error(counts, range, &spec.format, c, f64::from(s8), z8).0;
        for v in range.0..=range.1 {
            let real = f64::from(s8) * f64::from(v - z8);
            signal += counts[(v + 128) as usize] as f64 * real * real;
        }
    }
    if signal > 0.0 {
        err / signal
    } else {
        0.0
    }
}

/// The code range inside clean range `clean` with the least squared error
/// for `bits`-bit codes: the clean range shrunk towards the zero point by
/// factors 1, 0.98, ..., 0.2 (the widest wins ties).
fn mse_range(counts: &[u64; 256], clean: (i32, i32), bits: u32, s8: f32, z8: i32) -> (i32, i32) {
    let mut best = (f64::INFINITY, clean);
    for k in 0..=40 {
        let f = 1.0 - 0.02 * f64::from(k);
        let shrink = |v: i32| z8 + (f64::from(v - z8) * f).round() as i32;
        let range = (shrink(clean.0).min(clean.1), shrink(clean.1).max(clean.0));
        let format = Format::low(bits, s8, z8, &[range]);
        let (sq, _, _) = quantization_error(counts, clean, &format, 0, f64::from(s8), z8);
        if sq < best.0 {
            best = (sq, range);
        }
    }
    best.1
}

/// The spec of map `t` at `bits` bits from its calibration histogram.
pub fn map_spec(graph: &Graph, t: TensorId, hist: &Histogram, bits: u32, cfg: &MixedConfig) -> MapSpec {
    let (s8, z8) = graph.scale_zp(t);
    let name = graph.tensors[t].name.clone();
    if bits >= 8 {
        return MapSpec {
            tensor: t,
            name,
            format: Format::int8(s8, z8),
            clean: vec![(-128, 127)],
            code: vec![(-128, 127)],
            mean_error: Vec::new(),
        };
    }
    let per_channel = cfg.per_channel && per_channel_ok(graph, t);
    let counts: Vec<[u64; 256]> = if per_channel {
        hist.counts.clone()
    } else {
        vec![hist.total()]
    };
    let clean: Vec<(i32, i32)> = counts
        .iter()
        .map(|c| clean_range(c, cfg.outlier_quantile, z8))
        .collect();
    let code: Vec<(i32, i32)> = if cfg.clip {
        counts
            .iter()
            .zip(&clean)
            .map(|(c, &r)| mse_range(c, r, bits, s8, z8))
            .collect()
    } else {
        clean.clone()
    };
    let format = Format::low(bits, s8, z8, &code);
    let mean_error = if cfg.bias_correction {
        hist.counts
            .iter()
            .enumerate()
            .map(|(c, counts)| {
                let r = clean[if clean.len() == 1 { 0 } else { c }];
                let (_, sum, n) = quantization_error(counts, r, &format, c, f64::from(s8), z8);
                if n == 0 {
                    0.0
                } else {
                    sum / n as f64
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    MapSpec {
        tensor: t,
        name,
        format,
        clean,
        code,
        mean_error,
    }
}

/// Gives every PAD output its input's spec (PAD copies codes).
pub(super) fn follow_pads(graph: &Graph, specs: &mut [MapSpec]) {
    for k in 0..specs.len() {
        let t = specs[k].tensor;
        if let Some(op) = graph.ops.iter().find(|op| op.output() == t && op.kind == OpKind::Pad) {
            let from = graph.activation_inputs(op)[0];
            if let Some(src) = specs.iter().find(|m| m.tensor == from).cloned() {
                specs[k] = MapSpec {
                    tensor: t,
                    name: specs[k].name.clone(),
                    ..src
                };
            }
        }
    }
}

/// Builds the mixed plan from calibration histograms of its maps (`hists`,
/// one per [`mixed_maps`] entry).
pub fn build(graph: &Graph, tp: &Tiling, hists: &[Histogram], cfg: &MixedConfig) -> Result<MixedPrecision> {
    let maps = mixed_maps(graph, tp, cfg.scope, cfg.layer_in_place);
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
    let mut specs = Vec::with_capacity(maps.len());
    for (k, &t) in maps.iter().enumerate() {
        let bits = cfg.bits[if cfg.bits.len() == 1 { 0 } else { k }];
        let hist = hists
            .iter()
            .find(|h| h.tensor == t)
            .ok_or_else(|| bad(format!("no calibration histogram for '{}'", graph.tensors[t].name)))?;
        let bits = if is_pad_output(graph, t) { 8 } else { bits };
        specs.push(map_spec(graph, t, hist, bits, cfg));
    }
    follow_pads(graph, &mut specs);
    Ok(MixedPrecision {
        rule: cfg.rule,
        scope: cfg.scope,
        numerics: cfg.numerics,
        layer_in_place: cfg.layer_in_place,
        outlier_quantile: cfg.outlier_quantile,
        maps: specs,
    })
}

/// Histograms of every map over `inputs`, from the int8 patch plan (`mode`
/// decides only the arena; values are the same).
pub fn calibrate_int8(
    interp: &crate::ReferenceExecutor,
    tp: &Tiling,
    mode: InputMode,
    scope: Scope,
    layer_in_place: bool,
    inputs: &[Vec<crate::TensorData>],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Histogram>> {
    let plan = MixedPrecision::int8(
        interp.graph(),
        tp,
        scope,
        layer_in_place,
        Rule::Map,
        Numerics::default(),
        0.0,
    );
    let runner = crate::patch::PlanRunner::with_mixed(interp, Some((tp, mode)), Some(&plan))?;
    calibrate(&runner, &plan, &map_channels(interp.graph(), &plan), inputs, progress)
}

//! Encodes a schedule (layer by layer, or a patch plan) as the runtime's
//! plan bytes (`quantmcu_rt::plan`): op records with the parameters the
//! reference executor prepared (so both derive them once, the same way),
//! arena offsets from the memory planners, and the list of steps.

use quantmcu_rt::geometry::{Geometry, Rect};
use quantmcu_rt::ops::recode::{MAX_RECODE_OFFSET, MAX_RECODE_SCALE, RECODE_SHIFT};
use quantmcu_rt::plan::{
    OpKind as RtOp, StepKind, HEADER_WORDS, MAGIC, MAX_INPUTS, MAX_SOFTMAX_DEPTH, NOT_A_MAP, RECODE, VERSION,
};

use crate::ir::{DType, Graph, OpKind, TensorId};
use crate::memory::{plan_layer_based, Buffer};
use crate::mixed::format::storage_bits;
use crate::mixed::variant::{clean_bounds, derive, PoolStage, Variant};
use crate::mixed::{Format, MapSpec, MixedPrecision, Numerics};
use crate::patch::arena::{patch_layout_with, InputMode, Role};
use crate::patch::stage::{footprint, hwc, Footprint};
use crate::patch::Tiling;
use crate::reference::{Kernel, ReferenceExecutor};
use crate::{Error, Result};

/// Refuses graphs a plan cannot represent: a plan reads one int8 input, runs
/// the int8 ops `ops` in between, and writes one int8 output (`output`, or the
/// graph output a trailing host DEQUANTIZE makes of it).
fn check_plannable(graph: &Graph, ops: std::ops::Range<usize>, output: TensorId) -> Result<()> {
    let refuse = |detail: String| {
        Err(Error::Model {
            model: graph.name.clone(),
            detail,
        })
    };
    if graph.inputs.len() != 1 {
        return refuse(format!(
            "the model has {} inputs, but the runtime runs models with one input",
            graph.inputs.len()
        ));
    }
    if graph.outputs.len() != 1 {
        return refuse(format!(
            "the model has {} outputs, but the runtime runs models with one output",
            graph.outputs.len()
        ));
    }
    if let Some(i) = ops
        .clone()
        .find(|&i| graph.tensors[graph.ops[i].output()].dtype != DType::I8)
    {
        return refuse(format!(
            "operator #{i} ({}) writes a {} tensor between int8 operators, but the runtime converts from and to \
             float only at the model's input and output",
            graph.ops[i].kind.name(),
            graph.tensors[graph.ops[i].output()].dtype.name()
        ));
    }
    let graph_output = graph.outputs[0];
    let after_plan = graph.ops[ops.end..].iter().any(|op| op.output() == graph_output);
    if graph_output != output && !after_plan {
        return refuse(format!(
            "the model output (tensor #{graph_output}) is written before its last int8 operator, but the runtime's \
             output is the tensor that operator writes"
        ));
    }
    Ok(())
}

/// Plan bytes (in 32-bit words, so they are 4-byte aligned) and what the
/// caller needs to feed and read them.
#[derive(Clone, Debug)]
pub struct EncodedPlan {
    pub words: Vec<u32>,
    /// The int8 tensor the plan reads (the model's int8 input).
    pub input: TensorId,
    /// The int8 tensor the plan writes out.
    pub output: TensorId,
    /// Ops that run on the host outside the plan: the float boundary.
    pub host_ops_before: std::ops::Range<usize>,
    pub host_ops_after: std::ops::Range<usize>,
    pub arena_bytes: usize,
    /// Words of kernel scratch the plan asks for (header field 3).
    pub scratch_words: usize,
    /// Tiles the plan numbers (patch tiles, plus the layer stage with mixed
    /// scope `all`).
    pub tiles: usize,
}

impl EncodedPlan {
    /// The plan as bytes.
    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }
}

struct Writer<'a> {
    graph: &'a Graph,
    interp: &'a ReferenceExecutor<'a>,
    mixed: Option<&'a MixedPrecision>,
    ops: Vec<Vec<u32>>,
    op_of: Vec<Option<u32>>,
    mixed_of: Vec<Option<u32>>,
    steps: Vec<u32>,
    n_steps: u32,
    data: Vec<u8>,
    /// Offsets of the arrays already in `data`.
    arrays: std::collections::HashMap<Vec<u8>, u32>,
    scratch_words: usize,
}

fn w(v: i32) -> u32 {
    v as u32
}

impl Writer<'_> {
    /// Appends `bytes` (4-byte aligned) unless the same array is already
    /// there (variants share their weights); returns its offset.
    fn array(&mut self, bytes: Vec<u8>) -> u32 {
        if let Some(&at) = self.arrays.get(&bytes) {
            return at;
        }
        let at = self.data.len() as u32;
        self.data.extend_from_slice(&bytes);
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
        self.arrays.insert(bytes, at);
        at
    }

    fn i8s(&mut self, v: &[i8]) -> u32 {
        self.array(v.iter().map(|&x| x as u8).collect())
    }

    fn i32s(&mut self, v: &[i32]) -> u32 {
        self.array(v.iter().flat_map(|x| x.to_le_bytes()).collect())
    }

    fn geometry(rec: &mut Vec<u32>, g: &Geometry) {
        for v in g
            .input
            .iter()
            .chain(&g.output)
            .chain(&g.kernel)
            .chain(&g.stride)
            .chain(&g.dilation)
            .chain(&g.pad)
        {
            rec.push(*v as u32);
        }
    }

    fn output_stage(
        &mut self,
        rec: &mut Vec<u32>,
        requant: &crate::reference::Requant,
        offset: i32,
        range: (i32, i32),
    ) {
        let (m, s) = (self.i32s(&requant.multiplier), self.i32s(&requant.shift));
        rec.extend([w(offset), w(range.0), w(range.1), requant.multiplier.len() as u32, m, s]);
    }

    /// The plan op of graph op `i` (its int8 kernel), encoded on first use.
    fn op(&mut self, i: usize) -> Result<u32> {
        if let Some(k) = self.op_of[i] {
            return Ok(k);
        }
        let k = self.record(i, &base_variant(self.graph, self.interp, i))?;
        self.op_of[i] = Some(k);
        Ok(k)
    }

    /// Appends the record of graph op `i` with the parameters of `v`.
    fn record(&mut self, i: usize, v: &Variant) -> Result<u32> {
        let g = self.graph;
        let op = &g.ops[i];
        let refuse = |detail: String| Error::Op {
            model: g.name.clone(),
            index: i,
            op: op.kind.name().into(),
            detail,
        };
        let unsupported = |what: &str| refuse(format!("{what} is not supported by the runtime yet"));
        let channels = hwc(g, op.output()).map_or(1, |s| s[2]);
        let geometry = match footprint(g, i) {
            Some(Footprint::Window(geo)) => Some(geo),
            _ => None,
        };
        let mut rec = Vec::new();
        match &v.kernel {
            Kernel::Conv2d(k) => {
                rec.push(RtOp::Conv2d as u32);
                Self::geometry(&mut rec, &geometry.ok_or_else(|| unsupported("a batch > 1"))?);
                rec.push(w(k.input_offset));
                self.output_stage(&mut rec, &k.requant, k.output_offset, k.range);
                let (f, b) = (self.i8s(&k.filter), self.i32s(&k.bias));
                rec.extend([f, k.filter.len() as u32, b]);
                self.scratch_words = self.scratch_words.max(channels);
            }
            Kernel::DepthwiseConv2d(k) => {
                rec.push(RtOp::DepthwiseConv2d as u32);
                Self::geometry(&mut rec, &geometry.ok_or_else(|| unsupported("a batch > 1"))?);
                rec.push(w(k.input_offset));
                self.output_stage(&mut rec, &k.requant, k.output_offset, k.range);
                let (f, b) = (self.i8s(&k.filter), self.i32s(&k.bias));
                rec.extend([f, k.filter.len() as u32, b]);
            }
            Kernel::Pool2d(k) => {
                rec.push(if k.average {
                    RtOp::AveragePool2d
                } else {
                    RtOp::MaxPool2d
                } as u32);
                Self::geometry(&mut rec, &geometry.ok_or_else(|| unsupported("a batch > 1"))?);
                rec.extend([w(k.range.0), w(k.range.1)]);
                let p = v.pool.as_ref().expect("pool variants carry their rescale");
                rec.push(w(p.input_offset));
                self.output_stage(&mut rec, &p.requant, p.output_offset, p.range);
            }
            Kernel::Pad(k) => {
                if !matches!(footprint(g, i), Some(Footprint::Pad { .. })) {
                    return Err(unsupported("padding of the batch or channel axis"));
                }
                rec.push(RtOp::Pad as u32);
                rec.extend([k.input[1], k.input[2], k.input[3], k.before[1], k.before[2]].map(|v| v as u32));
                rec.push(w(i32::from(k.fill)));
            }
            Kernel::Add(k) => {
                if footprint(g, i).is_none() {
                    return Err(unsupported("ADD with broadcasting or a constant operand"));
                }
                rec.push(RtOp::Add as u32);
                let [(m0, s0), (m1, s1)] = k.multipliers;
                rec.extend(
                    [
                        k.offsets[0],
                        k.offsets[1],
                        m0,
                        m1,
                        s0,
                        s1,
                        k.output.0,
                        k.output.1,
                        k.output_offset,
                        k.range.0,
                        k.range.1,
                    ]
                    .map(w),
                );
                rec.push(channels as u32);
            }
            Kernel::Requantize(k) => {
                rec.push(RtOp::Requantize as u32);
                rec.extend([k.input_zp, k.multiplier.0, k.multiplier.1, k.output_zp].map(w));
                // Pixels of `channels` values: a map's depth, 1 for a flat tensor
                // (its window is `1 x len`, see `full_rect`).
                rec.push(channels as u32);
            }
            Kernel::FullyConnected(k) => {
                rec.push(RtOp::FullyConnected as u32);
                rec.extend([w(k.input_offset), k.units as u32, k.depth as u32]);
                self.output_stage(&mut rec, &k.requant, k.output_offset, k.range);
                let (f, b) = (self.i8s(&k.filter), self.i32s(&k.bias));
                rec.extend([f, b]);
            }
            Kernel::Mean(k) => {
                if k.reduced != [false, true, true, false] {
                    return Err(unsupported("MEAN over other axes than height and width"));
                }
                rec.push(RtOp::MeanHw as u32);
                let (m, s) = k.requant.unwrap_or((0, 0));
                rec.extend([k.input_zp, k.output_zp, i32::from(k.requant.is_some()), m, s].map(w));
                rec.extend([(k.input[1] * k.input[2]) as u32, k.input[3] as u32]);
            }
            Kernel::Softmax(p, depth) => {
                if *depth > MAX_SOFTMAX_DEPTH {
                    return Err(refuse(format!(
                        "a depth of {depth} classes exceeds the runtime's SOFTMAX limit of {MAX_SOFTMAX_DEPTH} \
                         (its fixed-point sum of exponentials would overflow)"
                    )));
                }
                rec.push(RtOp::Softmax as u32);
                rec.extend([p.input_multiplier, p.input_left_shift, p.diff_min].map(w));
                rec.push(*depth as u32);
            }
            Kernel::Concatenation(k) => {
                if op.inputs.iter().flatten().any(|&t| g.tensors[t].is_constant()) {
                    return Err(unsupported("CONCATENATION of a constant"));
                }
                if k.slabs.len() > MAX_INPUTS {
                    return Err(refuse(format!(
                        "{} inputs exceed the runtime's limit of {MAX_INPUTS} inputs per op",
                        k.slabs.len()
                    )));
                }
                rec.push(RtOp::Concatenation as u32);
                rec.extend([k.outer as u32, k.slabs.len() as u32]);
                rec.extend(k.slabs.iter().map(|&s| s as u32));
            }
            _ => return Err(unsupported("this op")),
        }
        let k = self.ops.len() as u32;
        self.ops.push(rec);
        Ok(k)
    }

    /// A mixed record for stage op `i` reading maps `ins` and writing map
    /// `out` (map numbers, `None` for int8 tensors): a variant for every
    /// width its inputs can arrive at and every width it may write.
    fn mixed(&mut self, i: usize, ins: &[Option<usize>], out: Option<usize>) -> Result<u32> {
        let g = self.graph;
        let m = self.mixed.expect("mixed records need a mixed plan");
        let op = &g.ops[i];
        let xs = g.activation_inputs(op);
        let int8 = |t: TensorId| {
            let (s, z) = g.scale_zp(t);
            Format::int8(s, z)
        };
        // Formats each input can arrive in: int8, and its low format.
        let choices: Vec<Vec<Format>> = xs
            .iter()
            .zip(ins)
            .map(|(&t, map)| {
                let mut f = vec![int8(t)];
                if let Some(k) = map.filter(|&k| m.maps[k].format.bits < 8) {
                    f.push(m.maps[k].format.clone());
                }
                f
            })
            .collect();
        // Mean quantization error of the first input when it arrives low.
        let low_error: &[f64] = ins[0].map_or(&[], |k| &m.maps[k].mean_error);
        let out_low = out.map(|k| &m.maps[k]).filter(|s| s.format.bits < 8);
        let is_pad = op.kind == OpKind::Pad;
        let base = base_variant(g, self.interp, i);
        let channels = hwc(g, op.output()).map_or(1, |s| s[2]);
        let op_error = |e: String| g.op_error(i, e);
        let mut variants: Vec<[u32; 6]> = Vec::new();
        let combos: Vec<Vec<&Format>> = match choices.as_slice() {
            [a] => a.iter().map(|x| vec![x]).collect(),
            [a, b] => a.iter().flat_map(|x| b.iter().map(move |y| vec![x, y])).collect(),
            _ => return Err(op_error("mixed precision needs one or two activation inputs".into())),
        };
        let error = |in_bits: &[u32]| if in_bits[0] < 8 { low_error } else { &[][..] };
        for fin in combos {
            let in_bits: Vec<u32> = fin.iter().map(|f| storage_bits(f.bits)).collect();
            let owned: Vec<Format> = fin.iter().map(|&f| f.clone()).collect();
            let all8 = in_bits.iter().all(|&b| b == 8);
            let eight = if all8 {
                base.clone()
            } else {
                derive(g, i, &base.kernel, &owned, &int8(op.output()), error(&in_bits)).map_err(op_error)?
            };
            let key = |out_bits: u32| out_bits | in_bits[0] << 8 | in_bits.get(1).map_or(0, |b| b << 16);
            if is_pad {
                // PAD copies codes: one variant keeping the input's width.
                let k = if all8 {
                    self.op(i)?
                } else {
                    self.record(
                        i,
                        &derive(g, i, &base.kernel, &owned, &owned[0], &[]).map_err(op_error)?,
                    )?
                };
                variants.push([key(in_bits[0]), k, 0, 0, 0, 0]);
                continue;
            }
            let k8 = if all8 { self.op(i)? } else { self.record(i, &eight)? };
            if let Some(spec) = out_low {
                variants.push(match m.numerics {
                    Numerics::Int8First => {
                        let (lo, hi, codes) = recode_params(g, spec, channels);
                        let n = lo.len() as u32;
                        let (lo, hi, codes) = (self.i32s(&lo), self.i32s(&hi), self.i32s(&codes));
                        [key(storage_bits(spec.format.bits)) | RECODE, k8, n, lo, hi, codes]
                    }
                    Numerics::Direct => {
                        let v = derive(g, i, &base.kernel, &owned, &spec.format, error(&in_bits)).map_err(op_error)?;
                        let k = self.record(i, &v)?;
                        let (lo, hi) = clean_bounds(&eight, &spec.clean, channels);
                        let n = lo.len() as u32;
                        let (lo, hi) = (self.i32s(&lo), self.i32s(&hi));
                        [key(storage_bits(spec.format.bits)), k, n, lo, hi, 0]
                    }
                });
            }
            variants.push([key(8), k8, 0, 0, 0, 0]);
        }
        let map_word = |k: Option<usize>| k.map_or(NOT_A_MAP, |k| k as u32);
        let mut rec = vec![RtOp::Mixed as u32, map_word(out), ins.len() as u32];
        rec.extend(ins.iter().map(|&k| map_word(k)));
        rec.push(variants.len() as u32);
        variants.iter().for_each(|v| rec.extend(v));
        let k = self.ops.len() as u32;
        self.ops.push(rec);
        Ok(k)
    }

    /// Appends one step: its kind, then `words`.
    fn step(&mut self, kind: StepKind, words: &[usize]) {
        self.steps.push(kind as u32);
        self.steps.extend(words.iter().map(|&v| v as u32));
        self.n_steps += 1;
    }

    /// A step running graph op `i` on the given windows (offset, rect each);
    /// where mixed precision applies (`mixed`), its mixed record when it
    /// reads or writes a map.
    fn run(&mut self, i: usize, out: (usize, Rect), ins: &[(usize, Rect)], mixed: bool) -> Result<()> {
        let (o, r) = out;
        let op = &self.graph.ops[i];
        let maps = self.mixed.filter(|_| mixed).map(|m| {
            let ins: Vec<Option<usize>> = self.graph.activation_inputs(op).iter().map(|&t| m.map_of(t)).collect();
            (ins, m.map_of(op.output()))
        });
        let record = match maps {
            Some((ins, out)) if out.is_some() || ins.iter().any(Option::is_some) => {
                if self.mixed_of[i].is_none() {
                    self.mixed_of[i] = Some(self.mixed(i, &ins, out)?);
                }
                self.mixed_of[i].expect("just set")
            }
            _ => self.op(i)?,
        };
        let mut words = vec![record as usize, o, r.y, r.x, r.h, r.w, ins.len()];
        for &(o, r) in ins {
            words.extend([o, r.y, r.x, r.h, r.w]);
        }
        self.step(StepKind::Run, &words);
        Ok(())
    }
}

/// The recoding of map `spec` (int8-first numerics) for a map of `channels`
/// channels: its int8 clean bounds and its code scales, offsets and largest
/// code (`quantmcu_rt::ops::recode`: `u = (v * scale + offset) >>
/// RECODE_SHIFT`, rounded to nearest by the half step in `offset`), one
/// entry or one per channel.
fn recode_params(g: &Graph, spec: &MapSpec, channels: usize) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let (s8, z8) = g.scale_zp(spec.tensor);
    let f = &spec.format;
    let n = if spec.clean.len() == 1 && !f.per_channel() {
        1
    } else {
        channels
    };
    let pick = |v: &[(i32, i32)], c: usize| v[if v.len() == 1 { 0 } else { c }];
    let one = f64::from(1u32 << RECODE_SHIFT);
    let scale: Vec<i32> = (0..n)
        .map(|c| {
            (f64::from(s8) / f.scale_of(c) * one)
                .round()
                .min(f64::from(MAX_RECODE_SCALE)) as i32
        })
        .collect();
    let mut codes = scale.clone();
    codes.extend(scale.iter().map(|&m| {
        let offset =
            i64::from(f.zero_point) * (1 << RECODE_SHIFT) - i64::from(z8) * i64::from(m) + (1 << (RECODE_SHIFT - 1));
        offset.clamp(-i64::from(MAX_RECODE_OFFSET), i64::from(MAX_RECODE_OFFSET)) as i32
    }));
    codes.push(f.code_range().1);
    let lo = (0..n).map(|c| pick(&spec.clean, c).0).collect();
    let hi = (0..n).map(|c| pick(&spec.clean, c).1).collect();
    (lo, hi, codes)
}

/// Where a whole int8 tensor sits: a spatial map as `h x w` pixels, anything
/// else as a `1 x len` row of 1-channel pixels (flat ops).
fn full_rect(g: &Graph, t: TensorId, op: &OpKind) -> Rect {
    let flat = matches!(
        op,
        OpKind::FullyConnected { .. } | OpKind::Mean { .. } | OpKind::Softmax { .. } | OpKind::Concatenation { .. }
    );
    match hwc(g, t) {
        Some([h, wd, _]) if !flat => Rect::full(h, wd),
        _ => Rect::full(1, g.tensors[t].elements()),
    }
}

/// The int8 variant of op `i` (pools with their identity rescale).
fn base_variant(graph: &Graph, interp: &ReferenceExecutor, i: usize) -> Variant {
    let kernel = interp.kernel(i).clone();
    let pool = match &kernel {
        Kernel::Pool2d(k) => {
            let (_, z) = graph.scale_zp(graph.ops[i].inputs[0].expect("pool input"));
            Some(PoolStage::identity(z, k.range))
        }
        _ => None,
    };
    Variant { kernel, pool }
}

/// Encodes `graph` as plan bytes: layer by layer (`patch: None`) or with a
/// patch stage, and with value-driven mixed precision in the patch stage
/// when `mixed` is given.
pub fn encode(
    graph: &Graph,
    interp: &ReferenceExecutor,
    patch: Option<(&Tiling, InputMode)>,
    mixed: Option<&MixedPrecision>,
) -> Result<EncodedPlan> {
    if mixed.is_some() && patch.is_none() {
        return Err(Error::Model {
            model: graph.name.clone(),
            detail: "mixed precision needs a patch plan".into(),
        });
    }
    let input = graph.int_input();
    let n = graph.ops.len();
    // The plan ends at the last int8 op; a trailing DEQUANTIZE runs on the host.
    let end = (0..n)
        .rev()
        .find(|&i| graph.tensors[graph.ops[i].output()].dtype == DType::I8)
        .map_or(0, |i| i + 1);
    let first = graph
        .ops
        .iter()
        .position(|op| op.inputs.contains(&Some(input)))
        .unwrap_or(n);
    if end == 0 {
        return Err(Error::Model {
            model: graph.name.clone(),
            detail: "no int8 op to encode".into(),
        });
    }
    let output = graph.ops[end - 1].output();
    check_plannable(graph, first..end, output)?;
    let mut wr = Writer {
        graph,
        interp,
        mixed,
        ops: Vec::new(),
        op_of: vec![None; n],
        mixed_of: vec![None; n],
        steps: Vec::new(),
        n_steps: 0,
        data: Vec::new(),
        arrays: std::collections::HashMap::new(),
        scratch_words: 0,
    };
    let [ih, iw, ic] = hwc(graph, input).unwrap_or([1, graph.tensors[input].elements(), 1]);
    // With mixed scope `all`, the layer stage is one more tile, and its
    // depthwise layers run out of place (the in-place kernel is int8).
    let layer_mixed = mixed.is_some_and(|m| m.scope == crate::mixed::Scope::All);
    let (buffers, roles, arena_bytes, layer_from) = match patch {
        None => {
            let plan = plan_layer_based(graph);
            let roles = vec![Role::Map; plan.buffers.len()];
            (plan.buffers, roles, plan.arena_bytes, first)
        }
        Some((tp, mode)) => {
            let in_place = !layer_mixed || mixed.is_some_and(|m| m.layer_in_place);
            let layout = patch_layout_with(graph, tp, mode, in_place);
            (
                layout.buffers,
                layout.roles,
                layout.memory.peak_bytes,
                tp.stage.ops.last().map_or(first, |l| l + 1),
            )
        }
    };
    let find = |t: TensorId, role: Role| -> usize {
        buffers
            .iter()
            .zip(&roles)
            .find(|(b, r)| **r == role && b.tensors.contains(&t))
            .map(|(b, _): (&Buffer, _)| b.offset)
            .expect("planned")
    };
    let load = |wr: &mut Writer, dst: usize, r: Rect| wr.step(StepKind::LoadInput, &[dst, r.y, r.x, r.h, r.w, iw, ic]);
    let resident = !matches!(patch, Some((_, InputMode::Streamed)));
    if resident {
        load(&mut wr, find(input, Role::Map), Rect::full(ih, iw));
    }
    if let Some((tp, mode)) = patch {
        let stage = &tp.stage;
        let [sh, sw, sc] = hwc(graph, stage.split).expect("split is a map");
        for tile in &tp.tiles {
            let place = |t: TensorId| -> (usize, Rect) {
                if t == stage.input && mode == InputMode::Resident {
                    (find(t, Role::Map), Rect::full(ih, iw))
                } else {
                    (find(t, Role::Tile), tile.rect(t))
                }
            };
            wr.step(StepKind::BeginTile, &[]);
            if mode == InputMode::Streamed {
                let (o, r) = place(input);
                load(&mut wr, o, r);
            }
            for &i in &stage.ops {
                let op = &graph.ops[i];
                let ins: Vec<(usize, Rect)> = graph.activation_inputs(op).into_iter().map(place).collect();
                wr.run(i, place(op.output()), &ins, true)?;
            }
            let (src, r) = place(stage.split);
            wr.step(
                StepKind::StoreTile,
                &[src, r.y, r.x, r.h, r.w, find(stage.split, Role::Map), sh, sw, sc],
            );
        }
    }
    if layer_mixed {
        wr.step(StepKind::BeginTile, &[]);
    }
    for i in layer_from..end {
        let op = &graph.ops[i];
        if op.kind == OpKind::Reshape {
            continue; // Aliases its input's buffer.
        }
        if let Some(temp) = buffers.iter().find(|b| b.temp_of == Some(i)) {
            // A depthwise convolution the memory plan runs in place.
            let k = wr.op(i)? as usize;
            wr.step(StepKind::RunInPlace, &[k, find(op.output(), Role::Map), temp.offset]);
            continue;
        }
        let ins: Vec<(usize, Rect)> = graph
            .activation_inputs(op)
            .into_iter()
            .map(|t| (find(t, Role::Map), full_rect(graph, t, &op.kind)))
            .collect();
        wr.run(
            i,
            (find(op.output(), Role::Map), full_rect(graph, op.output(), &op.kind)),
            &ins,
            layer_mixed,
        )?;
    }
    // Assemble: header, op offsets + records, steps, data.
    let ops_at = HEADER_WORDS;
    let records: usize = wr.ops.iter().map(Vec::len).sum();
    let steps_at = ops_at + wr.ops.len() + records;
    let data_at = (steps_at + wr.steps.len()) * 4;
    let total = data_at + wr.data.len();
    let mut words = vec![
        MAGIC,
        VERSION,
        arena_bytes as u32,
        wr.scratch_words as u32,
        graph.tensors[input].elements() as u32,
        find(output, Role::Map) as u32,
        graph.tensors[output].elements() as u32,
        wr.ops.len() as u32,
        wr.n_steps,
        ops_at as u32,
        steps_at as u32,
        data_at as u32,
        total as u32,
        mixed.map_or(0, |m| m.maps.len()) as u32,
        (patch.map_or(0, |(tp, _)| tp.tiles.len()) + usize::from(layer_mixed)) as u32,
        mixed.map_or(0, |m| m.rule.runtime() as u32),
    ];
    let mut at = wr.ops.len();
    for r in &wr.ops {
        words.push(at as u32);
        at += r.len();
    }
    wr.ops.iter().for_each(|r| words.extend(r));
    words.extend(&wr.steps);
    words.extend(
        wr.data
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))),
    );
    Ok(EncodedPlan {
        words,
        input,
        output,
        host_ops_before: 0..first,
        host_ops_after: end..n,
        arena_bytes,
        scratch_words: wr.scratch_words,
        tiles: (patch.map_or(0, |(tp, _)| tp.tiles.len()) + usize::from(layer_mixed)),
    })
}

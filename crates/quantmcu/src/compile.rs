//! Compiles a schedule (layer by layer, or a patch plan) into the runtime's
//! plan bytes (`quantmcu_rt::plan`): op records with the parameters the
//! reference executor prepared (so both derive them once, the same way),
//! arena offsets from the memory planners, and the list of steps.

use quantmcu_rt::geometry::{Geometry, Rect};
use quantmcu_rt::plan::{OpKind as RtOp, StepKind, HEADER_WORDS, MAGIC, VERSION};

use crate::ir::{DType, Graph, OpKind, TensorId};
use crate::memory::{plan_layer_based, Buffer};
use crate::patch::arena::{patch_layout, InputMode, Role};
use crate::patch::stage::{footprint, hwc, Footprint};
use crate::patch::TilePlan;
use crate::reference::{Interpreter, Kernel};
use crate::{Error, Result};

/// Plan bytes (in 32-bit words, so they are 4-byte aligned) and what the
/// caller needs to feed and read them.
#[derive(Clone, Debug)]
pub struct CompiledPlan {
    pub words: Vec<u32>,
    /// The int8 tensor the plan reads (the model's int8 input).
    pub input: TensorId,
    /// The int8 tensor the plan writes out.
    pub output: TensorId,
    /// Ops that run on the host outside the plan: the float boundary.
    pub host_ops_before: std::ops::Range<usize>,
    pub host_ops_after: std::ops::Range<usize>,
    pub arena_bytes: usize,
}

impl CompiledPlan {
    /// The plan as bytes.
    pub fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.words)
    }
}

struct Writer<'a> {
    graph: &'a Graph,
    interp: &'a Interpreter<'a>,
    ops: Vec<Vec<u32>>,
    op_of: Vec<Option<u32>>,
    steps: Vec<u32>,
    n_steps: u32,
    data: Vec<u8>,
    scratch_words: usize,
}

fn w(v: i32) -> u32 {
    v as u32
}

impl Writer<'_> {
    fn i8s(&mut self, v: &[i8]) -> u32 {
        let at = self.data.len();
        self.data.extend(v.iter().map(|&x| x as u8));
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
        at as u32
    }

    fn i32s(&mut self, v: &[i32]) -> u32 {
        let at = self.data.len();
        v.iter().for_each(|x| self.data.extend_from_slice(&x.to_le_bytes()));
        at as u32
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

    /// The plan op of graph op `i`, encoded on first use.
    fn op(&mut self, i: usize) -> Result<u32> {
        if let Some(k) = self.op_of[i] {
            return Ok(k);
        }
        let g = self.graph;
        let op = &g.ops[i];
        let unsupported = |what: &str| Error::Op {
            model: g.name.clone(),
            index: i,
            op: op.kind.name().into(),
            detail: format!("{what} is not supported by the runtime yet"),
        };
        let channels = hwc(g, op.output()).map_or(1, |s| s[2]);
        let geometry = match footprint(g, i) {
            Some(Footprint::Window(geo)) => Some(geo),
            _ => None,
        };
        let mut rec = Vec::new();
        match self.interp.kernel(i) {
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
                rec.push(*g.tensors[op.output()].shape.last().unwrap_or(&1) as u32);
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
                rec.push(RtOp::Softmax as u32);
                rec.extend([p.input_multiplier, p.input_left_shift, p.diff_min].map(w));
                rec.push(*depth as u32);
            }
            Kernel::Concatenation(k) => {
                if op.inputs.iter().flatten().any(|&t| g.tensors[t].is_constant()) {
                    return Err(unsupported("CONCATENATION of a constant"));
                }
                rec.push(RtOp::Concatenation as u32);
                rec.extend([k.outer as u32, k.slabs.len() as u32]);
                rec.extend(k.slabs.iter().map(|&s| s as u32));
            }
            _ => return Err(unsupported("this op")),
        }
        let k = self.ops.len() as u32;
        self.ops.push(rec);
        self.op_of[i] = Some(k);
        Ok(k)
    }

    /// Appends one step: its kind, then `words`.
    fn step(&mut self, kind: StepKind, words: &[usize]) {
        self.steps.push(kind as u32);
        self.steps.extend(words.iter().map(|&v| v as u32));
        self.n_steps += 1;
    }

    /// A step running graph op `i` on the given windows (offset, rect each).
    fn run(&mut self, i: usize, out: (usize, Rect), ins: &[(usize, Rect)]) -> Result<()> {
        let (o, r) = out;
        let mut words = vec![self.op(i)? as usize, o, r.y, r.x, r.h, r.w, ins.len()];
        for &(o, r) in ins {
            words.extend([o, r.y, r.x, r.h, r.w]);
        }
        self.step(StepKind::Run, &words);
        Ok(())
    }
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

/// Compiles `graph` into plan bytes: layer by layer (`patch: None`) or with a
/// patch stage.
pub fn compile(graph: &Graph, interp: &Interpreter, patch: Option<(&TilePlan, InputMode)>) -> Result<CompiledPlan> {
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
            detail: "no int8 op to compile".into(),
        });
    }
    let output = graph.ops[end - 1].output();
    let mut wr = Writer {
        graph,
        interp,
        ops: Vec::new(),
        op_of: vec![None; n],
        steps: Vec::new(),
        n_steps: 0,
        data: Vec::new(),
        scratch_words: 0,
    };
    let [ih, iw, ic] = hwc(graph, input).unwrap_or([1, graph.tensors[input].elements(), 1]);
    let (buffers, roles, arena_bytes, layer_from) = match patch {
        None => {
            let plan = plan_layer_based(graph);
            let roles = vec![Role::Map; plan.buffers.len()];
            (plan.buffers, roles, plan.arena_bytes, first)
        }
        Some((tp, mode)) => {
            let layout = patch_layout(graph, tp, mode);
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
            if mode == InputMode::Streamed {
                let (o, r) = place(input);
                load(&mut wr, o, r);
            }
            for &i in &stage.ops {
                let op = &graph.ops[i];
                let ins: Vec<(usize, Rect)> = graph.activation_inputs(op).into_iter().map(place).collect();
                wr.run(i, place(op.output()), &ins)?;
            }
            let (src, r) = place(stage.split);
            wr.step(
                StepKind::StoreTile,
                &[src, r.y, r.x, r.h, r.w, find(stage.split, Role::Map), sh, sw, sc],
            );
        }
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
    Ok(CompiledPlan {
        words,
        input,
        output,
        host_ops_before: 0..first,
        host_ops_after: end..n,
        arena_bytes,
    })
}

//! Runs a patch plan on the host inside one arena of exactly the planned
//! size ([`super::arena::patch_layout`]), through the runtime's kernels
//! (`quantmcu-rt`) with the requantization parameters the reference executor
//! prepared. Every buffer is a sub-slice of the arena at its planned offset,
//! so a buffer placed outside the arena, or two live buffers that overlap,
//! fail (a slice bound panics, or the output differs from the reference).
//! Float boundary ops (a leading QUANTIZE, a trailing DEQUANTIZE) run outside
//! the arena with the reference executor, as a firmware converts on the fly.

use std::ops::Range;

use quantmcu_rt::geometry::Rect;
use quantmcu_rt::kernels::{
    add, conv2d, depthwise_conv2d, fully_connected, mean, pad, pool, requantize, OutputStage, Window, WindowMut,
};

use super::arena::{patch_layout, InputMode, PatchLayout, Role};
use super::stage::{footprint, hwc, Footprint};
use super::tiling::TilePlan;
use crate::ir::{DType, Graph, OpKind, TensorId};
use crate::reference::{Interpreter, Kernel, Requant};
use crate::tensor::TensorData;
use crate::{Error, Result};

/// A patch plan bound to a prepared interpreter of the same graph.
pub struct PatchRunner<'a, 'g> {
    interp: &'a Interpreter<'g>,
    plan: &'a TilePlan,
    mode: InputMode,
    layout: PatchLayout,
}

fn output_stage<'k>(requant: &'k Requant, offset: i32, range: (i32, i32)) -> OutputStage<'k> {
    OutputStage {
        multiplier: &requant.multiplier,
        shift: &requant.shift,
        offset,
        min: range.0,
        max: range.1,
    }
}

/// Splits the arena into the output range (writable) and input ranges
/// (read-only); panics if the output overlaps an input (a planner bug).
fn split_io<'a>(arena: &'a mut [i8], out: Range<usize>, ins: &[Range<usize>]) -> (&'a mut [i8], Vec<&'a [i8]>) {
    let (lo, rest) = arena.split_at_mut(out.start);
    let (o, hi) = rest.split_at_mut(out.end - out.start);
    let (lo, hi): (&'a [i8], &'a [i8]) = (lo, hi);
    let ins = ins
        .iter()
        .map(|r| {
            if r.end <= out.start {
                &lo[r.clone()]
            } else {
                assert!(r.start >= out.end, "input bytes {r:?} overlap output bytes {out:?}");
                &hi[r.start - out.end..r.end - out.end]
            }
        })
        .collect();
    (o, ins)
}

impl<'a, 'g> PatchRunner<'a, 'g> {
    /// Binds `plan` to `interp`; `mode` decides whether tiles read the whole
    /// resident input or only their input window (streamed from outside the
    /// arena).
    pub fn new(interp: &'a Interpreter<'g>, plan: &'a TilePlan, mode: InputMode) -> Self {
        let layout = patch_layout(interp.graph(), plan, mode);
        PatchRunner {
            interp,
            plan,
            mode,
            layout,
        }
    }

    /// Size of the arena the runner uses (the plan's peak SRAM).
    pub fn arena_bytes(&self) -> usize {
        self.layout.memory.peak_bytes
    }

    /// Runs the whole graph in an arena of exactly [`Self::arena_bytes`] and
    /// returns every tensor value (int8 tensors copied out after their op).
    pub fn run_all(&self, inputs: &[TensorData]) -> Result<Vec<Option<TensorData>>> {
        let graph = self.interp.graph();
        let stage = &self.plan.stage;
        let (first, last) = (stage.ops[0], *stage.ops.last().expect("stage ops"));
        let mut values = self.interp.feed(inputs)?;
        self.interp.run_ops(&mut values, 0..first);
        let mut arena = vec![0i8; self.arena_bytes()];
        let input = values[stage.input]
            .as_ref()
            .expect("stage input computed")
            .as_i8()
            .to_vec();
        self.run_stage(&input, &mut arena);
        values[stage.split] = Some(TensorData::I8(self.map(&arena, stage.split).to_vec()));
        for i in last + 1..graph.ops.len() {
            let out = graph.ops[i].output();
            if graph.tensors[out].dtype == DType::I8 {
                self.run_layer_op(graph, i, &mut arena)?;
                values[out] = Some(TensorData::I8(self.map(&arena, out).to_vec()));
            } else {
                self.interp.run_ops(&mut values, i..i + 1);
            }
        }
        Ok(values)
    }

    fn map_range(&self, t: TensorId) -> Range<usize> {
        let (offset, _) = self.layout.find(t, Role::Map).expect("map tensors have arena buffers");
        offset..offset + self.interp.graph().tensors[t].elements()
    }

    fn map<'x>(&self, arena: &'x [i8], t: TensorId) -> &'x [i8] {
        &arena[self.map_range(t)]
    }

    /// Runs the patch stage tile by tile; the split map ends up in the arena.
    fn run_stage(&self, input: &[i8], arena: &mut [i8]) {
        let graph = self.interp.graph();
        let stage = &self.plan.stage;
        let channels = |t: TensorId| hwc(graph, t).expect("stage tensors are maps")[2];
        let [ih, iw, ic] = hwc(graph, stage.input).expect("input is a map");
        let full_input = Rect::full(ih, iw);
        let mut scratch: Vec<i32> = Vec::new();
        // Where each stage tensor's data lives for the current tile.
        let tile_range = |t: TensorId, rect: Rect| {
            let (offset, bytes) = self
                .layout
                .find(t, Role::Tile)
                .expect("stage tensors have tile buffers");
            let len = rect.area() * channels(t);
            assert!(len <= bytes, "tile window of {len} bytes in a {bytes}-byte buffer");
            offset..offset + len
        };
        if self.mode == InputMode::Resident {
            arena[self.map_range(stage.input)].copy_from_slice(input);
        }
        for tile in &self.plan.tiles {
            let input_place = match self.mode {
                InputMode::Resident => (self.map_range(stage.input), full_input),
                InputMode::Streamed => {
                    let r = tile.rect(stage.input);
                    let range = tile_range(stage.input, r);
                    for (k, yy) in (r.y..r.y + r.h).enumerate() {
                        let src = full_input.offset(yy, r.x, ic);
                        arena[range.start + k * r.w * ic..][..r.w * ic].copy_from_slice(&input[src..src + r.w * ic]);
                    }
                    (range, r)
                }
            };
            let place = |t: TensorId| {
                if t == stage.input {
                    input_place.clone()
                } else {
                    let r = tile.rect(t);
                    (tile_range(t, r), r)
                }
            };
            for &i in &stage.ops {
                let op = &graph.ops[i];
                let (out_range, out_rect) = place(op.output());
                let reads: Vec<TensorId> = op
                    .inputs
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|&t| !graph.tensors[t].is_constant())
                    .collect();
                let places: Vec<(Range<usize>, Rect)> = reads.iter().map(|&t| place(t)).collect();
                let ranges: Vec<Range<usize>> = places.iter().map(|p| p.0.clone()).collect();
                let (y, xs) = split_io(arena, out_range, &ranges);
                let windows: Vec<Window> = xs
                    .iter()
                    .zip(&places)
                    .map(|(d, p)| Window { data: d, rect: p.1 })
                    .collect();
                self.run_op(
                    graph,
                    i,
                    &windows,
                    WindowMut {
                        data: y,
                        rect: out_rect,
                    },
                    &mut scratch,
                );
            }
            // Copy the split tile into the split map.
            let (tile_data, rect) = place(stage.split);
            let split = self.map_range(stage.split);
            let (dst, src) = split_io(arena, split, &[tile_data]);
            let [_, sw, sc] = hwc(graph, stage.split).expect("split is a map");
            for row in 0..rect.h {
                let d = ((rect.y + row) * sw + rect.x) * sc;
                dst[d..d + rect.w * sc].copy_from_slice(&src[0][row * rect.w * sc..(row + 1) * rect.w * sc]);
            }
        }
    }

    /// Runs layer-phase op `i` on whole maps in the arena.
    fn run_layer_op(&self, graph: &Graph, i: usize, arena: &mut [i8]) -> Result<()> {
        let op = &graph.ops[i];
        let unsupported = |what: &str| Error::Op {
            model: graph.name.clone(),
            index: i,
            op: op.kind.name().into(),
            detail: format!("{what} is not supported by the runtime yet"),
        };
        if op.kind == OpKind::Reshape {
            return Ok(()); // The output aliases the input's buffer.
        }
        let reads: Vec<TensorId> = op
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&t| !graph.tensors[t].is_constant())
            .collect();
        let constant_operand = op.inputs.iter().flatten().any(|&t| graph.tensors[t].is_constant());
        if matches!(op.kind, OpKind::Add { .. } | OpKind::Concatenation { .. }) && constant_operand {
            return Err(unsupported("a constant operand"));
        }
        let ranges: Vec<Range<usize>> = reads.iter().map(|&t| self.map_range(t)).collect();
        let (y, xs) = split_io(arena, self.map_range(op.output()), &ranges);
        if footprint(graph, i).is_some() {
            let rect = |t: TensorId| hwc(graph, t).map(|s| Rect::full(s[0], s[1])).expect("maps");
            let windows: Vec<Window> = xs
                .iter()
                .zip(&reads)
                .map(|(d, &t)| Window { data: d, rect: rect(t) })
                .collect();
            self.run_op(
                graph,
                i,
                &windows,
                WindowMut {
                    data: y,
                    rect: rect(op.output()),
                },
                &mut Vec::new(),
            );
            return Ok(());
        }
        match self.interp.kernel(i) {
            Kernel::FullyConnected(k) => {
                let p = fully_connected::FullyConnectedParams {
                    input_offset: k.input_offset,
                    filter: &k.filter,
                    bias: &k.bias,
                    output: output_stage(&k.requant, k.output_offset, k.range),
                };
                fully_connected::fully_connected(&p, xs[0], y);
            }
            Kernel::Mean(k) if k.reduced == [false, true, true, false] => {
                let p = mean::MeanParams {
                    input_zero_point: k.input_zp,
                    output_zero_point: k.output_zp,
                    requant: k.requant,
                };
                mean::mean_hw(&p, xs[0], k.input[1] * k.input[2], k.input[3], y);
            }
            Kernel::Softmax(p, depth) => {
                for (x, y) in xs[0].chunks_exact(*depth).zip(y.chunks_exact_mut(*depth)) {
                    quantmcu_rt::softmax::softmax_int8(p, x, y);
                }
            }
            Kernel::Concatenation(k) => {
                let mut o = 0;
                for outer in 0..k.outer {
                    for (x, &slab) in xs.iter().zip(&k.slabs) {
                        y[o..o + slab].copy_from_slice(&x[outer * slab..(outer + 1) * slab]);
                        o += slab;
                    }
                }
            }
            Kernel::Mean(_) => return Err(unsupported("MEAN over other axes than height and width")),
            Kernel::Add(_) => return Err(unsupported("ADD with broadcasting")),
            _ => return Err(unsupported("this op")),
        }
        Ok(())
    }

    /// Runs windowed op `i`: `xs` are the windows of its activation inputs in
    /// order.
    fn run_op(&self, graph: &Graph, i: usize, xs: &[Window], y: WindowMut, scratch: &mut Vec<i32>) {
        let x = xs[0];
        let geometry = match footprint(graph, i) {
            Some(Footprint::Window(g)) => Some(g),
            _ => None,
        };
        match self.interp.kernel(i) {
            Kernel::Conv2d(k) => {
                let p = conv2d::Conv2dParams {
                    geometry: geometry.expect("conv has a window"),
                    input_offset: k.input_offset,
                    filter: &k.filter,
                    bias: &k.bias,
                    output: output_stage(&k.requant, k.output_offset, k.range),
                };
                scratch.resize(conv2d::conv2d_scratch_len(&p), 0);
                conv2d::conv2d(&p, x, y, scratch);
            }
            Kernel::DepthwiseConv2d(k) => {
                let p = depthwise_conv2d::DepthwiseConv2dParams {
                    geometry: geometry.expect("depthwise has a window"),
                    input_offset: k.input_offset,
                    filter: &k.filter,
                    bias: &k.bias,
                    output: output_stage(&k.requant, k.output_offset, k.range),
                };
                depthwise_conv2d::depthwise_conv2d(&p, x, y);
            }
            Kernel::Pool2d(k) => {
                let p = pool::Pool2dParams {
                    geometry: geometry.expect("pool has a window"),
                    min: k.range.0,
                    max: k.range.1,
                };
                if k.average {
                    pool::average_pool2d(&p, x, y);
                } else {
                    pool::max_pool2d(&p, x, y);
                }
            }
            Kernel::Pad(k) => {
                let p = pad::PadParams {
                    input: [k.input[1], k.input[2], k.input[3]],
                    before: [k.before[1], k.before[2]],
                    value: k.fill,
                };
                pad::pad(&p, x, y);
            }
            Kernel::Add(k) => {
                let p = add::AddParams {
                    input_offsets: k.offsets,
                    input_multipliers: [k.multipliers[0].0, k.multipliers[1].0],
                    input_shifts: [k.multipliers[0].1, k.multipliers[1].1],
                    output_multiplier: k.output.0,
                    output_shift: k.output.1,
                    output_offset: k.output_offset,
                    min: k.range.0,
                    max: k.range.1,
                };
                let b = xs[1];
                elementwise(x, Some(b), y, |a, b, out| add::add(&p, a, b.expect("two inputs"), out));
            }
            Kernel::Requantize(k) => elementwise(x, None, y, |a, _, out| {
                requantize::requantize(k.input_zp, k.multiplier.0, k.multiplier.1, k.output_zp, a, out)
            }),
            _ => unreachable!("op {i} has a footprint, so a tile kernel"),
        }
    }
}

/// Applies a row kernel to each row of `y.rect`, reading the same rows of the
/// input windows (which may be larger than `y.rect`).
fn elementwise(a: Window, b: Option<Window>, y: WindowMut, f: impl Fn(&[i8], Option<&[i8]>, &mut [i8])) {
    let r = y.rect;
    if r.area() == 0 {
        return;
    }
    let c = y.data.len() / r.area();
    fn row<'d>(w: &Window<'d>, yy: usize, r: Rect, c: usize) -> &'d [i8] {
        &w.data[w.rect.offset(yy, r.x, c)..][..r.w * c]
    }
    for (k, out) in y.data.chunks_exact_mut(r.w * c).enumerate() {
        f(row(&a, r.y + k, r, c), b.as_ref().map(|b| row(b, r.y + k, r, c)), out);
    }
}

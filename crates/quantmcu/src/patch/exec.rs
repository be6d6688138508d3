//! Runs a patch plan on the host through the runtime's tile kernels
//! (`quantmcu-rt`), with the requantization parameters the reference
//! executor prepared: the patch stage tile by tile (each tile from exactly its
//! windows), the ops before and after it with the reference executor.

use quantmcu_rt::geometry::Rect;
use quantmcu_rt::kernels::{add, conv2d, depthwise_conv2d, pad, pool, requantize, OutputStage, Window, WindowMut};

use super::arena::InputMode;
use super::stage::{footprint, hwc, Footprint};
use super::tiling::TilePlan;
use crate::ir::{Graph, TensorId};
use crate::reference::{Interpreter, Kernel, Requant};
use crate::tensor::TensorData;
use crate::Result;

/// A patch plan bound to a prepared interpreter of the same graph.
pub struct PatchRunner<'a, 'g> {
    interp: &'a Interpreter<'g>,
    plan: &'a TilePlan,
    mode: InputMode,
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

impl<'a, 'g> PatchRunner<'a, 'g> {
    /// Binds `plan` to `interp`; `mode` decides whether tiles read the whole
    /// resident input or a copy of exactly their input window (streamed).
    pub fn new(interp: &'a Interpreter<'g>, plan: &'a TilePlan, mode: InputMode) -> Self {
        PatchRunner { interp, plan, mode }
    }

    /// Runs the whole graph: the ops before the stage and after it with the
    /// reference executor, the stage tile by tile. Returns every tensor value.
    pub fn run_all(&self, inputs: &[TensorData]) -> Result<Vec<Option<TensorData>>> {
        let graph = self.interp.graph();
        let stage = &self.plan.stage;
        let (first, last) = (stage.ops[0], *stage.ops.last().expect("stage ops"));
        let mut values = self.interp.feed(inputs)?;
        self.interp.run_ops(&mut values, 0..first);
        let input = values[stage.input].as_ref().expect("stage input computed").as_i8();
        let split = self.run_stage(input);
        values[stage.split] = Some(TensorData::I8(split));
        self.interp.run_ops(&mut values, last + 1..graph.ops.len());
        Ok(values)
    }

    /// Runs the patch stage on the int8 input map and returns the split map.
    pub fn run_stage(&self, input: &[i8]) -> Vec<i8> {
        let graph = self.interp.graph();
        let stage = &self.plan.stage;
        let channels = |t: TensorId| hwc(graph, t).expect("stage tensors are maps")[2];
        let [sh, sw, sc] = hwc(graph, stage.split).expect("split is a map");
        let full_input = hwc(graph, stage.input).expect("input is a map");
        let mut split = vec![0i8; sh * sw * sc];
        let mut scratch: Vec<i32> = Vec::new();
        for tile in &self.plan.tiles {
            let mut bufs: Vec<(TensorId, Rect, Vec<i8>)> = Vec::with_capacity(stage.ops.len() + 1);
            match self.mode {
                InputMode::Resident => {
                    bufs.push((stage.input, Rect::full(full_input[0], full_input[1]), input.to_vec()))
                }
                InputMode::Streamed => {
                    let r = tile.rect(stage.input);
                    bufs.push((
                        stage.input,
                        r,
                        crop(input, Rect::full(full_input[0], full_input[1]), r, full_input[2]),
                    ));
                }
            }
            for &i in &stage.ops {
                let out = graph.ops[i].output();
                let rect = tile.rect(out);
                let mut y = vec![0i8; rect.area() * channels(out)];
                let window = |t: TensorId| {
                    let (_, r, d) = bufs.iter().find(|(u, _, _)| *u == t).expect("inputs precede their op");
                    Window { data: d, rect: *r }
                };
                self.run_op(graph, i, &window, WindowMut { data: &mut y, rect }, &mut scratch);
                bufs.push((out, rect, y));
            }
            let (_, rect, data) = bufs.last().expect("stage has ops");
            for row in 0..rect.h {
                let dst = ((rect.y + row) * sw + rect.x) * sc;
                split[dst..dst + rect.w * sc].copy_from_slice(&data[row * rect.w * sc..(row + 1) * rect.w * sc]);
            }
        }
        split
    }

    fn run_op<'w>(
        &self,
        graph: &Graph,
        i: usize,
        window: &dyn Fn(TensorId) -> Window<'w>,
        y: WindowMut,
        scratch: &mut Vec<i32>,
    ) {
        let op = &graph.ops[i];
        let x = window(op.input(0).expect("stage ops read an input"));
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
                let b = window(op.input(1).expect("add has two inputs"));
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

/// Copies window `r` out of a compact buffer holding window `from`.
fn crop(data: &[i8], from: Rect, r: Rect, c: usize) -> Vec<i8> {
    let mut out = Vec::with_capacity(r.area() * c);
    for y in r.y..r.y + r.h {
        out.extend_from_slice(&data[from.offset(y, r.x, c)..][..r.w * c]);
    }
    out
}

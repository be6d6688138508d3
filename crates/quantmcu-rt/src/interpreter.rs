//! Executes a parsed [`Plan`] in a caller-provided arena: no allocation, no
//! panics (every record was checked by [`Plan::parse`]).

use crate::geometry::Rect;
use crate::ops::add::{add, add_lowbit, AddParams};
use crate::ops::conv2d::{conv2d, conv2d_lowbit, Conv2dParams};
use crate::ops::depthwise_conv2d::{
    can_run_in_place, depthwise_conv2d, depthwise_conv2d_in_place, depthwise_conv2d_lowbit, in_place_offset_ok,
    in_place_temp_len, DepthwiseConv2dParams,
};
use crate::ops::fully_connected::{fully_connected, fully_connected_lowbit, FullyConnectedParams};
use crate::ops::mean::{mean_hw, MeanParams};
use crate::ops::pad::{pad, pad_input_rect, pad_lowbit, PadParams};
use crate::ops::pool::{
    average_pool2d, average_pool2d_lowbit, max_pool2d, max_pool2d_lowbit, Pool2dParams, PoolRescale,
};
use crate::ops::requantize::requantize;
use crate::plan::{Cursor, OpKind, Place, Plan, PlanError, Rule, StepKind, MAX_DIM, MAX_MAPS, NOT_A_MAP};
use crate::softmax::{softmax_int8, SoftmaxParams};
use crate::view::{Clean, Codes, CodesMut, Outlier, OutputStage, Window, WindowMut};

/// A decoded op with its kernel parameters borrowed from the plan.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    Conv2d(Conv2dParams<'a>),
    DepthwiseConv2d(DepthwiseConv2dParams<'a>),
    AveragePool2d(Pool2dParams, PoolRescale<'a>),
    MaxPool2d(Pool2dParams, PoolRescale<'a>),
    Pad(PadParams),
    /// Elementwise over `channels`-deep pixels.
    Add(AddParams, usize),
    Requantize {
        input_zp: i32,
        multiplier: i32,
        shift: i32,
        output_zp: i32,
        channels: usize,
    },
    FullyConnected(FullyConnectedParams<'a>, usize, usize),
    MeanHw(MeanParams, usize, usize),
    Softmax(SoftmaxParams, usize),
    Concatenation {
        outer: usize,
        slabs: &'a [u32],
    },
    Mixed(Mixed<'a>),
}

/// Words of one variant in a [`OpKind::Mixed`] record.
const VARIANT_WORDS: usize = 5;
/// Most variants one mixed op may hold (2 inputs x 2 widths x 2 outputs).
const MAX_VARIANTS: usize = 8;

/// A mixed-precision op: the maps it reads and writes and its variants.
#[derive(Clone, Copy, Debug)]
pub struct Mixed<'a> {
    pub out_map: u32,
    pub in_maps: [u32; 2],
    pub n_in: usize,
    variants: &'a [u32],
}

/// One (input widths, output width) variant of a mixed op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Variant {
    out_bits: u32,
    in_bits: [u32; 2],
    op: usize,
    n_clean: usize,
    lo_at: usize,
    hi_at: usize,
}

impl Mixed<'_> {
    fn variants(&self) -> impl Iterator<Item = Variant> + '_ {
        self.variants.chunks_exact(VARIANT_WORDS).map(|v| Variant {
            out_bits: v[0] & 0xff,
            in_bits: [(v[0] >> 8) & 0xff, (v[0] >> 16) & 0xff],
            op: v[1] as usize,
            n_clean: v[2] as usize,
            lo_at: v[3] as usize,
            hi_at: v[4] as usize,
        })
    }

    /// The variant reading `in_bits` and writing `out_bits`.
    fn variant(&self, in_bits: [u32; 2], out_bits: u32) -> Option<Variant> {
        self.variants().find(|v| v.in_bits == in_bits && v.out_bits == out_bits)
    }
}

/// Width of map `m` now: 8 for a plain int8 tensor.
fn width(state: &[u8; MAX_MAPS], m: u32) -> u32 {
    if m == NOT_A_MAP {
        8
    } else {
        u32::from(state[m as usize])
    }
}

fn output_stage<'a>(
    plan: &Plan<'a>,
    c: &mut Cursor<'a>,
    channels: usize,
    op: usize,
) -> Result<OutputStage<'a>, PlanError> {
    let (offset, min, max, n) = (c.i()?, c.i()?, c.i()?, c.u()?);
    if n != 1 && n != channels {
        return Err(PlanError::BadOp(op));
    }
    let stage = OutputStage {
        offset,
        min,
        max,
        multiplier: plan.i32s(c.u()?, n)?,
        shift: plan.i32s(c.u()?, n)?,
    };
    if !stage.shift.iter().all(|&s| shift_ok(s)) || min > max {
        return Err(PlanError::BadOp(op));
    }
    Ok(stage)
}

/// Shifts the fixed-point requantization is defined for.
fn shift_ok(s: i32) -> bool {
    (-31..=30).contains(&s)
}

/// Decodes and checks op record `op`.
pub(crate) fn decode_op<'a>(plan: &Plan<'a>, op: usize) -> Result<Op<'a>, PlanError> {
    let mut c = plan.op_cursor(op)?;
    let kind = c.u()? as u32;
    let bad = PlanError::BadOp(op);
    let kind = OpKind::from_u32(kind).ok_or(PlanError::UnknownKind(kind))?;
    let positive = |g: &crate::geometry::Geometry| {
        g.kernel.iter().chain(&g.stride).chain(&g.dilation).all(|&v| v > 0)
            && g.input.iter().chain(&g.output).all(|&v| v > 0)
    };
    Ok(match kind {
        OpKind::Conv2d | OpKind::DepthwiseConv2d => {
            let geometry = c.geometry()?;
            let input_offset = c.i()?;
            let oc = geometry.output[2];
            let output = output_stage(plan, &mut c, oc, op)?;
            let (filter_at, filter_len, bias_at) = (c.u()?, c.u()?, c.u()?);
            let filter = plan.i8s(filter_at, filter_len)?;
            let bias = plan.i32s(bias_at, oc)?;
            let taps = geometry.kernel[0] * geometry.kernel[1];
            if !positive(&geometry) || filter_len == 0 {
                return Err(bad);
            }
            if kind == OpKind::Conv2d {
                let depth = filter_len / (oc * taps);
                let ok = filter_len % (oc * taps) == 0
                    && depth > 0
                    && geometry.input[2] % depth == 0
                    && oc % (geometry.input[2] / depth) == 0;
                if !ok {
                    return Err(bad);
                }
                Op::Conv2d(Conv2dParams {
                    geometry,
                    input_offset,
                    filter,
                    bias,
                    output,
                })
            } else {
                if filter_len != taps * oc || oc % geometry.input[2] != 0 {
                    return Err(bad);
                }
                Op::DepthwiseConv2d(DepthwiseConv2dParams {
                    geometry,
                    input_offset,
                    filter,
                    bias,
                    output,
                })
            }
        }
        OpKind::AveragePool2d | OpKind::MaxPool2d => {
            let geometry = c.geometry()?;
            let p = Pool2dParams {
                geometry,
                min: c.i()?,
                max: c.i()?,
            };
            let input_offset = c.i()?;
            let r = PoolRescale {
                input_offset,
                output: output_stage(plan, &mut c, 1, op)?,
            };
            if !positive(&geometry) || geometry.input[2] != geometry.output[2] || p.min > p.max {
                return Err(bad);
            }
            if kind == OpKind::AveragePool2d {
                Op::AveragePool2d(p, r)
            } else {
                Op::MaxPool2d(p, r)
            }
        }
        OpKind::Pad => {
            let input = [c.dim()?, c.dim()?, c.dim()?];
            Op::Pad(PadParams {
                input,
                before: [c.dim()?, c.dim()?],
                value: c.i()? as i8,
            })
        }
        OpKind::Add => {
            let mut v = [0i32; 11];
            for x in v.iter_mut() {
                *x = c.i()?;
            }
            let p = AddParams {
                input_offsets: [v[0], v[1]],
                input_multipliers: [v[2], v[3]],
                input_shifts: [v[4], v[5]],
                output_multiplier: v[6],
                output_shift: v[7],
                output_offset: v[8],
                min: v[9],
                max: v[10],
            };
            if ![v[4], v[5], v[7]].iter().all(|&s| shift_ok(s)) || p.min > p.max {
                return Err(bad);
            }
            Op::Add(p, c.dim()?)
        }
        OpKind::Requantize => {
            let (input_zp, multiplier, shift, output_zp, channels) = (c.i()?, c.i()?, c.i()?, c.i()?, c.dim()?);
            if !shift_ok(shift) {
                return Err(bad);
            }
            Op::Requantize {
                input_zp,
                multiplier,
                shift,
                output_zp,
                channels,
            }
        }
        OpKind::FullyConnected => {
            let (input_offset, units, depth) = (c.i()?, c.dim()?, c.dim()?);
            let output = output_stage(plan, &mut c, units, op)?;
            let filter = plan.i8s(c.u()?, units.checked_mul(depth).ok_or(bad)?)?;
            let bias = plan.i32s(c.u()?, units)?;
            if units == 0 || depth == 0 {
                return Err(bad);
            }
            Op::FullyConnected(
                FullyConnectedParams {
                    input_offset,
                    filter,
                    bias,
                    output,
                },
                units,
                depth,
            )
        }
        OpKind::MeanHw => {
            let (input_zero_point, output_zero_point, has) = (c.i()?, c.i()?, c.u()?);
            let (m, s) = (c.i()?, c.i()?);
            let (hw, ch) = (c.u()?, c.dim()?);
            if hw > MAX_DIM * MAX_DIM {
                return Err(bad);
            }
            let requant = (has != 0).then_some((m, s));
            if hw == 0 || ch == 0 || !shift_ok(s) {
                return Err(bad);
            }
            Op::MeanHw(
                MeanParams {
                    input_zero_point,
                    output_zero_point,
                    requant,
                },
                hw,
                ch,
            )
        }
        OpKind::Softmax => {
            let p = SoftmaxParams {
                input_multiplier: c.i()?,
                input_left_shift: c.i()?,
                diff_min: c.i()?,
            };
            let depth = c.u()?;
            // Beyond 4096 classes the Q12.19 sum of exponentials overflows.
            if !(1..4096).contains(&depth) || !(0..=30).contains(&p.input_left_shift) || p.diff_min > 0 {
                return Err(bad);
            }
            Op::Softmax(p, depth)
        }
        OpKind::Concatenation => {
            let (outer, n) = (c.dim()?, c.dim()?);
            let end = c.at.checked_add(n).ok_or(bad)?;
            let slabs = c.words.get(c.at..end).ok_or(PlanError::Truncated(c.at * 4))?;
            Op::Concatenation { outer, slabs }
        }
        OpKind::Mixed => Op::Mixed(decode_mixed(plan, &mut c, op)?),
    })
}

/// Decodes and checks a mixed record (everything but the widths of the maps
/// it reads, which [`check_mixed`] checks once every map's width is known).
fn decode_mixed<'a>(plan: &Plan<'a>, c: &mut Cursor<'a>, op: usize) -> Result<Mixed<'a>, PlanError> {
    let bad = PlanError::BadOp(op);
    let map_ok = |m: u32| m == NOT_A_MAP || (m as usize) < plan.n_maps;
    let out_map = c.u()? as u32;
    let n_in = c.u()?;
    if !(1..=2).contains(&n_in) || !map_ok(out_map) {
        return Err(bad);
    }
    let mut in_maps = [NOT_A_MAP; 2];
    for m in in_maps.iter_mut().take(n_in) {
        *m = c.u()? as u32;
        if !map_ok(*m) {
            return Err(bad);
        }
    }
    let n = c.u()?;
    if !(1..=MAX_VARIANTS).contains(&n) {
        return Err(bad);
    }
    let end = c.at + n * VARIANT_WORDS;
    let variants = c.words.get(c.at..end).ok_or(PlanError::Truncated(c.at * 4))?;
    let m = Mixed {
        out_map,
        in_maps,
        n_in,
        variants,
    };
    let mut first: Option<(OpKind, usize)> = None;
    for (k, v) in m.variants().enumerate() {
        let bits_ok = |b: u32| (1..=8).contains(&b);
        let ins_ok = (0..2).all(|j| {
            if j < n_in {
                bits_ok(v.in_bits[j]) && (in_maps[j] != NOT_A_MAP || v.in_bits[j] == 8)
            } else {
                v.in_bits[j] == 0
            }
        });
        let out_ok = bits_ok(v.out_bits) && (out_map != NOT_A_MAP || v.out_bits == 8);
        // Each pair once.
        let unique = m
            .variants()
            .take(k)
            .all(|u| (u.in_bits, u.out_bits) != (v.in_bits, v.out_bits));
        if !ins_ok || !out_ok || !unique {
            return Err(bad);
        }
        let kind_word = plan.op_cursor(v.op)?.u()? as u32;
        let kind = OpKind::from_u32(kind_word).ok_or(PlanError::UnknownKind(kind_word))?;
        let inputs = if kind == OpKind::Add { 2 } else { 1 };
        let allowed = matches!(
            kind,
            OpKind::Conv2d
                | OpKind::DepthwiseConv2d
                | OpKind::AveragePool2d
                | OpKind::MaxPool2d
                | OpKind::Pad
                | OpKind::Add
                | OpKind::FullyConnected
        );
        if !allowed {
            return Err(bad);
        }
        // Decoded only now: a mixed record never holds another one.
        let channels = out_channels(&plan.op(v.op)?);
        // PAD copies codes: it keeps the width and never checks.
        let pad_ok = kind != OpKind::Pad || (v.out_bits == v.in_bits[0] && v.n_clean == 0);
        let clean_ok = match v.n_clean {
            0 => true,
            n => v.out_bits < 8 && (n == 1 || n == channels),
        };
        if !allowed || inputs != n_in || !pad_ok || !clean_ok || first.is_some_and(|f| f != (kind, channels)) {
            return Err(bad);
        }
        if v.n_clean > 0 {
            plan.i32s(v.lo_at, v.n_clean)?;
            plan.i32s(v.hi_at, v.n_clean)?;
        }
        first = Some((kind, channels));
    }
    Ok(m)
}

/// The low width of every map, from the mixed records that write it (8 for
/// a map no record writes below 8 bits).
pub(crate) fn map_bits(plan: &Plan) -> Result<[u8; MAX_MAPS], PlanError> {
    let mut bits = [8u8; MAX_MAPS];
    for op in 0..plan.n_ops {
        if let Op::Mixed(m) = plan.op(op)? {
            for v in m.variants().filter(|v| v.out_bits < 8) {
                let b = &mut bits[m.out_map as usize];
                if *b != 8 && u32::from(*b) != v.out_bits {
                    return Err(PlanError::BadOp(op));
                }
                *b = v.out_bits as u8;
            }
        }
    }
    Ok(bits)
}

/// Checks op record `op` (for a mixed op, also against the maps' widths).
pub(crate) fn check_op(plan: &Plan, op: usize) -> Result<(), PlanError> {
    if let Op::Mixed(m) = plan.op(op)? {
        check_mixed(plan, &m, op)?;
    }
    Ok(())
}

/// Checks that a mixed op has a variant for every width its inputs can
/// arrive at, and an 8-bit fallback wherever a variant checks for outliers.
fn check_mixed(plan: &Plan, m: &Mixed, op: usize) -> Result<(), PlanError> {
    let widths = |j: usize| -> [u32; 2] {
        if j < m.n_in {
            [8, width(&plan.map_bits, m.in_maps[j])]
        } else {
            [0, 0]
        }
    };
    for a in widths(0) {
        for b in widths(1) {
            let ins = [a, b];
            let eight = m.variant(ins, 8);
            let out = width(&plan.map_bits, m.out_map);
            let low = (out < 8).then(|| m.variant(ins, out)).flatten();
            let fallback_ok = low.is_none_or(|v| v.n_clean == 0 || eight.is_some());
            if (eight.is_none() && low.is_none()) || !fallback_ok {
                return Err(PlanError::BadOp(op));
            }
        }
    }
    Ok(())
}

/// Bytes of the output window and of each input window of `op` for a step.
fn window_lens(op: &Op, out: &Place, ins: &[Place]) -> Option<(usize, [usize; 8])> {
    let mut lens = [0usize; 8];
    let area = |p: &Place| p.rect.area();
    let spatial = |out_c: usize, in_c: usize, need: Rect, lens: &mut [usize; 8]| {
        let x = ins.first()?;
        (x.rect.contains(&need) && ins.len() == 1).then_some(())?;
        // The output rect lies inside the op's output map.
        let inside = match op {
            Op::Conv2d(p) => Some(p.geometry.output),
            Op::DepthwiseConv2d(p) => Some(p.geometry.output),
            Op::AveragePool2d(p, _) | Op::MaxPool2d(p, _) => Some(p.geometry.output),
            _ => None,
        }
        .is_none_or(|[h, w, _]| out.rect.y + out.rect.h <= h && out.rect.x + out.rect.w <= w);
        inside.then_some(())?;
        lens[0] = area(x).checked_mul(in_c)?;
        area(out).checked_mul(out_c)
    };
    let out_len = match op {
        Op::Conv2d(p) => spatial(
            p.geometry.output[2],
            p.geometry.input[2],
            p.geometry.input_rect(&out.rect),
            &mut lens,
        )?,
        Op::DepthwiseConv2d(p) => spatial(
            p.geometry.output[2],
            p.geometry.input[2],
            p.geometry.input_rect(&out.rect),
            &mut lens,
        )?,
        Op::AveragePool2d(p, _) | Op::MaxPool2d(p, _) => spatial(
            p.geometry.output[2],
            p.geometry.input[2],
            p.geometry.input_rect(&out.rect),
            &mut lens,
        )?,
        Op::Pad(p) => spatial(p.input[2], p.input[2], pad_input_rect(p, &out.rect), &mut lens)?,
        Op::Add(_, ch) | Op::Requantize { channels: ch, .. } => {
            let n = if matches!(op, Op::Add(..)) { 2 } else { 1 };
            (ins.len() == n && ins.iter().all(|x| x.rect.contains(&out.rect))).then_some(())?;
            for (k, x) in ins.iter().enumerate() {
                lens[k] = area(x).checked_mul(*ch)?;
            }
            area(out).checked_mul(*ch)?
        }
        Op::FullyConnected(_, units, depth) => {
            let x = (ins.len() == 1).then(|| area(&ins[0]))?;
            (x % depth == 0).then_some(())?;
            lens[0] = x;
            x / depth * units
        }
        Op::MeanHw(_, hw, c) => {
            let n = hw.checked_mul(*c)?;
            (ins.len() == 1 && area(&ins[0]) == n).then_some(())?;
            lens[0] = n;
            *c
        }
        Op::Softmax(_, depth) => {
            (ins.len() == 1 && area(&ins[0]) == area(out) && area(out) % depth == 0).then_some(())?;
            lens[0] = area(out);
            area(out)
        }
        Op::Mixed(_) => return None,
        Op::Concatenation { outer, slabs } => {
            (ins.len() == slabs.len() && ins.len() <= 8).then_some(())?;
            let mut total = 0usize;
            for (k, (x, &s)) in ins.iter().zip(slabs.iter()).enumerate() {
                lens[k] = outer.checked_mul(s as usize)?;
                (area(x) == lens[k]).then_some(())?;
                total = total.checked_add(lens[k])?;
            }
            (total == area(out)).then_some(())?;
            total
        }
    };
    (Some(out_len) == area(out).checked_mul(out_channels(op))).then_some(())?;
    Some((out_len, lens))
}

/// Window bytes of a step running `op`; for a mixed op every variant must
/// agree (they share their shapes; sizes are those of 8-bit buffers).
fn step_lens(plan: &Plan, op: &Op, out: &Place, ins: &[Place]) -> Option<(usize, [usize; 8])> {
    let Op::Mixed(m) = op else {
        return window_lens(op, out, ins);
    };
    let mut lens = None;
    for v in m.variants() {
        let l = window_lens(&plan.op(v.op).ok()?, out, ins)?;
        if lens.is_some_and(|k| k != l) {
            return None;
        }
        lens = Some(l);
    }
    lens
}

/// Channels of one output "pixel" of `op` (1 for flat ops).
fn out_channels(op: &Op) -> usize {
    match op {
        Op::Conv2d(p) => p.geometry.output[2],
        Op::DepthwiseConv2d(p) => p.geometry.output[2],
        Op::AveragePool2d(p, _) | Op::MaxPool2d(p, _) => p.geometry.output[2],
        Op::Pad(p) => p.input[2],
        Op::Add(_, c) | Op::Requantize { channels: c, .. } => *c,
        _ => 1,
    }
}

fn in_arena(plan: &Plan, offset: usize, len: usize) -> bool {
    offset.checked_add(len).is_some_and(|e| e <= plan.arena_bytes)
}

fn disjoint(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 + a.1 <= b.0 || b.0 + b.1 <= a.0
}

/// Checks the step record at word `at`; returns the word after it.
pub(crate) fn check_step(plan: &Plan, step: usize, at: usize) -> Result<usize, PlanError> {
    let bad = PlanError::BadStep(step);
    let mut c = Cursor { words: plan.words, at };
    match c.u()? as u32 {
        k if k == StepKind::Run as u32 => {
            let op = plan.op(c.u()?).map_err(|_| bad)?;
            let out = c.place()?;
            let n = c.u()?;
            if n > 8 {
                return Err(bad);
            }
            let mut ins = [Place {
                offset: 0,
                rect: Rect::default(),
            }; 8];
            for x in ins.iter_mut().take(n) {
                *x = c.place()?;
            }
            let (out_len, lens) = step_lens(plan, &op, &out, &ins[..n]).ok_or(bad)?;
            if !in_arena(plan, out.offset, out_len) {
                return Err(bad);
            }
            for (x, &len) in ins[..n].iter().zip(&lens) {
                if !in_arena(plan, x.offset, len) || !disjoint((x.offset, len), (out.offset, out_len)) {
                    return Err(bad);
                }
            }
        }
        k if k == StepKind::LoadInput as u32 => {
            let (dst, r, map_w, ch) = (c.u()?, c.rect()?, c.dim()?, c.dim()?);
            let row = map_w.checked_mul(ch).filter(|&n| n > 0).ok_or(bad)?;
            let map_h = plan.input_len / row;
            let inside = r.x + r.w <= map_w && r.y + r.h <= map_h && map_h * row == plan.input_len;
            if !inside || !r.area().checked_mul(ch).is_some_and(|n| in_arena(plan, dst, n)) {
                return Err(bad);
            }
        }
        k if k == StepKind::StoreTile as u32 => {
            let (src, r, dst, map_h, map_w, ch) = (c.u()?, c.rect()?, c.u()?, c.dim()?, c.dim()?, c.dim()?);
            let (Some(src_len), Some(dst_len)) = (
                r.area().checked_mul(ch),
                map_h.checked_mul(map_w).and_then(|n| n.checked_mul(ch)),
            ) else {
                return Err(bad);
            };
            let ok = r.x + r.w <= map_w
                && r.y + r.h <= map_h
                && in_arena(plan, src, src_len)
                && in_arena(plan, dst, dst_len)
                && disjoint((src, src_len), (dst, dst_len));
            if !ok {
                return Err(bad);
            }
        }
        k if k == StepKind::RunInPlace as u32 => {
            let (op, offset, temp) = (plan.op(c.u()?).map_err(|_| bad)?, c.u()?, c.u()?);
            let Op::DepthwiseConv2d(p) = op else { return Err(bad) };
            let g = &p.geometry;
            let len = g.input[0]
                .checked_mul(g.input[1])
                .and_then(|n| n.checked_mul(g.input[2]))
                .ok_or(bad)?;
            let temp_len = in_place_temp_len(g);
            if !can_run_in_place(g)
                || !in_place_offset_ok(p.input_offset)
                || !in_arena(plan, offset, len)
                || !in_arena(plan, temp, temp_len)
                || !disjoint((offset, len), (temp, temp_len))
            {
                return Err(bad);
            }
        }
        k if k == StepKind::BeginTile as u32 => {}
        k => return Err(PlanError::UnknownKind(k)),
    }
    Ok(c.at)
}

/// Splits the arena into the writable output range and read-only input ranges
/// (checked disjoint when the plan was parsed).
fn split_io<'a>(
    arena: &'a mut [i8],
    out: (usize, usize),
    ins: &[(usize, usize)],
    got: &mut [&'a [i8]; 8],
) -> &'a mut [i8] {
    let (lo, rest) = arena.split_at_mut(out.0);
    let (o, hi) = rest.split_at_mut(out.1);
    let (lo, hi): (&'a [i8], &'a [i8]) = (lo, hi);
    for (g, &(off, len)) in got.iter_mut().zip(ins) {
        *g = if off + len <= out.0 {
            &lo[off..off + len]
        } else {
            &hi[off - out.0 - out.1..off - out.0 - out.1 + len]
        };
    }
    o
}

/// Runs `plan`: `input` is the whole int8 input map (read window by window),
/// `output` receives the plan's int8 output, `scratch` may be empty (kernels
/// then take a slower path) or hold [`Plan::scratch_words`] words.
pub fn run(
    plan: &Plan,
    arena: &mut [i8],
    scratch: &mut [i32],
    input: &[i8],
    output: &mut [i8],
) -> Result<(), PlanError> {
    run_with_stats(plan, arena, scratch, input, output, &mut [])
}

/// [`run`], also recording the width each tile stored each mixed map at:
/// `stats` is empty or holds `n_tiles x n_maps` entries, entry
/// `tile * n_maps + map` = bits (0 when the tile did not write the map).
pub fn run_with_stats(
    plan: &Plan,
    arena: &mut [i8],
    scratch: &mut [i32],
    input: &[i8],
    output: &mut [i8],
    stats: &mut [u8],
) -> Result<(), PlanError> {
    run_observed(plan, arena, scratch, input, output, stats, &mut ())
}

/// Sees every map a tile writes (calibration through a mixed plan).
pub trait Observer {
    /// Tile `tile` stored map `map` at `bits` bits: `data` holds its window
    /// `rect` with `channels` channels (packed codes below 8 bits).
    fn map_written(&mut self, tile: usize, map: usize, bits: u32, data: &[i8], rect: Rect, channels: usize);

    /// A step is about to run op `op` (a `Run` or `RunInPlace` step).
    fn op_started(&mut self, _op: usize) {}

    /// The step that [`Observer::op_started`] announced has finished.
    fn op_finished(&mut self, _op: usize) {}
}

/// The observer that looks at nothing.
impl Observer for () {
    fn map_written(&mut self, _: usize, _: usize, _: u32, _: &[i8], _: Rect, _: usize) {}
}

impl Plan<'_> {
    /// Number of op records.
    pub fn n_ops(&self) -> usize {
        self.n_ops
    }

    /// What op `op` computes, for reports: its kind (`"conv 1x1"`, `"conv"`,
    /// `"depthwise"`, `"add"`, ...) and whether it is a mixed-precision op
    /// (then the kind is its variants'). `None` for a bad index or record.
    pub fn op_label(&self, op: usize) -> Option<(&'static str, bool)> {
        let label = |op: &Op| match op {
            Op::Conv2d(p) if p.geometry.kernel == [1, 1] => "conv 1x1",
            Op::Conv2d(_) => "conv",
            Op::DepthwiseConv2d(_) => "depthwise",
            Op::AveragePool2d(..) => "average pool",
            Op::MaxPool2d(..) => "max pool",
            Op::Pad(_) => "pad",
            Op::Add(..) => "add",
            Op::Requantize { .. } => "requantize",
            Op::FullyConnected(..) => "fully connected",
            Op::MeanHw(..) => "mean",
            Op::Softmax(..) => "softmax",
            Op::Concatenation { .. } => "concatenation",
            Op::Mixed(_) => "mixed",
        };
        match self.op(op).ok()? {
            Op::Mixed(m) => {
                let variant = self.op(*m.variants.get(1)? as usize).ok()?;
                Some((label(&variant), true))
            }
            o => Some((label(&o), false)),
        }
    }
}

/// [`run_with_stats`], also showing `observer` every map a tile writes.
pub fn run_observed(
    plan: &Plan,
    arena: &mut [i8],
    scratch: &mut [i32],
    input: &[i8],
    output: &mut [i8],
    stats: &mut [u8],
    observer: &mut dyn Observer,
) -> Result<(), PlanError> {
    let stats_ok = stats.is_empty() || Some(stats.len()) == plan.n_tiles.checked_mul(plan.n_maps);
    if arena.len() < plan.arena_bytes || input.len() != plan.input_len || output.len() != plan.output_len || !stats_ok {
        return Err(PlanError::BadBuffers);
    }
    stats.fill(0);
    let mut tiles = Tiles {
        state: [8; MAX_MAPS],
        tile: None,
        sticky: false,
        stats,
        observer,
    };
    let mut c = Cursor {
        words: plan.words,
        at: plan.steps_at,
    };
    for _ in 0..plan.n_steps {
        match c.u()? as u32 {
            k if k == StepKind::Run as u32 => {
                let index = c.u()?;
                let op = plan.op(index)?;
                let out = c.place()?;
                let n = c.u()?;
                let mut ins = [Place {
                    offset: 0,
                    rect: Rect::default(),
                }; 8];
                for x in ins.iter_mut().take(n) {
                    *x = c.place()?;
                }
                let (out_len, lens) = step_lens(plan, &op, &out, &ins[..n]).ok_or(PlanError::BadBuffers)?;
                let mut ranges = [(0usize, 0usize); 8];
                for k in 0..n {
                    ranges[k] = (ins[k].offset, lens[k]);
                }
                let mut xs: [&[i8]; 8] = [&[]; 8];
                let y = split_io(arena, (out.offset, out_len), &ranges[..n], &mut xs);
                tiles.observer.op_started(index);
                match op {
                    Op::Mixed(m) => run_mixed(plan, &m, &mut tiles, &xs[..n], &ins[..n], y, out.rect, scratch)?,
                    _ => run_op(&op, &xs[..n], &ins[..n], y, out.rect, scratch),
                }
                tiles.observer.op_finished(index);
            }
            k if k == StepKind::BeginTile as u32 => {
                tiles.tile = Some(tiles.tile.map_or(0, |t| t + 1));
                tiles.sticky = false;
            }
            k if k == StepKind::LoadInput as u32 => {
                let (dst, r, map_w, ch) = (c.u()?, c.rect()?, c.u()?, c.u()?);
                for row in 0..r.h {
                    let src = ((r.y + row) * map_w + r.x) * ch;
                    let d = dst + row * r.w * ch;
                    arena[d..d + r.w * ch].copy_from_slice(&input[src..src + r.w * ch]);
                }
            }
            k if k == StepKind::StoreTile as u32 => {
                let (src, r, dst, map_h, map_w, ch) = (c.u()?, c.rect()?, c.u()?, c.u()?, c.u()?, c.u()?);
                let mut xs: [&[i8]; 8] = [&[]; 8];
                let map = split_io(arena, (dst, map_h * map_w * ch), &[(src, r.area() * ch)], &mut xs);
                for row in 0..r.h {
                    let d = ((r.y + row) * map_w + r.x) * ch;
                    map[d..d + r.w * ch].copy_from_slice(&xs[0][row * r.w * ch..(row + 1) * r.w * ch]);
                }
            }
            k if k == StepKind::RunInPlace as u32 => {
                let index = c.u()?;
                let (op, offset, temp) = (plan.op(index)?, c.u()?, c.u()?);
                let Op::DepthwiseConv2d(p) = op else {
                    return Err(PlanError::BadBuffers);
                };
                tiles.observer.op_started(index);
                let g = &p.geometry;
                let len = g.input[0] * g.input[1] * g.input[2];
                let temp_len = in_place_temp_len(g);
                // The two ranges are disjoint (checked at parse): split between them.
                let (a, b) = arena.split_at_mut(offset.max(temp));
                let (buf, tmp) = if temp < offset {
                    (&mut b[..len], &mut a[temp..temp + temp_len])
                } else {
                    (&mut a[offset..offset + len], &mut b[..temp_len])
                };
                depthwise_conv2d_in_place(&p, buf, tmp);
                tiles.observer.op_finished(index);
            }
            k => return Err(PlanError::UnknownKind(k)),
        }
    }
    output.copy_from_slice(&arena[plan.output_offset..plan.output_offset + plan.output_len]);
    Ok(())
}

/// Per-run state of mixed precision: each map's width in the current tile.
struct Tiles<'s> {
    state: [u8; MAX_MAPS],
    tile: Option<usize>,
    /// The branch rule saw an outlier in this tile.
    sticky: bool,
    stats: &'s mut [u8],
    observer: &'s mut dyn Observer,
}

/// Runs a mixed op: its low-width variant when the rule allows and the tile
/// stays clean, else its 8-bit variant; records the width the map got.
#[allow(clippy::too_many_arguments)]
fn run_mixed(
    plan: &Plan,
    m: &Mixed,
    tiles: &mut Tiles,
    xs: &[&[i8]],
    ins: &[Place],
    y: &mut [i8],
    rect: Rect,
    scratch: &mut [i32],
) -> Result<(), PlanError> {
    let in_bits = [0, 1].map(|j| {
        if j < m.n_in {
            width(&tiles.state, m.in_maps[j])
        } else {
            0
        }
    });
    let low_bits = width(&plan.map_bits, m.out_map);
    let low = (low_bits < 8).then(|| m.variant(in_bits, low_bits)).flatten();
    let eight = m.variant(in_bits, 8);
    let allow_low = !(plan.rule == Rule::Branch && tiles.sticky);
    let first = if allow_low { low.or(eight) } else { eight.or(low) };
    let first = first.ok_or(PlanError::BadBuffers)?;
    let mut used = first.out_bits;
    if run_variant(plan, &first, xs, ins, y, rect, scratch)?.is_err() {
        let eight = eight.ok_or(PlanError::BadBuffers)?;
        run_variant(plan, &eight, xs, ins, y, rect, scratch)?.map_err(|_| PlanError::BadBuffers)?;
        used = 8;
    }
    if m.out_map != NOT_A_MAP {
        tiles.state[m.out_map as usize] = used as u8;
        if used == 8 && low_bits < 8 {
            tiles.sticky = true;
        }
        if let Some(t) = tiles.tile {
            if let Some(s) = tiles.stats.get_mut(t * plan.n_maps + m.out_map as usize) {
                *s = used as u8;
            }
            let channels = m
                .variants()
                .next()
                .map_or(1, |v| plan.op(v.op).map_or(1, |o| out_channels(&o)));
            tiles
                .observer
                .map_written(t, m.out_map as usize, used, y, rect, channels);
        }
    }
    Ok(())
}

/// Runs one variant: the int8 kernels when everything is 8-bit and nothing
/// is checked, the any-width kernels otherwise.
fn run_variant(
    plan: &Plan,
    v: &Variant,
    xs: &[&[i8]],
    ins: &[Place],
    y: &mut [i8],
    rect: Rect,
    scratch: &mut [i32],
) -> Result<Result<(), Outlier>, PlanError> {
    let op = plan.op(v.op)?;
    if v.out_bits == 8 && v.in_bits.iter().all(|&b| b == 8 || b == 0) && v.n_clean == 0 {
        run_op(&op, xs, ins, y, rect, scratch);
        return Ok(Ok(()));
    }
    let clean = if v.n_clean > 0 {
        Some(Clean {
            lo: plan.i32s(v.lo_at, v.n_clean)?,
            hi: plan.i32s(v.hi_at, v.n_clean)?,
        })
    } else {
        None
    };
    let x = |k: usize| Codes {
        data: xs[k],
        rect: ins[k].rect,
        bits: v.in_bits[k],
    };
    let y = CodesMut {
        data: y,
        rect,
        bits: v.out_bits,
    };
    Ok(match &op {
        Op::Conv2d(p) => conv2d_lowbit(p, x(0), y, clean),
        Op::DepthwiseConv2d(p) => depthwise_conv2d_lowbit(p, x(0), y, clean),
        Op::AveragePool2d(p, r) => average_pool2d_lowbit(p, r, x(0), y, clean),
        Op::MaxPool2d(p, r) => max_pool2d_lowbit(p, r, x(0), y, clean),
        Op::Pad(p) => {
            pad_lowbit(p, x(0), y);
            Ok(())
        }
        Op::Add(p, ch) => add_lowbit(p, x(0), x(1), y, *ch, clean),
        Op::FullyConnected(p, _, _) => fully_connected_lowbit(p, x(0), y, clean),
        _ => return Err(PlanError::BadBuffers),
    })
}

fn run_op(op: &Op, xs: &[&[i8]], ins: &[Place], y: &mut [i8], rect: Rect, scratch: &mut [i32]) {
    let win = |k: usize| Window {
        data: xs[k],
        rect: ins[k].rect,
    };
    match op {
        Op::Conv2d(p) => conv2d(p, win(0), WindowMut { data: y, rect }, scratch),
        Op::DepthwiseConv2d(p) => depthwise_conv2d(p, win(0), WindowMut { data: y, rect }),
        Op::AveragePool2d(p, _) => average_pool2d(p, win(0), WindowMut { data: y, rect }),
        Op::MaxPool2d(p, _) => max_pool2d(p, win(0), WindowMut { data: y, rect }),
        Op::Pad(p) => pad(p, win(0), WindowMut { data: y, rect }),
        Op::Add(p, ch) => rows(&[win(0), win(1)], WindowMut { data: y, rect }, *ch, |a, y| {
            add(p, a[0], a[1], y)
        }),
        Op::Requantize {
            input_zp,
            multiplier,
            shift,
            output_zp,
            channels,
        } => rows(&[win(0)], WindowMut { data: y, rect }, *channels, |a, y| {
            requantize(*input_zp, *multiplier, *shift, *output_zp, a[0], y)
        }),
        Op::FullyConnected(p, _, _) => fully_connected(p, xs[0], y),
        Op::MeanHw(p, hw, c) => mean_hw(p, xs[0], *hw, *c, y),
        Op::Softmax(p, depth) => {
            for (x, y) in xs[0].chunks_exact(*depth).zip(y.chunks_exact_mut(*depth)) {
                softmax_int8(p, x, y);
            }
        }
        // Dispatched by `run_mixed` (mixed records never nest, checked at parse).
        Op::Mixed(_) => {}
        Op::Concatenation { outer, slabs } => {
            let mut o = 0;
            for i in 0..*outer {
                for (x, &s) in xs.iter().zip(slabs.iter()) {
                    let s = s as usize;
                    y[o..o + s].copy_from_slice(&x[i * s..(i + 1) * s]);
                    o += s;
                }
            }
        }
    }
}

/// Applies a row kernel over each row of `out.rect`, reading the same rows of
/// the (possibly larger) input windows.
fn rows(xs: &[Window], out: WindowMut, ch: usize, f: impl Fn(&[&[i8]; 2], &mut [i8])) {
    let r = out.rect;
    if r.area() == 0 {
        return;
    }
    fn row<'d>(w: &Window<'d>, y: usize, r: Rect, ch: usize) -> &'d [i8] {
        &w.data[w.rect.offset(y, r.x, ch)..][..r.w * ch]
    }
    for (k, y) in out.data.chunks_exact_mut(r.w * ch).enumerate() {
        let a = row(&xs[0], r.y + k, r, ch);
        let b = if xs.len() > 1 { row(&xs[1], r.y + k, r, ch) } else { a };
        f(&[a, b], y);
    }
}

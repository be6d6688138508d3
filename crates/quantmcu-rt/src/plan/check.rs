//! Every rule a decoded plan must follow before it runs: header ranges,
//! record shapes and quantization parameters, mixed-precision variants, and
//! each step's windows (inside the arena, inside their maps, holding what the
//! op reads, inputs apart from the output). A plan that passes runs without
//! an out-of-bounds index or an arithmetic overflow.

use super::{
    decode, Loc, Mixed, Op, OpKind, Place, Plan, PlanError, Role, Step, Variant, MAX_DIM, MAX_INPUTS, MAX_MAPS,
    MAX_SOFTMAX_DEPTH, NOT_A_MAP, RECODE,
};
use crate::geometry::{Geometry, Rect};
use crate::ops::depthwise_conv2d::{can_run_in_place, in_place_offset_ok, in_place_temp_len};
use crate::ops::pad::pad_input_rect;
use crate::ops::recode::{MAX_RECODE_OFFSET, MAX_RECODE_SCALE};
use crate::view::OutputStage;

/// Checks a plan whose header decoded, and records its maps' widths.
pub(super) fn plan(plan: &mut Plan) -> Result<(), PlanError> {
    let total = plan.words.get(12).map_or(0, |&w| w as usize);
    mismatch(Loc::Header, "total_bytes", total as u64, plan.bytes.len() as u64)?;
    range(Loc::Header, "n_maps", plan.n_maps as i64, 0, MAX_MAPS as i64)?;
    window(
        plan,
        Loc::Header,
        Role::PlanOutput,
        plan.output_offset,
        plan.output_len as u64,
    )?;
    plan.map_bits = map_bits(plan)?;
    for index in 0..plan.n_ops {
        let op = decode::op(plan, index)?;
        check_op(plan, index, &op)?;
    }
    let (mut at, mut tiles) = (plan.steps_at, 0usize);
    for index in 0..plan.n_steps {
        let (step, next) = decode::step(plan, index, at)?;
        check_step(plan, index, &step)?;
        tiles += usize::from(step == Step::BeginTile);
        at = next;
    }
    mismatch(Loc::Header, "n_tiles", plan.n_tiles as u64, tiles as u64)
}

fn range(at: Loc, field: &'static str, value: i64, min: i64, max: i64) -> Result<(), PlanError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(PlanError::OutOfRange {
            at,
            field,
            value,
            min,
            max,
        })
    }
}

fn mismatch(at: Loc, field: &'static str, value: u64, expected: u64) -> Result<(), PlanError> {
    if value == expected {
        Ok(())
    } else {
        Err(PlanError::Mismatch {
            at,
            field,
            value,
            expected,
        })
    }
}

fn multiple(at: Loc, field: &'static str, value: u64, of: u64) -> Result<(), PlanError> {
    if of != 0 && value.is_multiple_of(of) {
        Ok(())
    } else {
        Err(PlanError::NotMultiple { at, field, value, of })
    }
}

/// A size field: `1..=max`.
fn size(at: Loc, field: &'static str, value: usize, max: usize) -> Result<(), PlanError> {
    range(at, field, value as i64, 1, max as i64)
}

/// A shift of the fixed-point requantization (defined for `-31..=30`).
fn shift(at: Loc, field: &'static str, s: i32) -> Result<(), PlanError> {
    range(at, field, i64::from(s), -31, 30)
}

/// An activation range `min..=max` (not empty).
fn clamp(at: Loc, min: i32, max: i32) -> Result<(), PlanError> {
    range(
        at,
        "activation min",
        i64::from(min),
        i64::from(i32::MIN),
        i64::from(max),
    )
}

/// `len` bytes at `offset` lie inside the arena.
fn window(plan: &Plan, at: Loc, role: Role, offset: usize, len: u64) -> Result<(), PlanError> {
    let end = (offset as u64).saturating_add(len);
    if end > plan.arena_bytes as u64 {
        return Err(PlanError::Window {
            at,
            role,
            start: offset as u64,
            end,
            arena: plan.arena_bytes,
        });
    }
    Ok(())
}

fn disjoint(at: Loc, a: (Role, usize, usize), b: (Role, usize, usize)) -> Result<(), PlanError> {
    // Both windows were checked inside the arena: the sums do not overflow.
    if a.1 + a.2 <= b.1 || b.1 + b.2 <= a.1 {
        Ok(())
    } else {
        Err(PlanError::Overlap { at, a, b })
    }
}

/// `rect` lies inside an `h x w` map.
fn inside(at: Loc, role: Role, r: &Rect, map: [usize; 2]) -> Result<(), PlanError> {
    let ok = r.y as u64 + r.h as u64 <= map[0] as u64 && r.x as u64 + r.w as u64 <= map[1] as u64;
    if ok {
        Ok(())
    } else {
        Err(PlanError::RectOutside {
            at,
            role,
            rect: [r.y, r.x, r.h, r.w].map(|v| v as u64),
            map: map.map(|v| v as u64),
        })
    }
}

/// Bytes of the compact window `r` of `channels`-deep pixels.
fn bytes(r: &Rect, channels: usize) -> u64 {
    (r.h as u64 * r.w as u64).saturating_mul(channels as u64)
}

fn geometry(at: Loc, g: &Geometry) -> Result<(), PlanError> {
    let sizes = [
        ("input height", g.input[0]),
        ("input width", g.input[1]),
        ("input channels", g.input[2]),
        ("output height", g.output[0]),
        ("output width", g.output[1]),
        ("output channels", g.output[2]),
        ("kernel height", g.kernel[0]),
        ("kernel width", g.kernel[1]),
        ("stride height", g.stride[0]),
        ("stride width", g.stride[1]),
        ("dilation height", g.dilation[0]),
        ("dilation width", g.dilation[1]),
    ];
    for (field, v) in sizes {
        size(at, field, v, MAX_DIM)?;
    }
    range(at, "padding rows", g.pad[0] as i64, 0, MAX_DIM as i64)?;
    range(at, "padding columns", g.pad[1] as i64, 0, MAX_DIM as i64)
}

/// An output stage of `channels` channels (one multiplier, or one each).
fn output_stage(at: Loc, s: &OutputStage, channels: usize) -> Result<(), PlanError> {
    let n = s.multiplier.len();
    if n != 1 {
        mismatch(at, "multipliers", n as u64, channels as u64)?;
    }
    for &v in s.shift {
        shift(at, "output shift", v)?;
    }
    clamp(at, s.min, s.max)
}

fn check_op(plan: &Plan, index: usize, op: &Op) -> Result<(), PlanError> {
    let at = Loc::Op {
        index,
        kind: Some(op.kind()),
    };
    match op {
        Op::Conv2d(p) => {
            let g = &p.geometry;
            geometry(at, g)?;
            output_stage(at, &p.output, g.output[2])?;
            // Filter `[oc][kh][kw][depth]` with `depth` dividing the input
            // channels into groups that divide the output channels.
            let per_depth = g.output[2] as u64 * g.kernel[0] as u64 * g.kernel[1] as u64;
            let len = p.filter.len() as u64;
            multiple(at, "filter length", len, per_depth)?;
            let depth = (len / per_depth) as usize;
            size(at, "filter depth", depth, g.input[2])?;
            multiple(at, "input channels", g.input[2] as u64, depth as u64)?;
            multiple(at, "output channels", g.output[2] as u64, (g.input[2] / depth) as u64)
        }
        Op::DepthwiseConv2d(p) => {
            let g = &p.geometry;
            geometry(at, g)?;
            output_stage(at, &p.output, g.output[2])?;
            let taps = g.kernel[0] as u64 * g.kernel[1] as u64 * g.output[2] as u64;
            mismatch(at, "filter length", p.filter.len() as u64, taps)?;
            multiple(at, "output channels", g.output[2] as u64, g.input[2] as u64)
        }
        Op::AveragePool2d(p, r) | Op::MaxPool2d(p, r) => {
            geometry(at, &p.geometry)?;
            mismatch(
                at,
                "output channels",
                p.geometry.output[2] as u64,
                p.geometry.input[2] as u64,
            )?;
            clamp(at, p.min, p.max)?;
            output_stage(at, &r.output, 1)
        }
        Op::Pad(p) => {
            size(at, "input height", p.input[0], MAX_DIM)?;
            size(at, "input width", p.input[1], MAX_DIM)?;
            size(at, "channels", p.input[2], MAX_DIM)?;
            range(at, "rows before", p.before[0] as i64, 0, MAX_DIM as i64)?;
            range(at, "columns before", p.before[1] as i64, 0, MAX_DIM as i64)
        }
        Op::Add(p, ch) => {
            shift(at, "input 0 shift", p.input_shifts[0])?;
            shift(at, "input 1 shift", p.input_shifts[1])?;
            shift(at, "output shift", p.output_shift)?;
            clamp(at, p.min, p.max)?;
            size(at, "channels", *ch, MAX_DIM)
        }
        Op::Requantize { shift: s, channels, .. } => {
            shift(at, "shift", *s)?;
            size(at, "channels", *channels, MAX_DIM)
        }
        Op::FullyConnected(p, units, depth) => {
            size(at, "units", *units, u32::MAX as usize)?;
            size(at, "depth", *depth, u32::MAX as usize)?;
            output_stage(at, &p.output, *units)
        }
        Op::MeanHw(p, hw, ch) => {
            // The kernel divides by the pixel count as an int32.
            size(at, "pixels", *hw, i32::MAX as usize)?;
            size(at, "channels", *ch, u32::MAX as usize)?;
            match p.requant {
                Some((_, s)) => shift(at, "shift", s),
                None => Ok(()),
            }
        }
        Op::Softmax(p, depth) => {
            size(at, "depth", *depth, MAX_SOFTMAX_DEPTH)?;
            range(at, "input left shift", i64::from(p.input_left_shift), 0, 30)?;
            range(at, "diff min", i64::from(p.diff_min), i64::from(i32::MIN), 0)
        }
        Op::Concatenation { slabs, .. } => size(at, "inputs", slabs.len(), MAX_INPUTS),
        Op::Mixed(m) => check_mixed(plan, at, m),
    }
}

/// A map number: one of the plan's maps, or [`NOT_A_MAP`].
fn map(plan: &Plan, at: Loc, field: &'static str, m: u32) -> Result<(), PlanError> {
    if m == NOT_A_MAP || (m as usize) < plan.n_maps {
        Ok(())
    } else {
        range(at, field, i64::from(m), 0, plan.n_maps as i64 - 1)
    }
}

/// A variant's op record: there, and not a mixed one.
fn variant_op<'a>(plan: &Plan<'a>, at: Loc, op: usize) -> Result<Op<'a>, PlanError> {
    if op >= plan.n_ops {
        return Err(PlanError::NoSuchOp {
            at,
            op,
            n_ops: plan.n_ops,
        });
    }
    decode::op(plan, op)
}

/// The low width of every map, from the mixed records that write it (8 for
/// a map no record writes below 8 bits).
fn map_bits(plan: &Plan) -> Result<[u8; MAX_MAPS], PlanError> {
    let mut bits = [8u8; MAX_MAPS];
    for index in 0..plan.n_ops {
        let Op::Mixed(m) = decode::op(plan, index)? else {
            continue;
        };
        let Some(b) = bits
            .get_mut(m.out_map as usize)
            .filter(|_| (m.out_map as usize) < plan.n_maps)
        else {
            continue; // `check_op` rejects the map number.
        };
        for v in m.variants().filter(|v| (1..8).contains(&v.out_bits)) {
            if *b != 8 && u32::from(*b) != v.out_bits {
                return Err(PlanError::MapWidth {
                    at: Loc::Op {
                        index,
                        kind: Some(OpKind::Mixed),
                    },
                    map: m.out_map,
                    bits: v.out_bits,
                    other: u32::from(*b),
                });
            }
            *b = v.out_bits as u8;
        }
    }
    Ok(bits)
}

/// Checks a mixed record: its maps, each variant (key, op kind, inputs,
/// clean bounds, the same kind and channels as the first), and that it has
/// a variant for every width its inputs can arrive at with an 8-bit
/// fallback wherever a variant checks for outliers.
fn check_mixed(plan: &Plan, at: Loc, m: &Mixed) -> Result<(), PlanError> {
    map(plan, at, "output map", m.out_map)?;
    for &k in &m.in_maps[..m.n_in] {
        map(plan, at, "input map", k)?;
    }
    let first = variant_op(plan, at, m.first_op())?;
    for (k, v) in m.variants().enumerate() {
        let bits_ok = |b: u32| (1..=8).contains(&b);
        let ins_ok = (0..2).all(|j| {
            if j < m.n_in {
                bits_ok(v.in_bits[j]) && (m.in_maps[j] != NOT_A_MAP || v.in_bits[j] == 8)
            } else {
                v.in_bits[j] == 0
            }
        });
        let out_ok = bits_ok(v.out_bits)
            && (m.out_map != NOT_A_MAP || v.out_bits == 8)
            && (v.key & !RECODE) >> 24 == 0
            && (!v.recode || (v.out_bits < 8 && v.n_clean > 0));
        let unique = m
            .variants()
            .take(k)
            .all(|u| (u.in_bits, u.out_bits) != (v.in_bits, v.out_bits));
        let op = variant_op(plan, at, v.op)?;
        let kind = op.kind();
        // PAD copies codes: it keeps the width and never checks.
        let pad_ok = kind != OpKind::Pad || (v.out_bits == v.in_bits[0] && v.n_clean == 0);
        if !ins_ok || !out_ok || !unique || !pad_ok {
            return Err(PlanError::VariantKey {
                at,
                variant: k,
                key: v.key,
            });
        }
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
            return Err(PlanError::VariantKind { at, variant: k, kind });
        }
        mismatch(at, "inputs", m.n_in as u64, if kind == OpKind::Add { 2 } else { 1 })?;
        let shape = |o: &Op| (o.kind(), o.in_channels(), o.out_channels());
        if shape(&op) != shape(&first) {
            return Err(PlanError::VariantShape { at, variant: k });
        }
        if v.n_clean > 0 {
            range(at, "clean output bits", i64::from(v.out_bits), 1, 7)?;
            if v.n_clean != 1 {
                mismatch(at, "clean bounds", v.n_clean as u64, op.out_channels() as u64)?;
            }
            decode::i32s(plan, at, "clean lo", v.lo_at, v.n_clean)?;
            decode::i32s(plan, at, "clean hi", v.hi_at, v.n_clean)?;
            if v.recode {
                check_recode(plan, at, m, &v)?;
            }
        }
    }
    let widths = |j: usize| -> [u32; 2] {
        if j < m.n_in {
            [8, plan.map_bits(m.in_maps[j])]
        } else {
            [0, 0]
        }
    };
    let out = plan.map_bits(m.out_map);
    for a in widths(0) {
        for b in widths(1) {
            let ins = [a, b];
            let eight = m.variant(ins, 8);
            let low = (out < 8).then(|| m.variant(ins, out)).flatten();
            let fallback_ok = low.is_none_or(|v| v.n_clean == 0 || eight.is_some());
            if (eight.is_none() && low.is_none()) || !fallback_ok {
                return Err(PlanError::MissingVariant {
                    at,
                    in_bits: ins,
                    out_bits: if eight.is_none() { 8 } else { out },
                });
            }
        }
    }
    Ok(())
}

/// A recoding variant: its op is the 8-bit variant's for the same inputs,
/// its bounds int8 values, its code scales, offsets and largest code within
/// the ranges [`crate::ops::recode`]'s arithmetic is proven for.
fn check_recode(plan: &Plan, at: Loc, m: &Mixed, v: &Variant) -> Result<(), PlanError> {
    let eight = m.variant(v.in_bits, 8);
    if eight.is_none_or(|e| e.op != v.op || e.n_clean != 0) {
        return Err(PlanError::MissingVariant {
            at,
            in_bits: v.in_bits,
            out_bits: 8,
        });
    }
    let p = decode::recode(plan, at, v)?;
    for (&l, &h) in p.lo.iter().zip(p.hi) {
        range(at, "clean lo", i64::from(l), -128, 127)?;
        range(at, "clean hi", i64::from(h), -128, 127)?;
    }
    range(at, "largest code", i64::from(p.max_code), 1, (1i64 << v.out_bits) - 1)?;
    let (ms, mo) = (i64::from(MAX_RECODE_SCALE), i64::from(MAX_RECODE_OFFSET));
    for (&s, &o) in p.scale.iter().zip(p.offset) {
        range(at, "code scale", i64::from(s), 0, ms)?;
        range(at, "code offset", i64::from(o), -mo, mo)?;
    }
    Ok(())
}

fn check_step(plan: &Plan, index: usize, step: &Step) -> Result<(), PlanError> {
    let mut at = Loc::Step {
        index,
        kind: Some(step.kind()),
        op: None,
    };
    let op = |i: usize, at: &mut Loc| -> Result<Op, PlanError> {
        if i >= plan.n_ops {
            return Err(PlanError::NoSuchOp {
                at: *at,
                op: i,
                n_ops: plan.n_ops,
            });
        }
        let o = decode::op(plan, i)?;
        *at = Loc::Step {
            index,
            kind: Some(step.kind()),
            op: Some((i, o.kind())),
        };
        Ok(o)
    };
    match *step {
        Step::Run {
            op: i,
            ref out,
            ref ins,
            n_in,
        } => {
            let o = op(i, &mut at)?;
            let ins = &ins[..n_in];
            match o {
                Op::Mixed(m) => {
                    for v in m.variants() {
                        run_windows(plan, at, &decode::op(plan, v.op)?, out, ins)?;
                    }
                    Ok(())
                }
                o => run_windows(plan, at, &o, out, ins),
            }
        }
        Step::LoadInput {
            dst,
            ref rect,
            map_w,
            channels,
        } => {
            size(at, "map width", map_w, u32::MAX as usize)?;
            size(at, "channels", channels, u32::MAX as usize)?;
            let row = map_w as u64 * channels as u64;
            multiple(at, "input length", plan.input_len as u64, row)?;
            let map_h = (plan.input_len as u64 / row) as usize;
            inside(at, Role::Tile, rect, [map_h, map_w])?;
            window(plan, at, Role::Tile, dst, bytes(rect, channels))
        }
        Step::StoreTile {
            src,
            ref rect,
            dst,
            map_h,
            map_w,
            channels,
        } => {
            inside(at, Role::Tile, rect, [map_h, map_w])?;
            let (tile, whole) = (bytes(rect, channels), bytes(&Rect::full(map_h, map_w), channels));
            window(plan, at, Role::Tile, src, tile)?;
            window(plan, at, Role::Map, dst, whole)?;
            disjoint(at, (Role::Tile, src, tile as usize), (Role::Map, dst, whole as usize))
        }
        Step::RunInPlace { op: i, offset, temp } => {
            let o = op(i, &mut at)?;
            let Op::DepthwiseConv2d(p) = o else {
                return Err(PlanError::WrongOp { at, kind: o.kind() });
            };
            let g = &p.geometry;
            if !can_run_in_place(g) {
                return Err(PlanError::WrongOp {
                    at,
                    kind: OpKind::DepthwiseConv2d,
                });
            }
            if !in_place_offset_ok(p.input_offset) {
                range(at, "input offset", i64::from(p.input_offset), -127, 128)?;
            }
            let len = bytes(&Rect::full(g.input[0], g.input[1]), g.input[2]);
            let temp_len = in_place_temp_len(g) as u64;
            window(plan, at, Role::Map, offset, len)?;
            window(plan, at, Role::Temporary, temp, temp_len)?;
            disjoint(
                at,
                (Role::Map, offset, len as usize),
                (Role::Temporary, temp, temp_len as usize),
            )
        }
        Step::BeginTile => Ok(()),
    }
}

/// The windows of a step running plain op `op`: every rect inside its map
/// and holding what the op reads, the lengths the op needs, every window
/// inside the arena, and the inputs apart from the output.
fn run_windows(plan: &Plan, at: Loc, op: &Op, out: &Place, ins: &[Place]) -> Result<(), PlanError> {
    let expected = match op {
        Op::Add(..) => 2,
        Op::Concatenation { slabs, .. } => slabs.len(),
        Op::Mixed(_) => {
            return Err(PlanError::WrongOp {
                at,
                kind: OpKind::Mixed,
            })
        }
        _ => 1,
    };
    if ins.len() != expected {
        return Err(PlanError::Inputs {
            at,
            found: ins.len(),
            expected,
        });
    }
    // Every rect's ends first (the geometry below adds and multiplies them).
    let far = [u32::MAX as usize; 2];
    inside(at, Role::Output, &out.rect, far)?;
    for (k, x) in ins.iter().enumerate() {
        inside(at, Role::Input(k), &x.rect, far)?;
    }
    let out_len = bytes(&out.rect, op.out_channels());
    window(plan, at, Role::Output, out.offset, out_len)?;
    for (k, x) in ins.iter().enumerate() {
        window(plan, at, Role::Input(k), x.offset, bytes(&x.rect, op.in_channels()))?;
    }
    let holds = |k: usize, need: Rect| -> Result<(), PlanError> {
        let r = ins[k].rect;
        if r.contains(&need) {
            Ok(())
        } else {
            Err(PlanError::RectMissing {
                at,
                role: Role::Input(k),
                rect: [r.y, r.x, r.h, r.w],
                needs: [need.y, need.x, need.h, need.w],
            })
        }
    };
    let area = |p: &Place| p.rect.area() as u64;
    let spatial = |g: &Geometry| -> Result<(), PlanError> {
        inside(at, Role::Output, &out.rect, [g.output[0], g.output[1]])?;
        holds(0, g.input_rect(&out.rect))
    };
    match op {
        Op::Conv2d(p) => spatial(&p.geometry)?,
        Op::DepthwiseConv2d(p) => spatial(&p.geometry)?,
        Op::AveragePool2d(p, _) | Op::MaxPool2d(p, _) => spatial(&p.geometry)?,
        Op::Pad(p) => {
            inside(at, Role::Output, &out.rect, [MAX_DIM, MAX_DIM])?;
            holds(0, pad_input_rect(p, &out.rect))?;
        }
        Op::Add(..) | Op::Requantize { .. } => {
            for k in 0..ins.len() {
                holds(k, out.rect)?;
            }
        }
        Op::FullyConnected(_, units, depth) => {
            let x = area(&ins[0]);
            multiple(at, "input length", x, *depth as u64)?;
            mismatch(
                at,
                "output length",
                area(out),
                (x / *depth as u64).saturating_mul(*units as u64),
            )?;
        }
        Op::MeanHw(_, hw, c) => {
            mismatch(at, "input length", area(&ins[0]), *hw as u64 * *c as u64)?;
            mismatch(at, "output length", area(out), *c as u64)?;
        }
        Op::Softmax(_, depth) => {
            mismatch(at, "input length", area(&ins[0]), area(out))?;
            multiple(at, "output length", area(out), *depth as u64)?;
        }
        Op::Concatenation { outer, slabs } => {
            let mut total = 0u64;
            for (x, &s) in ins.iter().zip(slabs.iter()) {
                let len = *outer as u64 * u64::from(s);
                mismatch(at, "input length", area(x), len)?;
                total = total.saturating_add(len);
            }
            mismatch(at, "output length", area(out), total)?;
        }
        Op::Mixed(_) => {}
    }
    for (k, x) in ins.iter().enumerate() {
        let len = bytes(&x.rect, op.in_channels()) as usize;
        disjoint(
            at,
            (Role::Input(k), x.offset, len),
            (Role::Output, out.offset, out_len as usize),
        )?;
    }
    Ok(())
}

//! Plan bytes to records: reads the header, op records and steps, resolving
//! array offsets to slices of the data section. Decoding fails only where a
//! record cannot be read at all (a word or an array past the end, an unknown
//! kind, a count that sizes the record out of range); every other rule is
//! [`super::check`]'s.

use super::{
    Loc, Mixed, Op, OpKind, Place, Plan, PlanError, Rule, Step, StepKind, Variant, HEADER_WORDS, MAGIC, MAX_INPUTS,
    MAX_MAPS, MAX_VARIANTS, VARIANT_WORDS, VERSION,
};
use crate::geometry::{Geometry, Rect};
use crate::ops::add::AddParams;
use crate::ops::conv2d::Conv2dParams;
use crate::ops::depthwise_conv2d::DepthwiseConv2dParams;
use crate::ops::fully_connected::FullyConnectedParams;
use crate::ops::mean::MeanParams;
use crate::ops::pad::PadParams;
use crate::ops::pool::Pool2dParams;
use crate::ops::pool::PoolRescale;
use crate::ops::recode::RecodeParams;
use crate::softmax::SoftmaxParams;
use crate::view::OutputStage;

/// Reads the words of one record, naming it in errors.
struct Reader<'a> {
    words: &'a [u32],
    at: usize,
    loc: Loc,
}

impl<'a> Reader<'a> {
    fn u(&mut self, field: &'static str) -> Result<usize, PlanError> {
        let v = *self.words.get(self.at).ok_or(PlanError::Truncated {
            at: self.loc,
            field,
            word: self.at,
            plan_words: self.words.len(),
        })?;
        self.at = self.at.saturating_add(1);
        Ok(v as usize)
    }

    fn i(&mut self, field: &'static str) -> Result<i32, PlanError> {
        Ok(self.u(field)? as u32 as i32)
    }

    /// `n` words.
    fn words(&mut self, n: usize, field: &'static str) -> Result<&'a [u32], PlanError> {
        let end = self.at.saturating_add(n);
        let w = self.words.get(self.at..end).ok_or(PlanError::Truncated {
            at: self.loc,
            field,
            word: self.at.saturating_add(n.saturating_sub(1)),
            plan_words: self.words.len(),
        })?;
        self.at = end;
        Ok(w)
    }

    fn rect(&mut self) -> Result<Rect, PlanError> {
        Ok(Rect {
            y: self.u("rect y")?,
            x: self.u("rect x")?,
            h: self.u("rect height")?,
            w: self.u("rect width")?,
        })
    }

    fn place(&mut self) -> Result<Place, PlanError> {
        Ok(Place {
            offset: self.u("window offset")?,
            rect: self.rect()?,
        })
    }

    fn geometry(&mut self) -> Result<Geometry, PlanError> {
        let mut v = [0usize; 14];
        for x in v.iter_mut() {
            *x = self.u("geometry")?;
        }
        Ok(Geometry {
            input: [v[0], v[1], v[2]],
            output: [v[3], v[4], v[5]],
            kernel: [v[6], v[7]],
            stride: [v[8], v[9]],
            dilation: [v[10], v[11]],
            pad: [v[12], v[13]],
        })
    }
}

/// The header fields of `bytes` (every map 8-bit until the checks find the
/// maps' widths).
pub(super) fn header(bytes: &[u8]) -> Result<Plan<'_>, PlanError> {
    let words: &[u32] = bytemuck::try_cast_slice(bytes).map_err(|_| PlanError::Misaligned { len: bytes.len() })?;
    let mut c = Reader {
        words,
        at: 0,
        loc: Loc::Header,
    };
    let magic = c.u("magic")? as u32;
    if magic != MAGIC {
        return Err(PlanError::BadMagic { found: magic });
    }
    let version = c.u("version")? as u32;
    if version != VERSION {
        return Err(PlanError::BadVersion { found: version });
    }
    const NAMES: [&str; HEADER_WORDS - 2] = [
        "arena_bytes",
        "scratch_words",
        "input_len",
        "output_offset",
        "output_len",
        "n_ops",
        "n_steps",
        "ops_at",
        "steps_at",
        "data_at",
        "total_bytes",
        "n_maps",
        "n_tiles",
        "rule",
    ];
    let mut h = [0usize; HEADER_WORDS - 2];
    for (x, name) in h.iter_mut().zip(NAMES) {
        *x = c.u(name)?;
    }
    let [arena_bytes, scratch_words, input_len, output_offset, output_len, n_ops, n_steps, ops_at, steps_at, data_at, _total, n_maps, n_tiles, rule] =
        h;
    let rule = match rule {
        0 => Rule::Map,
        1 => Rule::Branch,
        _ => {
            return Err(PlanError::OutOfRange {
                at: Loc::Header,
                field: "rule",
                value: rule as i64,
                min: 0,
                max: 1,
            })
        }
    };
    Ok(Plan {
        words,
        bytes,
        arena_bytes,
        scratch_words,
        input_len,
        output_offset,
        output_len,
        n_ops,
        n_steps,
        ops_at,
        steps_at,
        data_at,
        n_maps,
        n_tiles,
        rule,
        map_bits: [8; MAX_MAPS],
    })
}

/// Where `len` bytes at byte `at` of the data section lie in the plan.
fn array(
    plan: &Plan,
    loc: Loc,
    field: &'static str,
    at: usize,
    len: u64,
) -> Result<core::ops::Range<usize>, PlanError> {
    let start = plan.data_at as u64 + at as u64;
    let end = start.saturating_add(len);
    if end > plan.bytes.len() as u64 {
        return Err(PlanError::Array {
            at: loc,
            field,
            start: at as u64,
            end: (at as u64).saturating_add(len),
            data_bytes: plan.bytes.len().saturating_sub(plan.data_at),
        });
    }
    Ok(start as usize..end as usize)
}

/// `len` int8 values at byte `at` of the data section.
pub(super) fn i8s<'a>(
    plan: &Plan<'a>,
    loc: Loc,
    field: &'static str,
    at: usize,
    len: u64,
) -> Result<&'a [i8], PlanError> {
    let r = array(plan, loc, field, at, len)?;
    Ok(bytemuck::cast_slice(&plan.bytes[r]))
}

/// `len` int32 values at byte `at` (a multiple of 4 from the plan start) of
/// the data section.
pub(super) fn i32s<'a>(
    plan: &Plan<'a>,
    loc: Loc,
    field: &'static str,
    at: usize,
    len: usize,
) -> Result<&'a [i32], PlanError> {
    let r = array(plan, loc, field, at, 4 * len as u64)?;
    bytemuck::try_cast_slice(&plan.bytes[r]).map_err(|_| PlanError::ArrayMisaligned {
        at: loc,
        field,
        offset: at,
    })
}

/// The arrays of recoding variant `v`: int8 clean bounds at `lo_at` /
/// `hi_at`, then at `recode_at` its `n_clean` code scales, `n_clean` code
/// offsets and its largest code (their ranges are [`super::check`]'s).
pub(super) fn recode<'a>(plan: &Plan<'a>, at: Loc, v: &Variant) -> Result<RecodeParams<'a>, PlanError> {
    let n = v.n_clean;
    Ok(RecodeParams {
        lo: i32s(plan, at, "clean lo", v.lo_at, n)?,
        hi: i32s(plan, at, "clean hi", v.hi_at, n)?,
        scale: i32s(plan, at, "code scales", v.recode_at, n)?,
        offset: i32s(plan, at, "code offsets", v.recode_at + 4 * n, n)?,
        bits: v.out_bits,
        max_code: i32s(plan, at, "largest code", v.recode_at + 8 * n, 1)?[0],
    })
}

fn output_stage<'a>(plan: &Plan<'a>, c: &mut Reader<'a>) -> Result<OutputStage<'a>, PlanError> {
    let (offset, min, max, n) = (c.i("output offset")?, c.i("min")?, c.i("max")?, c.u("multipliers")?);
    let (m, s) = (c.u("multiplier offset")?, c.u("shift offset")?);
    Ok(OutputStage {
        offset,
        min,
        max,
        multiplier: i32s(plan, c.loc, "multipliers", m, n)?,
        shift: i32s(plan, c.loc, "shifts", s, n)?,
    })
}

/// A reader after the kind word of op record `index`, and the kind.
fn start<'a>(plan: &Plan<'a>, index: usize) -> Result<(Reader<'a>, OpKind), PlanError> {
    let loc = Loc::Op { index, kind: None };
    let mut table = Reader {
        words: plan.words,
        at: plan.ops_at.saturating_add(index),
        loc,
    };
    let rel = table.u("record offset")?;
    let mut c = Reader {
        words: plan.words,
        at: plan.ops_at.saturating_add(rel),
        loc,
    };
    let word = c.u("kind")? as u32;
    let kind = OpKind::from_u32(word).ok_or(PlanError::UnknownKind { at: loc, value: word })?;
    c.loc = Loc::Op {
        index,
        kind: Some(kind),
    };
    Ok((c, kind))
}

/// Decodes op record `index` (`index < plan.n_ops`).
pub(super) fn op<'a>(plan: &Plan<'a>, index: usize) -> Result<Op<'a>, PlanError> {
    let (mut c, kind) = start(plan, index)?;
    Ok(match kind {
        OpKind::Conv2d | OpKind::DepthwiseConv2d => {
            let geometry = c.geometry()?;
            let input_offset = c.i("input offset")?;
            let output = output_stage(plan, &mut c)?;
            let (filter_at, filter_len, bias_at) = (c.u("filter offset")?, c.u("filter length")?, c.u("bias offset")?);
            let filter = i8s(plan, c.loc, "filter", filter_at, filter_len as u64)?;
            let bias = i32s(plan, c.loc, "bias", bias_at, geometry.output[2])?;
            if kind == OpKind::Conv2d {
                Op::Conv2d(Conv2dParams {
                    geometry,
                    input_offset,
                    filter,
                    bias,
                    output,
                })
            } else {
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
                min: c.i("activation min")?,
                max: c.i("activation max")?,
            };
            let input_offset = c.i("input offset")?;
            let r = PoolRescale {
                input_offset,
                output: output_stage(plan, &mut c)?,
            };
            if kind == OpKind::AveragePool2d {
                Op::AveragePool2d(p, r)
            } else {
                Op::MaxPool2d(p, r)
            }
        }
        OpKind::Pad => Op::Pad(PadParams {
            input: [c.u("input height")?, c.u("input width")?, c.u("channels")?],
            before: [c.u("rows before")?, c.u("columns before")?],
            value: c.i("fill value")? as i8,
        }),
        OpKind::Add => {
            let mut v = [0i32; 11];
            for x in v.iter_mut() {
                *x = c.i("parameters")?;
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
            Op::Add(p, c.u("channels")?)
        }
        OpKind::Requantize => Op::Requantize {
            input_zp: c.i("input zero point")?,
            multiplier: c.i("multiplier")?,
            shift: c.i("shift")?,
            output_zp: c.i("output zero point")?,
            channels: c.u("channels")?,
        },
        OpKind::FullyConnected => {
            let (input_offset, units, depth) = (c.i("input offset")?, c.u("units")?, c.u("depth")?);
            let output = output_stage(plan, &mut c)?;
            let filter_len = (units as u64).saturating_mul(depth as u64);
            let filter = i8s(plan, c.loc, "filter", c.u("filter offset")?, filter_len)?;
            let bias = i32s(plan, c.loc, "bias", c.u("bias offset")?, units)?;
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
            let (input_zero_point, output_zero_point) = (c.i("input zero point")?, c.i("output zero point")?);
            let (has, m, s) = (c.u("requantizes")?, c.i("multiplier")?, c.i("shift")?);
            let (hw, ch) = (c.u("pixels")?, c.u("channels")?);
            Op::MeanHw(
                MeanParams {
                    input_zero_point,
                    output_zero_point,
                    requant: (has != 0).then_some((m, s)),
                },
                hw,
                ch,
            )
        }
        OpKind::Softmax => {
            let p = SoftmaxParams {
                input_multiplier: c.i("input multiplier")?,
                input_left_shift: c.i("input left shift")?,
                diff_min: c.i("diff min")?,
            };
            Op::Softmax(p, c.u("depth")?)
        }
        OpKind::Concatenation => {
            let (outer, n) = (c.u("outer")?, c.u("inputs")?);
            let slabs = c.words(n, "slab lengths")?;
            Op::Concatenation { outer, slabs }
        }
        OpKind::Mixed => {
            let out_map = c.u("output map")? as u32;
            let n_in = c.u("inputs")?;
            count(c.loc, "inputs", n_in, 2)?;
            let mut in_maps = [super::NOT_A_MAP; 2];
            for m in in_maps.iter_mut().take(n_in) {
                *m = c.u("input map")? as u32;
            }
            let n = c.u("variants")?;
            count(c.loc, "variants", n, MAX_VARIANTS)?;
            let variants = c.words(n * VARIANT_WORDS, "variants")?;
            Op::Mixed(Mixed {
                out_map,
                in_maps,
                n_in,
                variants,
            })
        }
    })
}

/// A count that sizes a record: `1..=max`.
fn count(at: Loc, field: &'static str, n: usize, max: usize) -> Result<(), PlanError> {
    if (1..=max).contains(&n) {
        Ok(())
    } else {
        Err(PlanError::OutOfRange {
            at,
            field,
            value: n as i64,
            min: 1,
            max: max as i64,
        })
    }
}

/// Decodes step `index` at word `at`; returns it and the word after it.
pub(super) fn step(plan: &Plan, index: usize, at: usize) -> Result<(Step, usize), PlanError> {
    let loc = Loc::Step {
        index,
        kind: None,
        op: None,
    };
    let mut c = Reader {
        words: plan.words,
        at,
        loc,
    };
    let word = c.u("kind")? as u32;
    let kind = StepKind::from_u32(word).ok_or(PlanError::UnknownKind { at: loc, value: word })?;
    c.loc = Loc::Step {
        index,
        kind: Some(kind),
        op: None,
    };
    let step = match kind {
        StepKind::Run => {
            let op = c.u("op")?;
            let out = c.place()?;
            let n_in = c.u("inputs")?;
            if n_in > MAX_INPUTS {
                return Err(PlanError::OutOfRange {
                    at: c.loc,
                    field: "inputs",
                    value: n_in as i64,
                    min: 0,
                    max: MAX_INPUTS as i64,
                });
            }
            let mut ins = [Place {
                offset: 0,
                rect: Rect::default(),
            }; MAX_INPUTS];
            for x in ins.iter_mut().take(n_in) {
                *x = c.place()?;
            }
            Step::Run { op, out, ins, n_in }
        }
        StepKind::LoadInput => Step::LoadInput {
            dst: c.u("destination offset")?,
            rect: c.rect()?,
            map_w: c.u("map width")?,
            channels: c.u("channels")?,
        },
        StepKind::StoreTile => Step::StoreTile {
            src: c.u("source offset")?,
            rect: c.rect()?,
            dst: c.u("destination offset")?,
            map_h: c.u("map height")?,
            map_w: c.u("map width")?,
            channels: c.u("channels")?,
        },
        StepKind::RunInPlace => Step::RunInPlace {
            op: c.u("op")?,
            offset: c.u("map offset")?,
            temp: c.u("temporary offset")?,
        },
        StepKind::BeginTile => Step::BeginTile,
    };
    Ok((step, c.at))
}

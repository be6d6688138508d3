//! Kernel parameters of an op for one (input formats, output format) pair
//! (`docs/design.md`, "Numerics"): weights stay int8; the bias is re-derived for the
//! input's scale, the output multipliers for the output's scale, zero points
//! become offsets. A per-channel input scale folds into a depthwise layer's
//! per-channel multipliers and into a second int8 weight set of a
//! convolution (each output channel's weights rescaled to the full int8
//! range). Also the accumulator bounds of a clean range.

use quantmcu_rt::fixedpoint::multiply_by_quantized_multiplier;

use super::format::Format;
use crate::ir::{Graph, Quant};
use crate::reference::requant::multiplier;
use crate::reference::{Kernel, Requant};

/// How a pooled value moves from the input's to the output's quantization
/// (`quantmcu_rt::ops::pool::PoolRescale`).
#[derive(Clone, Debug)]
pub(crate) struct PoolStage {
    pub input_offset: i32,
    pub requant: Requant,
    pub output_offset: i32,
    pub range: (i32, i32),
}

impl PoolStage {
    /// Equal input and output quantization (the int8 pools): the identity.
    pub fn identity(zero_point: i32, range: (i32, i32)) -> Self {
        PoolStage {
            input_offset: -zero_point,
            requant: Requant::single(1.0).expect("1 is a valid factor"),
            output_offset: zero_point,
            range,
        }
    }
}

/// The parameters of one variant.
#[derive(Clone)]
pub(crate) struct Variant {
    pub kernel: Kernel,
    pub pool: Option<PoolStage>,
}

impl Variant {
    /// The output requantization of the value the clean check sees:
    /// multipliers, zero point, clamp.
    pub fn output_stage(&self) -> (Requant, i32, (i32, i32)) {
        match (&self.kernel, &self.pool) {
            (_, Some(p)) => (p.requant.clone(), p.output_offset, p.range),
            (Kernel::Conv2d(k), _) => (k.requant.clone(), k.output_offset, k.range),
            (Kernel::DepthwiseConv2d(k), _) => (k.requant.clone(), k.output_offset, k.range),
            (Kernel::FullyConnected(k), _) => (k.requant.clone(), k.output_offset, k.range),
            (Kernel::Add(k), _) => (
                Requant {
                    multiplier: vec![k.output.0],
                    shift: vec![k.output.1],
                },
                k.output_offset,
                k.range,
            ),
            _ => unreachable!("only weighted ops, pools and ADD check a clean range"),
        }
    }
}

fn round_i32(v: f64) -> i32 {
    v.round().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
}

fn requant(acc_scale: &[f64], out: &Format) -> Result<Requant, String> {
    let mut r = Requant {
        multiplier: Vec::with_capacity(acc_scale.len()),
        shift: Vec::with_capacity(acc_scale.len()),
    };
    for (o, s) in acc_scale.iter().enumerate() {
        let (m, sh) = multiplier(s / out.scale_of(o))?;
        r.multiplier.push(m);
        r.shift.push(sh);
    }
    Ok(r)
}

fn filter_scale(q: &Quant, o: usize) -> f64 {
    f64::from(q.scale[if q.is_per_tensor() { 0 } else { o }])
}

/// Derives op `i`'s variant reading `ins` (its activation inputs' formats)
/// and writing `out`, from its int8 kernel `base`. `error` is the mean
/// quantization error (real units, per input channel or one) of a low-bit
/// first input: a weighted op adds what its weights make of it to the bias
/// (bias correction; empty for none).
pub(crate) fn derive(
    graph: &Graph,
    i: usize,
    base: &Kernel,
    ins: &[Format],
    out: &Format,
    error: &[f64],
) -> Result<Variant, String> {
    let mu = |c: usize| {
        if error.is_empty() {
            0.0
        } else {
            error[if error.len() == 1 { 0 } else { c }]
        }
    };
    let op = &graph.ops[i];
    let (s8_in, _) = graph.scale_zp(op.inputs[0].expect("input"));
    let s8_in = f64::from(s8_in);
    let low_out = out.bits < 8;
    let clamp = |range: (i32, i32)| if low_out { out.code_range() } else { range };
    let fq = || {
        op.inputs[1]
            .and_then(|f| graph.tensors[f].quant.clone())
            .expect("weighted ops have quantized filters")
    };
    let x = &ins[0];
    let kernel = match base {
        Kernel::Conv2d(k) => {
            let mut k = k.clone();
            let fq = fq();
            let [oc, kh, kw, fc] = k.filter_shape;
            let mut acc = Vec::with_capacity(oc);
            for o in 0..oc {
                let sw = filter_scale(&fq, o);
                let real_bias = f64::from(k.bias[o]) * s8_in * sw;
                let w = &mut k.filter[o * kh * kw * fc..(o + 1) * kh * kw * fc];
                let groups_c = |j: usize| (o / (oc / (k.input[3] / fc))) * fc + j % fc;
                let correction: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| f64::from(v) * sw * mu(groups_c(j)))
                    .sum();
                let s = if x.per_channel() {
                    // Second weight set: each tap times its input channel's
                    // scale, rescaled so the largest uses the int8 range.
                    let real: Vec<f64> = w
                        .iter()
                        .enumerate()
                        .map(|(j, &v)| f64::from(v) * sw * x.scale_of(groups_c(j)))
                        .collect();
                    let t = real.iter().fold(0.0f64, |m, v| m.max(v.abs())) / 127.0;
                    let t = if t > 0.0 { t } else { sw * x.scale[0] };
                    for (v, r) in w.iter_mut().zip(&real) {
                        *v = (r / t).round().clamp(-127.0, 127.0) as i8;
                    }
                    t
                } else {
                    x.scale[0] * sw
                };
                k.bias[o] = round_i32((real_bias + correction) / s);
                acc.push(s);
            }
            k.input_offset = -x.zero_point;
            k.requant = requant(&acc, out)?;
            k.output_offset = out.zero_point;
            k.range = clamp(k.range);
            Kernel::Conv2d(k)
        }
        Kernel::DepthwiseConv2d(k) => {
            let mut k = k.clone();
            let fq = fq();
            let oc = k.output[3];
            let m = k.multiplier.max(1);
            let acc: Vec<f64> = (0..oc).map(|o| x.scale_of(o / m) * filter_scale(&fq, o)).collect();
            let [kh, kw] = k.window.kernel;
            for (o, b) in k.bias.iter_mut().enumerate() {
                let sw = filter_scale(&fq, o);
                let taps: f64 = (0..kh * kw).map(|t| f64::from(k.filter[t * oc + o])).sum();
                let correction = taps * sw * mu(o / m);
                *b = round_i32((f64::from(*b) * s8_in * sw + correction) / acc[o]);
            }
            k.input_offset = -x.zero_point;
            k.requant = requant(&acc, out)?;
            k.output_offset = out.zero_point;
            k.range = clamp(k.range);
            Kernel::DepthwiseConv2d(k)
        }
        Kernel::FullyConnected(k) => {
            let mut k = k.clone();
            let fq = fq();
            let acc: Vec<f64> = (0..k.units).map(|o| x.scale[0] * filter_scale(&fq, o)).collect();
            let channels = error.len().max(1);
            for (o, b) in k.bias.iter_mut().enumerate() {
                let sw = filter_scale(&fq, o);
                let w = &k.filter[o * k.depth..(o + 1) * k.depth];
                let correction: f64 = w
                    .iter()
                    .enumerate()
                    .map(|(d, &v)| f64::from(v) * sw * mu(d % channels))
                    .sum();
                *b = round_i32((f64::from(*b) * s8_in * sw + correction) / acc[o]);
            }
            k.input_offset = -x.zero_point;
            k.requant = requant(&acc, out)?;
            k.output_offset = out.zero_point;
            k.range = clamp(k.range);
            Kernel::FullyConnected(k)
        }
        Kernel::Add(k) => {
            let mut k = k.clone();
            let (sa, sb, so) = (ins[0].scale[0], ins[1].scale[0], out.scale[0]);
            let twice_max = 2.0 * sa.max(sb);
            k.offsets = [-ins[0].zero_point, -ins[1].zero_point];
            k.multipliers = [multiplier(sa / twice_max)?, multiplier(sb / twice_max)?];
            k.output = multiplier(twice_max / (f64::from(1u32 << 20) * so))?;
            k.output_offset = out.zero_point;
            k.range = clamp(k.range);
            Kernel::Add(k)
        }
        Kernel::Pool2d(k) => {
            return Ok(Variant {
                kernel: Kernel::Pool2d(k.clone()),
                pool: Some(PoolStage {
                    input_offset: -x.zero_point,
                    requant: Requant::single(x.scale[0] / out.scale[0])?,
                    output_offset: out.zero_point,
                    range: clamp(k.range),
                }),
            })
        }
        Kernel::Pad(k) => {
            let mut k = k.clone();
            k.fill = out.zero_point as i8;
            Kernel::Pad(k)
        }
        _ => return Err(format!("{} has no mixed-precision kernel", op.kind.name())),
    };
    Ok(Variant { kernel, pool: None })
}

/// Accumulator bounds (per output channel, or one) of int8 clean ranges
/// `clean` (per channel, or one) under the 8-bit output stage of `eight`:
/// exactly the accumulators whose clamped int8 output lies in the range,
/// found by bisection where the requantization is monotone (no overflow of
/// its left shift; accumulators beyond count as outliers).
pub(crate) fn clean_bounds(eight: &Variant, clean: &[(i32, i32)], channels: usize) -> (Vec<i32>, Vec<i32>) {
    let (rq, offset, (min, max)) = eight.output_stage();
    let n = if rq.multiplier.len() == 1 && clean.len() == 1 {
        1
    } else {
        channels
    };
    let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for c in 0..n {
        let pick = |v: usize| if v == 1 { 0 } else { c };
        let (m, s) = (rq.multiplier[pick(rq.multiplier.len())], rq.shift[pick(rq.shift.len())]);
        let (l, h) = clean[pick(clean.len())];
        let f = |acc: i32| {
            multiply_by_quantized_multiplier(acc, m, s)
                .saturating_add(offset)
                .clamp(min, max)
        };
        let (dlo, dhi) = if s > 0 {
            (-(1i64 << (31 - s)), (1i64 << (31 - s)) - 1)
        } else {
            (i64::from(i32::MIN), i64::from(i32::MAX))
        };
        // Smallest accumulator with f >= l, largest with f <= h.
        let first_at_least = |t: i32| {
            let (mut a, mut b) = (dlo, dhi + 1);
            while a < b {
                let mid = a + (b - a) / 2;
                if f(mid as i32) >= t {
                    b = mid;
                } else {
                    a = mid + 1;
                }
            }
            a
        };
        let acc_lo = if l <= min {
            i64::from(i32::MIN)
        } else {
            first_at_least(l)
        };
        let acc_hi = if h >= max {
            i64::from(i32::MAX)
        } else {
            first_at_least(h + 1) - 1
        };
        lo.push(acc_lo.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32);
        hi.push(acc_hi.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32);
    }
    (lo, hi)
}

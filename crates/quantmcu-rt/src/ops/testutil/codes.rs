//! Helpers shared by the low-bit kernel tests: random widths, codes, zero
//! points and requantizations for a width, packed maps and their windows,
//! tiled execution over packed maps, random accumulator bounds and runs over
//! every pair of widths.

extern crate std;

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::{cuts, multipliers, requant};
use crate::geometry::{Geometry, Rect};
use crate::packed::{self, packed_len};
use crate::view::OutputStage;
use crate::view::{Codes, CodesMut, Outlier};

/// Spatial part of a sliding-window geometry as `super::spatial`
/// draws it: input height and width, kernel, stride, dilation, SAME.
pub type Spatial = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool);

/// A random width in `1..=8`: 2, 4 and 8 bits each three times as likely as
/// each of 1, 3, 5, 6 and 7 bits.
pub fn bits() -> impl Strategy<Value = u32> {
    prop_oneof![
        3 => Just(8u32),
        3 => Just(4u32),
        3 => Just(2u32),
        1 => Just(1u32),
        1 => Just(3u32),
        1 => Just(5u32),
        1 => Just(6u32),
        1 => Just(7u32),
    ]
}

/// 8 bits in and out: the int8 kernels' (input, output) widths.
pub fn int8() -> impl Strategy<Value = (u32, u32)> {
    Just((8, 8))
}

/// Any pair of (input, output) widths.
pub fn widths() -> impl Strategy<Value = (u32, u32)> {
    (bits(), bits())
}

/// The lowest and highest value a map at `bits` bits holds: `0..=2^b - 1`
/// below 8 bits, `-128..=127` at 8.
pub fn value_range(bits: u32) -> (i32, i32) {
    if bits >= 8 {
        (-128, 127)
    } else {
        (0, (1 << bits) - 1)
    }
}

/// The value a stored `code` of a map at `bits` bits reads as (the byte as
/// an `i8` at 8 bits, the unsigned code below).
pub fn value(code: u8, bits: u32) -> i64 {
    if bits >= 8 {
        i64::from(code as i8)
    } else {
        i64::from(code)
    }
}

/// `n` random codes of a map at `bits` bits (any byte at 8 bits).
pub fn codes(n: usize, bits: u32) -> impl Strategy<Value = Vec<u8>> {
    let max = ((1u16 << bits) - 1) as u8;
    prop::collection::vec(0..=max, n)
}

/// A random zero point of a map at `bits` bits: any value the map holds.
pub fn zero_point(bits: u32) -> impl Strategy<Value = i32> {
    let (lo, hi) = value_range(bits);
    lo..=hi
}

/// A random output clamp inside the values of a map at `bits` bits: the
/// whole range twice as often as a random sub-range.
pub fn clamp(bits: u32) -> impl Strategy<Value = (i32, i32)> {
    let (lo, hi) = value_range(bits);
    prop_oneof![
        2 => Just((lo, hi)),
        1 => (lo..=hi, lo..=hi).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

/// `n` random real requantization factors, log-uniform in `[2^-20, 2)`.
pub fn scales(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-20.0f64..1.0).prop_map(|e| e.exp2()), n)
}

/// Requantization of accumulators to a map at `bits` bits: Q31 multipliers
/// and shifts (one, or one per channel), zero point and clamp.
#[derive(Clone, Debug)]
pub struct Requant {
    pub bits: u32,
    pub mult: Vec<i32>,
    pub shift: Vec<i32>,
    pub offset: i32,
    pub min: i32,
    pub max: i32,
}

/// A random requantization of `channels` channels to a map at `bits` bits,
/// per tensor half of the time.
pub fn requant_to(bits: u32, channels: usize) -> impl Strategy<Value = Requant> {
    any::<bool>()
        .prop_flat_map(move |per_tensor| {
            (
                scales(if per_tensor { 1 } else { channels }),
                zero_point(bits),
                clamp(bits),
            )
        })
        .prop_map(move |(sc, offset, (min, max))| {
            let (mult, shift) = multipliers(&sc);
            Requant {
                bits,
                mult,
                shift,
                offset,
                min,
                max,
            }
        })
}

impl Requant {
    /// The output stage the kernels take.
    pub fn stage(&self) -> OutputStage<'_> {
        OutputStage {
            multiplier: &self.mult,
            shift: &self.shift,
            offset: self.offset,
            min: self.min,
            max: self.max,
        }
    }

    /// Reference output code of the exact accumulator `acc` of channel `c`
    /// (which must fit an `i32`, as the kernels' wrapping sums assume).
    pub fn code(&self, acc: i64, c: usize) -> u8 {
        assert!(i32::try_from(acc).is_ok(), "accumulator {acc} overflows i32");
        let k = if self.mult.len() == 1 { 0 } else { c };
        requant(acc, self.mult[k], self.shift[k], self.offset, self.min, self.max) as u8
    }
}

/// An oracle's exact accumulators and output codes over the whole output
/// map of `g`, `[h][w][c]`: `acc(oy, ox, o)` is the accumulator of output
/// channel `o` at output pixel `(oy, ox)`, requantized by `out`.
pub fn oracle(g: &Geometry, out: &Requant, mut acc: impl FnMut(usize, usize, usize) -> i64) -> (Vec<i64>, Vec<u8>) {
    let [oh, ow, oc] = g.output;
    let (mut accs, mut codes) = (Vec::new(), Vec::new());
    for oy in 0..oh {
        for ox in 0..ow {
            for o in 0..oc {
                let a = acc(oy, ox, o);
                accs.push(a);
                codes.push(out.code(a, o));
            }
        }
    }
    (accs, codes)
}

/// The bytes of a map at `bits` bits holding `codes`: packed with
/// [`packed::pack`] below 8 bits (unused trailing bits zero), the codes
/// themselves at 8.
pub fn pack(codes: &[u8], bits: u32) -> Vec<i8> {
    let mut out = vec![0u8; packed_len(codes.len(), bits)];
    packed::pack(codes, bits, &mut out);
    out.into_iter().map(|b| b as i8).collect()
}

/// A zeroed buffer for `n` codes of `bits` bits.
pub fn zeroed(n: usize, bits: u32) -> Vec<i8> {
    vec![0i8; packed_len(n, bits)]
}

/// Copies rect `r` of a packed `[h][w][c]` map at `bits` bits, `w` pixels
/// wide, code by code into a new compact packed buffer.
pub fn window(map: &[i8], bits: u32, w: usize, c: usize, r: &Rect) -> Vec<i8> {
    let src: &[u8] = bytemuck::cast_slice(map);
    let mut out = vec![0u8; packed_len(r.area() * c, bits)];
    let mut i = 0;
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            for k in 0..c {
                packed::set(&mut out, bits, i, packed::get(src, bits, (y * w + x) * c + k));
                i += 1;
            }
        }
    }
    out.into_iter().map(|b| b as i8).collect()
}

/// Runs a windowed kernel tile by tile over an `out_hw` x `out_c` output map
/// at `out_bits` bits, on the tile grid cut at `rows` and `cols` (as
/// `super::tiled`): each tile reads a packed buffer holding
/// exactly `input_rect(tile)` of the full input (`in_bits` bits, `in_w`
/// pixels wide, `in_c` channels) and writes its own packed buffer (filled
/// with junk beforehand), whose codes are copied one by one into a zeroed
/// full output map. Stops at the first tile returning [`Outlier`].
#[allow(clippy::too_many_arguments)]
pub fn tiled(
    out_hw: [usize; 2],
    out_c: usize,
    out_bits: u32,
    (rows, cols): &(Vec<u16>, Vec<u16>),
    input: &[i8],
    in_bits: u32,
    in_w: usize,
    in_c: usize,
    input_rect: impl Fn(&Rect) -> Rect,
    mut run: impl FnMut(Codes, CodesMut) -> Result<(), Outlier>,
) -> Result<Vec<i8>, Outlier> {
    let mut full = vec![0u8; packed_len(out_hw[0] * out_hw[1] * out_c, out_bits)];
    for &(y, h) in &cuts(out_hw[0], rows) {
        for &(x, w) in &cuts(out_hw[1], cols) {
            let tile = Rect { y, x, h, w };
            let ir = input_rect(&tile);
            let xin = window(input, in_bits, in_w, in_c, &ir);
            let mut out = vec![0x5Ai8; packed_len(tile.area() * out_c, out_bits)];
            run(
                Codes {
                    data: &xin,
                    rect: ir,
                    bits: in_bits,
                },
                CodesMut {
                    data: &mut out,
                    rect: tile,
                    bits: out_bits,
                },
            )?;
            let out: &[u8] = bytemuck::cast_slice(&out);
            for ty in 0..h {
                for tx in 0..w {
                    for k in 0..out_c {
                        let code = packed::get(out, out_bits, (ty * w + tx) * out_c + k);
                        packed::set(&mut full, out_bits, ((y + ty) * out_hw[1] + x + tx) * out_c + k, code);
                    }
                }
            }
        }
    }
    Ok(full.into_iter().map(|b| b as i8).collect())
}

/// Runs a windowed kernel once on the whole maps of `g`: the full packed
/// `input` at `in_bits` bits and a zeroed output map at `out_bits` bits,
/// which it returns unless the kernel returns [`Outlier`].
pub fn whole_map(
    g: &Geometry,
    out_bits: u32,
    input: &[i8],
    in_bits: u32,
    run: impl FnOnce(Codes, CodesMut) -> Result<(), Outlier>,
) -> Result<Vec<i8>, Outlier> {
    let [ih, iw, _] = g.input;
    let [oh, ow, oc] = g.output;
    let mut y = zeroed(oh * ow * oc, out_bits);
    run(
        Codes {
            data: input,
            rect: Rect::full(ih, iw),
            bits: in_bits,
        },
        CodesMut {
            data: &mut y,
            rect: Rect::full(oh, ow),
            bits: out_bits,
        },
    )?;
    Ok(y)
}

/// [`tiled`] over the output map of `g` at `out_bits` bits, each tile
/// reading `g.input_rect(tile)` of the full input map at `in_bits` bits.
pub fn tiled_map(
    g: &Geometry,
    out_bits: u32,
    grid: &(Vec<u16>, Vec<u16>),
    input: &[i8],
    in_bits: u32,
    run: impl FnMut(Codes, CodesMut) -> Result<(), Outlier>,
) -> Result<Vec<i8>, Outlier> {
    let [oh, ow, oc] = g.output;
    tiled(
        [oh, ow],
        oc,
        out_bits,
        grid,
        input,
        in_bits,
        g.input[1],
        g.input[2],
        |r| g.input_rect(r),
        run,
    )
}

/// Seeds of random accumulator bounds, turned into bounds by
/// [`Bounds::place`] once the reference accumulators are known.
#[derive(Clone, Debug)]
pub struct Bounds {
    per_channel: bool,
    /// Per entry: how to place the low and the high bound (see
    /// [`Bounds::place`]) and a fraction (of `u16::MAX`) for each.
    picks: Vec<(u8, u8, u16, u16)>,
}

/// Random bound seeds for `channels` channels, per tensor or per channel;
/// half of the time every bound is placed so that all accumulators are
/// clean.
pub fn bounds(channels: usize) -> impl Strategy<Value = Bounds> {
    (any::<bool>(), any::<bool>())
        .prop_flat_map(move |(per_channel, all_clean)| {
            let kind = if all_clean { 0u8..3 } else { 0u8..5 };
            let n = if per_channel { channels.max(1) } else { 1 };
            (
                Just(per_channel),
                prop::collection::vec((kind.clone(), kind, any::<u16>(), any::<u16>()), n),
            )
        })
        .prop_map(|(per_channel, picks)| Bounds { per_channel, picks })
}

impl Bounds {
    /// Bounds that hold every accumulator: the whole `i32` range.
    pub fn widest() -> Self {
        Bounds {
            per_channel: false,
            picks: vec![(0, 0, 0, 0)],
        }
    }

    /// Low and high bounds, one entry (per tensor) or one per channel, placed
    /// relative to the lowest and highest accumulator of the entry's channels
    /// (`accs[i]` belongs to channel `i % channels`): for each bound, kind 0
    /// is the widest `i32`, 1 the extreme accumulator itself, 2 one past it,
    /// 3 one short of it, 4 a random point between the two extremes.
    pub fn place(&self, accs: &[i64], channels: usize) -> (Vec<i32>, Vec<i32>) {
        let mut lo = Vec::new();
        let mut hi = Vec::new();
        for (e, &(kl, kh, fl, fh)) in self.picks.iter().enumerate() {
            let mine = || {
                accs.iter()
                    .enumerate()
                    .filter(move |(i, _)| !self.per_channel || i % channels == e)
                    .map(|(_, &a)| a)
            };
            let (min, max) = (mine().min().unwrap_or(0), mine().max().unwrap_or(0));
            let between = |f: u16| min + (max - min) * i64::from(f) / i64::from(u16::MAX);
            let l = match kl {
                0 => i64::from(i32::MIN),
                1 => min,
                2 => min - 1,
                3 => min + 1,
                _ => between(fl),
            };
            let h = match kh {
                0 => i64::from(i32::MAX),
                1 => max,
                2 => max + 1,
                3 => max - 1,
                _ => between(fh),
            };
            let to_i32 = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            lo.push(to_i32(l));
            hi.push(to_i32(h));
        }
        (lo, hi)
    }
}

/// True when some accumulator lies outside its channel's bounds (`accs[i]`
/// belongs to channel `i % channels`; a single entry bounds every channel).
pub fn any_outlier(lo: &[i32], hi: &[i32], accs: &[i64], channels: usize) -> bool {
    accs.iter().enumerate().any(|(i, &a)| {
        let e = if lo.len() == 1 { 0 } else { i % channels };
        a < i64::from(lo[e]) || a > i64::from(hi[e])
    })
}

/// Runs `test` on `cases` random values of `strategy` (no failure
/// persistence), panicking with the shrunk failing value and `what`.
pub fn run_cases<S: Strategy>(
    what: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{what}: {e}");
    }
}

/// Runs `test` on `cases` random values of `strategy(a, b)` for every pair
/// of widths `a`, `b` in `1..=8`.
pub fn every_pair<S: Strategy>(
    cases: u32,
    strategy: impl Fn(u32, u32) -> S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    for a in 1..=8 {
        for b in 1..=8 {
            run_cases(&std::format!("widths ({a}, {b})"), cases, strategy(a, b), &test);
        }
    }
}

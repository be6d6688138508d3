//! Executes a parsed [`Plan`] in a caller-provided arena: no allocation, no
//! panics. [`Plan::parse`] checked every record, window and parameter, so
//! the only errors left are buffers of the wrong size.

use core::fmt;

use crate::geometry::Rect;
use crate::ops::add::{add, add_lowbit, AddParams, AddTable, TABLE_MIN};
use crate::ops::conv2d::{conv2d, conv2d_lowbit};
use crate::ops::depthwise_conv2d::{
    depthwise_conv2d, depthwise_conv2d_in_place, depthwise_conv2d_lowbit, in_place_temp_len,
};
use crate::ops::fully_connected::{fully_connected, fully_connected_lowbit};
use crate::ops::mean::mean_hw;
use crate::ops::pad::{pad, pad_lowbit};
use crate::ops::pool::{average_pool2d, average_pool2d_lowbit, max_pool2d, max_pool2d_lowbit};
use crate::ops::recode::recode;
use crate::ops::requantize::requantize;
use crate::plan::{Mixed, Op, Place, Plan, Rule, Step, Variant, MAX_INPUTS, MAX_MAPS, NOT_A_MAP};
use crate::softmax::softmax_int8;
use crate::view::{Codes, CodesMut, Window, WindowMut};

/// A caller's buffer whose size does not fit the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// The arena holds fewer bytes than [`Plan::arena_bytes`].
    Arena { needed: usize, got: usize },
    /// The input is not [`Plan::input_len`] bytes.
    Input { expected: usize, got: usize },
    /// The output is not [`Plan::output_len`] bytes.
    Output { expected: usize, got: usize },
    /// The width statistics are neither empty nor `n_tiles x n_maps` bytes.
    Stats { expected: usize, got: usize },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RunError::Arena { needed, got } => {
                write!(f, "the arena has {got} bytes, the plan needs {needed}")
            }
            RunError::Input { expected, got } => {
                write!(f, "the input has {got} bytes, the plan reads {expected}")
            }
            RunError::Output { expected, got } => {
                write!(f, "the output has {got} bytes, the plan writes {expected}")
            }
            RunError::Stats { expected, got } => write!(
                f,
                "the width statistics have {got} bytes, expected 0 or {expected} (tiles x maps)"
            ),
        }
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

/// Splits the arena into the writable output range and read-only input ranges
/// (checked disjoint when the plan was parsed).
fn split_io<'a>(
    arena: &'a mut [i8],
    out: (usize, usize),
    ins: &[(usize, usize)],
    got: &mut [&'a [i8]; MAX_INPUTS],
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
) -> Result<(), RunError> {
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
) -> Result<(), RunError> {
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

/// Checks the caller's buffers against `plan`.
fn check_buffers(plan: &Plan, arena: &[i8], input: &[i8], output: &[i8], stats: &[u8]) -> Result<(), RunError> {
    if arena.len() < plan.arena_bytes() {
        return Err(RunError::Arena {
            needed: plan.arena_bytes(),
            got: arena.len(),
        });
    }
    if input.len() != plan.input_len() {
        return Err(RunError::Input {
            expected: plan.input_len(),
            got: input.len(),
        });
    }
    if output.len() != plan.output_len() {
        return Err(RunError::Output {
            expected: plan.output_len(),
            got: output.len(),
        });
    }
    let tiles_maps = plan.n_tiles().saturating_mul(plan.n_maps());
    if !stats.is_empty() && stats.len() != tiles_maps {
        return Err(RunError::Stats {
            expected: tiles_maps,
            got: stats.len(),
        });
    }
    Ok(())
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
) -> Result<(), RunError> {
    check_buffers(plan, arena, input, output, stats)?;
    stats.fill(0);
    let mut tiles = Tiles {
        state: [8; MAX_MAPS],
        tile: None,
        sticky: false,
        stats,
        observer,
    };
    for step in plan.steps() {
        match step {
            Step::Run {
                op: index,
                out,
                ins,
                n_in,
            } => {
                let op = plan.op(index);
                // Window bytes: every variant of a mixed op has the first's channels.
                let shape = match op {
                    Op::Mixed(m) => plan.op(m.first_op()),
                    o => o,
                };
                let ins = &ins[..n_in];
                let mut ranges = [(0usize, 0usize); MAX_INPUTS];
                for (r, x) in ranges.iter_mut().zip(ins) {
                    *r = (x.offset, x.rect.area() * shape.in_channels());
                }
                let out_len = out.rect.area() * shape.out_channels();
                let mut xs: [&[i8]; MAX_INPUTS] = [&[]; MAX_INPUTS];
                let y = split_io(arena, (out.offset, out_len), &ranges[..n_in], &mut xs);
                tiles.observer.op_started(index);
                match op {
                    Op::Mixed(m) => run_mixed(plan, &m, &mut tiles, &xs[..n_in], ins, y, out.rect, scratch),
                    _ => run_op(&op, &xs[..n_in], ins, y, out.rect, scratch),
                }
                tiles.observer.op_finished(index);
            }
            Step::BeginTile => {
                tiles.tile = Some(tiles.tile.map_or(0, |t| t + 1));
                tiles.sticky = false;
            }
            Step::LoadInput {
                dst,
                rect: r,
                map_w,
                channels: ch,
            } => {
                for row in 0..r.h {
                    let src = ((r.y + row) * map_w + r.x) * ch;
                    let d = dst + row * r.w * ch;
                    arena[d..d + r.w * ch].copy_from_slice(&input[src..src + r.w * ch]);
                }
            }
            Step::StoreTile {
                src,
                rect: r,
                dst,
                map_h,
                map_w,
                channels: ch,
            } => {
                let mut xs: [&[i8]; MAX_INPUTS] = [&[]; MAX_INPUTS];
                let map = split_io(arena, (dst, map_h * map_w * ch), &[(src, r.area() * ch)], &mut xs);
                for row in 0..r.h {
                    let d = ((r.y + row) * map_w + r.x) * ch;
                    map[d..d + r.w * ch].copy_from_slice(&xs[0][row * r.w * ch..(row + 1) * r.w * ch]);
                }
            }
            Step::RunInPlace {
                op: index,
                offset,
                temp,
            } => {
                // A depthwise convolution that can run in place (checked at parse).
                let Op::DepthwiseConv2d(p) = plan.op(index) else {
                    continue;
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
        }
    }
    output.copy_from_slice(&arena[plan.output_offset()..plan.output_offset() + plan.output_len()]);
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
/// [`Plan::parse`] checked that a variant exists for every width the inputs
/// can arrive at, and an 8-bit one wherever a variant checks for outliers.
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
) {
    let in_bits = [0, 1].map(|j| {
        if j < m.n_in {
            width(&tiles.state, m.in_maps[j])
        } else {
            0
        }
    });
    let low_bits = plan.map_bits(m.out_map);
    let low = (low_bits < 8).then(|| m.variant(in_bits, low_bits)).flatten();
    let eight = m.variant(in_bits, 8);
    let allow_low = !(plan.rule() == Rule::Branch && tiles.sticky);
    let Some(first) = (if allow_low { low.or(eight) } else { eight.or(low) }) else {
        return;
    };
    // Every variant has the first's channels (checked at parse).
    let channels = || plan.op(m.first_op()).out_channels();
    let mut used = first.out_bits;
    if let (Some(recoding), Some(eight)) = (plan.recode(&first), eight) {
        // Int8-first: the 8-bit variant writes int8, then a clean map
        // becomes codes; an outlier map stays as written.
        run_variant(plan, &eight, xs, ins, y, rect, scratch);
        let channels = channels();
        if !recode(&recoding, y, rect.area() * channels, channels) {
            used = 8;
        }
    } else if !run_variant(plan, &first, xs, ins, y, rect, scratch) {
        // Only a variant with clean bounds finds outliers, and it has an 8-bit
        // fallback that checks none.
        if let Some(eight) = eight {
            run_variant(plan, &eight, xs, ins, y, rect, scratch);
            used = 8;
        }
    }
    if m.out_map != NOT_A_MAP {
        tiles.state[m.out_map as usize] = used as u8;
        if used == 8 && low_bits < 8 {
            tiles.sticky = true;
        }
        if let Some(t) = tiles.tile {
            if let Some(s) = tiles.stats.get_mut(t * plan.n_maps() + m.out_map as usize) {
                *s = used as u8;
            }
            tiles
                .observer
                .map_written(t, m.out_map as usize, used, y, rect, channels());
        }
    }
}

/// Runs one variant: the int8 kernels when everything is 8-bit and nothing
/// is checked, the any-width kernels otherwise. False when it met an
/// outlier (and stopped).
fn run_variant(
    plan: &Plan,
    v: &Variant,
    xs: &[&[i8]],
    ins: &[Place],
    y: &mut [i8],
    rect: Rect,
    scratch: &mut [i32],
) -> bool {
    let op = plan.op(v.op);
    if v.out_bits == 8 && v.in_bits.iter().all(|&b| b == 8 || b == 0) && v.n_clean == 0 {
        run_op(&op, xs, ins, y, rect, scratch);
        return true;
    }
    let clean = plan.clean(v);
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
    let done = match &op {
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
        // Mixed records wrap only the kinds above (checked at parse).
        _ => Ok(()),
    };
    done.is_ok()
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
        Op::Add(p, ch) if rect.area() * ch >= TABLE_MIN => {
            add_by_table(p, [win(0), win(1)], WindowMut { data: y, rect }, *ch)
        }
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

/// An int8 ADD row by row through one [`AddTable`]. Not inlined: the
/// tables' 2 KiB stay out of `run_op`'s frame while other ops run.
#[inline(never)]
fn add_by_table(p: &AddParams, xs: [Window; 2], out: WindowMut, ch: usize) {
    let t = AddTable::new(p);
    rows(&xs, out, ch, |a, y| t.add(a[0], a[1], y));
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

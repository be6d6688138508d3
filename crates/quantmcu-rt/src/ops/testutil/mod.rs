//! Helpers shared by the kernel tests: TFLite SAME/VALID geometries, random
//! data, requantization parameters, random tile grids and tiled execution.

extern crate std;

pub mod codes;
pub mod layer;
pub mod windowed;

use std::vec::Vec;

use proptest::prelude::*;

use crate::fixedpoint::quantize_multiplier;
use crate::geometry::{Geometry, Rect};
use crate::view::{Window, WindowMut};

/// Output size and padding before the first element along one axis, as
/// TFLite computes them for SAME or VALID padding (`None` when VALID leaves
/// no output).
pub fn out_and_pad(input: usize, k: usize, s: usize, d: usize, same: bool) -> Option<(usize, usize)> {
    let eff = (k - 1) * d + 1;
    if same {
        let out = input.div_ceil(s);
        let total = ((out - 1) * s + eff).saturating_sub(input);
        Some((out, total / 2))
    } else if input < eff {
        None
    } else {
        Some(((input - eff) / s + 1, 0))
    }
}

/// A sliding-window geometry; VALID padding falls back to SAME when it would
/// leave no output.
pub fn geometry(
    input: [usize; 3],
    out_c: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    same: bool,
) -> Geometry {
    let axis = |a: usize| {
        out_and_pad(input[a], kernel[a], stride[a], dilation[a], same)
            .or_else(|| out_and_pad(input[a], kernel[a], stride[a], dilation[a], true))
            .unwrap()
    };
    let (oh, ph) = axis(0);
    let (ow, pw) = axis(1);
    Geometry {
        input,
        output: [oh, ow, out_c],
        kernel,
        stride,
        dilation,
        pad: [ph, pw],
    }
}

/// Spatial part of a random geometry: input height and width, kernel (1, 3,
/// 5 or 7 per axis, 1 and 3 more often), strides and dilations 1 or 2, SAME
/// or VALID.
#[allow(clippy::type_complexity)]
pub fn spatial() -> impl Strategy<Value = ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool)> {
    let k = || prop_oneof![3 => Just(1usize), 3 => Just(3usize), 1 => Just(5usize), 1 => Just(7usize)];
    (
        [1usize..=11, 1usize..=11],
        prop_oneof![2 => k().prop_map(|k| [k, k]), 1 => [k(), k()]],
        [1usize..=2, 1usize..=2],
        prop_oneof![3 => Just([1usize, 1]), 1 => [1usize..=2, 1usize..=2]],
        any::<bool>(),
    )
}

/// Per-channel (multiplier, shift) pairs from real factors.
pub fn multipliers(scales: &[f64]) -> (Vec<i32>, Vec<i32>) {
    scales.iter().map(|&s| quantize_multiplier(s)).unzip()
}

/// An activation clamp `[min, max]` with `min <= max`.
pub fn clamp() -> impl Strategy<Value = (i32, i32)> {
    prop_oneof![
        2 => Just((-128, 127)),
        1 => (-128i32..=127, -128i32..=127).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

/// Random int8 data of length `n`.
pub fn bytes(n: usize) -> impl Strategy<Value = Vec<i8>> {
    prop::collection::vec(any::<i8>(), n)
}

/// Splits `0..len` at the (deduplicated) cut points `seeds % len`.
pub fn cuts(len: usize, seeds: &[u16]) -> Vec<(usize, usize)> {
    let mut at: Vec<usize> = seeds
        .iter()
        .map(|&s| s as usize % len.max(1))
        .filter(|&c| c > 0)
        .collect();
    at.push(0);
    at.push(len);
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}

/// Cut points of a random tile grid (up to 4 x 4 tiles).
pub fn grid() -> impl Strategy<Value = (Vec<u16>, Vec<u16>)> {
    (
        prop::collection::vec(any::<u16>(), 0..4),
        prop::collection::vec(any::<u16>(), 0..4),
    )
}

/// Copies `r` out of a full `[h][w][c]` map of width `w`.
pub fn extract(full: &[i8], w: usize, c: usize, r: &Rect) -> Vec<i8> {
    let mut out = Vec::with_capacity(r.area() * c);
    for y in r.y..r.y + r.h {
        out.extend_from_slice(&full[(y * w + r.x) * c..(y * w + r.x + r.w) * c]);
    }
    out
}

/// Runs a windowed kernel tile by tile over an `out_hw` x `out_c` output: each
/// tile gets a buffer holding exactly `input_rect(tile)` copied out of the
/// full input (`in_w` wide, `in_c` channels); the tiles are stitched together.
#[allow(clippy::too_many_arguments)]
pub fn tiled(
    out_hw: [usize; 2],
    out_c: usize,
    (rows, cols): &(Vec<u16>, Vec<u16>),
    input: &[i8],
    in_w: usize,
    in_c: usize,
    input_rect: impl Fn(&Rect) -> Rect,
    mut run: impl FnMut(Window, WindowMut),
) -> Vec<i8> {
    let mut full = std::vec![0i8; out_hw[0] * out_hw[1] * out_c];
    for &(y, h) in &cuts(out_hw[0], rows) {
        for &(x, w) in &cuts(out_hw[1], cols) {
            let tile = Rect { y, x, h, w };
            let ir = input_rect(&tile);
            let xin = extract(input, in_w, in_c, &ir);
            let mut out = std::vec![0x55i8; tile.area() * out_c];
            run(
                Window { data: &xin, rect: ir },
                WindowMut {
                    data: &mut out,
                    rect: tile,
                },
            );
            for ty in 0..h {
                let dst = ((y + ty) * out_hw[1] + x) * out_c;
                full[dst..dst + w * out_c].copy_from_slice(&out[ty * w * out_c..(ty + 1) * w * out_c]);
            }
        }
    }
    full
}

/// Runs a windowed kernel once on the whole maps of `g`: the full `input`
/// and a zeroed output map, which it returns.
pub fn whole_map(g: &Geometry, input: &[i8], run: impl FnOnce(Window, WindowMut)) -> Vec<i8> {
    let [ih, iw, _] = g.input;
    let [oh, ow, oc] = g.output;
    let mut y = std::vec![0i8; oh * ow * oc];
    run(
        Window {
            data: input,
            rect: Rect::full(ih, iw),
        },
        WindowMut {
            data: &mut y,
            rect: Rect::full(oh, ow),
        },
    );
    y
}

/// [`tiled`] over the output map of `g`, each tile reading
/// `g.input_rect(tile)` of the full input map.
pub fn tiled_map(
    g: &Geometry,
    grid: &(Vec<u16>, Vec<u16>),
    input: &[i8],
    run: impl FnMut(Window, WindowMut),
) -> Vec<i8> {
    let [oh, ow, oc] = g.output;
    tiled(
        [oh, ow],
        oc,
        grid,
        input,
        g.input[1],
        g.input[2],
        |r| g.input_rect(r),
        run,
    )
}

/// The taps of output pixel `(oy, ox)` of `g` that fall inside the input
/// map, as (tap index `ky * kernel_w + kx`, input pixel index
/// `iy * in_w + ix`), in tap order.
pub fn taps(g: &Geometry, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize)> {
    let g = *g;
    let [ih, iw, _] = g.input;
    let kw = g.kernel[1];
    (0..g.kernel[0] * kw).filter_map(move |t| {
        let (ky, kx) = (t / kw, t % kw);
        let iy = (oy * g.stride[0] + ky * g.dilation[0]).checked_sub(g.pad[0])?;
        let ix = (ox * g.stride[1] + kx * g.dilation[1]).checked_sub(g.pad[1])?;
        (iy < ih && ix < iw).then_some((t, iy * iw + ix))
    })
}

/// Naive requantization of an exact accumulator (wrapped to 32 bits like the
/// C kernels): multiplier, output offset, clamp.
pub fn requant(acc: i64, m: i32, s: i32, offset: i32, min: i32, max: i32) -> i8 {
    let r = crate::fixedpoint::multiply_by_quantized_multiplier(acc as i32, m, s);
    r.saturating_add(offset).clamp(min, max) as i8
}

//! DEPTHWISE_CONV_2D (depth multiplier 1) computed in place over whole maps:
//! the buffer holds the input map on entry and the output map on return, so a
//! schedule needs only a small temporary instead of a second map.
//!
//! Channels run one at a time: channel `c` of the input is copied into the
//! temporary as a padded plane (the rows and columns the output reads, the
//! border holding the input zero point, whose offset value `v +
//! input_offset` is 0 and so contributes nothing, exactly as skipping a
//! padding tap does), then output channel `c` is computed from that plane and
//! written with stride `C`. Writing output channel `c` only overwrites
//! elements of channel `c` (the output map has the same channel count and is
//! no larger), whose input is already copied, so every other channel's input
//! is intact when its turn comes.
//!
//! Every tap lies inside the padded plane, so kernel rows of at most 4 taps
//! (no horizontal dilation) read one word each: SXTAB16 splits it into offset
//! pairs (taps 0/2 and 1/3) and two SMLAD multiply them with the row's weight
//! pairs (a missing fourth tap weighs 0; the plane has 3 spare bytes at its
//! end). Other kernels multiply tap by tap. Accumulation is the wrapping
//! 32-bit sum of the portable kernel and requantization its `Requant`, so the
//! results are equal bit for bit.

use super::dsp_loops;
use super::params::DepthwiseConv2dParams;
use super::plane_rows::{depthwise_conv2d_plane_rows_in_place, is_plane_rows_in_place};
use crate::dsp::{self, smlad};
use crate::geometry::Geometry;
use crate::view::Requant;

/// Most kernel rows of the word-at-a-time form.
const MAX_ROWS: usize = 8;

/// Most outputs of a row summed before requantization (a stack buffer).
const MAX_ROW_OUT: usize = 32;

/// Rows and columns of the padded plane: from the first padded row and
/// column, everything the output reads. Saturating: absurd geometries give a
/// length no arena holds.
fn padded(g: &Geometry) -> [usize; 2] {
    let span = |a: usize| {
        ((g.output[a].max(1) - 1).saturating_mul(g.stride[a]))
            .saturating_add((g.kernel[a].max(1) - 1).saturating_mul(g.dilation[a].max(1)))
            .saturating_add(1)
    };
    [span(0), span(1)]
}

/// Bytes of temporary the in-place kernel needs: one padded input plane and
/// 3 spare bytes for the last word load (saturating at `usize::MAX`).
pub fn in_place_temp_len(g: &Geometry) -> usize {
    let [h, w] = padded(g);
    h.saturating_mul(w).saturating_add(3)
}

/// True when `p` can run in place (multiplier 1, output no larger than input).
pub fn can_run_in_place(g: &Geometry) -> bool {
    g.input[2] == g.output[2] && g.output[0] <= g.input[0] && g.output[1] <= g.input[1]
}

/// True when the input zero point `-input_offset` is an int8 value (the
/// padded plane's border holds it).
pub fn in_place_offset_ok(input_offset: i32) -> bool {
    (-127..=128).contains(&input_offset)
}

/// Runs `p` in place: `buf` holds the `H x W x C` input map and receives the
/// `Ho x Wo x C` output map at its start; `temp` has at least
/// [`in_place_temp_len`] bytes. Results equal the out-of-place
/// [`super::depthwise_conv2d`]. With the feature `dsp`,
/// [`super::depthwise_conv2d_plane_rows_in_place`] where
/// [`super::is_plane_rows_in_place`] holds (it needs no temporary).
///
/// # Panics
///
/// Panics if `p` cannot run in place, its input offset fails
/// [`in_place_offset_ok`] or a buffer is too short (callers check the plan
/// once).
pub fn depthwise_conv2d_in_place(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    if cfg!(feature = "dsp") && is_plane_rows_in_place(p) {
        return depthwise_conv2d_plane_rows_in_place(p, buf);
    }
    #[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
    return super::x86::in_place_x86(p, buf, temp);
    #[allow(unreachable_code)]
    depthwise_conv2d_in_place_portable(p, buf, temp)
}

/// [`depthwise_conv2d_in_place`] in portable code (the reference of the
/// in-place forms). Same contract and panics.
#[inline(never)]
pub fn depthwise_conv2d_in_place_portable(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    in_place(p, buf, temp)
}

/// The in-place kernel's body, inlined into each form.
#[inline(always)]
pub(super) fn in_place(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    let g = &p.geometry;
    assert!(
        can_run_in_place(g) && in_place_offset_ok(p.input_offset),
        "depthwise in place needs multiplier 1, no upsampling and an int8 input zero point"
    );
    let [_, w, c] = g.input;
    let [oh, ow, _] = g.output;
    let [kh, kw] = g.kernel;
    let [hp, wp] = padded(g);
    let plane = &mut temp[..hp * wp + 3];
    let zero = (-p.input_offset) as i8;
    let [sy, sx] = g.stride;
    let [dy, dx] = g.dilation.map(|d| d.max(1));
    let words = dx == 1 && kw <= 4 && kh <= MAX_ROWS;
    let off = dsp::pair(p.input_offset, p.input_offset);
    // Rows and columns of the input inside the padded plane.
    let inside = |a: usize, n: usize| g.pad[a].min(n)..(g.pad[a] + g.input[a]).min(n);
    let (rows, cols) = (inside(0, hp), inside(1, wp));
    // The border is the same for every channel: filled once.
    plane.fill(zero);
    let mut acc = [0i32; MAX_ROW_OUT];
    for ch in 0..c {
        // A non-empty `rows`/`cols` starts at the padding: input row
        // `py - pad`, column 0.
        for py in rows.clone().filter(|_| !cols.is_empty()) {
            let mut k = (py - g.pad[0]) * w * c + ch;
            for d in &mut plane[py * wp..][cols.clone()] {
                *d = buf[k];
                k += c;
            }
        }
        let tap = |ky: usize, kx: usize| {
            if kx < kw {
                i32::from(p.filter[(ky * kw + kx) * c + ch])
            } else {
                0
            }
        };
        let q = Requant::new(&p.output, ch);
        let out = Out { q, bias: p.bias[ch], c };
        let y = &mut buf[ch..];
        let step = dy * wp;
        if words {
            let mut pairs = [[0u32; 2]; MAX_ROWS];
            for (ky, pr) in pairs.iter_mut().enumerate().take(kh) {
                *pr = [dsp::pair(tap(ky, 0), tap(ky, 2)), dsp::pair(tap(ky, 1), tap(ky, 3))];
            }
            match (kh, sx) {
                (3, 1) => out.run_3x3::<1>(plane, y, wp, [sy, oh, ow], step, &pairs, off, &mut acc),
                (3, 2) => out.run_3x3::<2>(plane, y, wp, [sy, oh, ow], step, &pairs, off, &mut acc),
                _ => out.run(plane, y, wp, [sy, sx], [oh, ow], |x, acc| {
                    dot_rows(x, step, &pairs[..kh], off, acc)
                }),
            }
        } else {
            out.run(plane, y, wp, [sy, sx], [oh, ow], |x, acc| {
                (0..kh * kw).fold(acc, |acc, t| {
                    let (ky, kx) = (t / kw, t % kw);
                    let v = i32::from(x[ky * step + kx * dx]) + p.input_offset;
                    acc.wrapping_add(v.wrapping_mul(tap(ky, kx)))
                })
            });
        }
    }
}

/// One output channel's constants.
struct Out {
    q: Requant,
    bias: i32,
    /// Channels of the map (the output stride).
    c: usize,
}

impl Out {
    /// Writes `y[(oy * ow + ox) * c]` for every output pixel: `dot(x, bias)`
    /// with `x` the plane from the pixel's window origin, requantized.
    #[inline(always)]
    fn run(
        &self,
        plane: &[i8],
        y: &mut [i8],
        wp: usize,
        [sy, sx]: [usize; 2],
        [oh, ow]: [usize; 2],
        dot: impl Fn(&[i8], i32) -> i32,
    ) {
        let mut outs = y.iter_mut().step_by(self.c);
        for oy in 0..oh {
            let row = &plane[oy * sy * wp..];
            for (ox, v) in (&mut outs).take(ow).enumerate() {
                *v = self.q.value(dot(&row[ox * sx..], self.bias)) as i8;
            }
        }
    }

    /// [`Out::run`] for 3-row kernels at horizontal stride `SX` through
    /// [`dsp_loops::plane_3x3`], up to [`MAX_ROW_OUT`] outputs of a row at a time
    /// (summed into `acc`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_3x3<const SX: usize>(
        &self,
        plane: &[i8],
        y: &mut [i8],
        wp: usize,
        [sy, oh, ow]: [usize; 3],
        step: usize,
        pairs: &[[u32; 2]; MAX_ROWS],
        off: u32,
        acc: &mut [i32; MAX_ROW_OUT],
    ) {
        let w = [
            pairs[0][0],
            pairs[0][1],
            pairs[1][0],
            pairs[1][1],
            pairs[2][0],
            pairs[2][1],
        ];
        let mut outs = y.iter_mut().step_by(self.c);
        for oy in 0..oh {
            for x0 in (0..ow).step_by(MAX_ROW_OUT) {
                let n = (ow - x0).min(MAX_ROW_OUT);
                dsp_loops::plane_3x3::<SX>(&plane[oy * sy * wp + x0 * SX..], step, &w, off, &mut acc[..n]);
                // `acc` first: zip must not take an output past the row.
                let row = acc[..n].iter().zip(&mut outs);
                if self.q.saturates(true, 8) {
                    row.for_each(|(&a, v)| *v = dsp::ssat::<8>(self.q.scaled(a.wrapping_add(self.bias))) as i8);
                } else {
                    row.for_each(|(&a, v)| *v = self.q.value(a.wrapping_add(self.bias)) as i8);
                }
            }
        }
    }
}

/// `acc` plus the taps of kernel rows `pairs` (row `k` the word at `x[k *
/// step..]`, decoded with `off`): one word load, two SXTAB16 and two SMLAD
/// per row.
#[inline(always)]
fn dot_rows(x: &[i8], step: usize, pairs: &[[u32; 2]], off: u32, mut acc: i32) -> i32 {
    for (k, &[e, o]) in pairs.iter().enumerate() {
        let v = dsp::load_u32(x, k * step);
        acc = smlad(dsp::sxtab16_ror8(off, v), o, smlad(dsp::sxtab16(off, v), e, acc));
    }
    acc
}

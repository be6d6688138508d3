//! 1x1 convolution (one group, unpadded) as dot products of 16-bit pairs, the
//! Cortex-M DSP form of the pointwise kernels: `acc = bias[o] + sum((v +
//! input_offset) * w)` in wrapping 32-bit arithmetic, for input maps of any
//! width ([`Codes`]: int8 or packed codes) — the same integer formula as the
//! portable kernels, so the results are equal bit for bit.
//!
//! Up to [`CHUNK`] output pixels at a time: their offset input values are
//! expanded once into halfword pairs ordered like [`dsp::sxtb16`] splits a
//! word of four weights (channels `c, c+2` then `c+1, c+3`); then two output
//! channels at a time, each pixel pair runs [`dsp::dot_2x2`] (each loaded
//! weight word costs two SXTB16 and feeds four SMLAD).
//! Offset values must fit an `i16` ([`dsp::offset_values_fit_lane`]).

use super::conv2d::Conv2dParams;
use crate::dsp::{self, smlad};
use crate::geometry::Rect;
use crate::lowbit::Codes;

/// Largest input depth (the expanded pixels sit on the stack: 1 KiB).
pub const MAX_CHANNELS: usize = 256;

/// Words of the expanded-pixel buffer.
const BUF_WORDS: usize = 256;

/// Most output pixels per chunk (one requantization setup per channel and
/// chunk).
const CHUNK: usize = 16;

/// Computes `acc` for every output pixel of `out` and output channel `o` and
/// hands them to `emit(o, &[(pixel's element index in out, acc)])`, up to
/// [`CHUNK`] pixels at a time in raster order, stopping at the first error.
/// `x` must hold the input pixels `out` reads (`p.geometry` must be a
/// one-group 1x1 without padding, input depth `<= MAX_CHANNELS`).
///
/// # Panics
///
/// Panics if `x` lacks pixels the output rect reads or the filter/bias are
/// shorter than the shapes say.
pub fn conv2d_1x1_smlad<E>(
    p: &Conv2dParams,
    x: Codes,
    out: Rect,
    mut emit: impl FnMut(usize, &[(usize, i32)]) -> Result<(), E>,
) -> Result<(), E> {
    let g = &p.geometry;
    let (ic, oc) = (g.input[2], g.output[2]);
    let words = ic.div_ceil(4);
    let full = ic / 4;
    // Per pixel pair and 4 channels: A's (c, c+2) and (c+1, c+3) pairs, then
    // B's.
    let pair_words = 4 * words;
    let mut buf = [0u32; BUF_WORDS];
    let chunk = (2 * (BUF_WORDS / pair_words)).min(CHUNK);
    let area = out.area();
    let mut i = 0;
    while i < area {
        let n = (area - i).min(chunk);
        let mut at = [0usize; CHUNK];
        for (k, at) in at.iter_mut().enumerate().take(n.next_multiple_of(2)) {
            let j = i + k.min(n - 1);
            let (oy, ox) = (out.y + j / out.w, out.x + j % out.w);
            *at = out.offset(oy, ox, oc);
            let xp = &mut buf[(k / 2) * pair_words..][..pair_words];
            expand(
                xp,
                k % 2,
                x,
                x.rect.offset(oy * g.stride[0], ox * g.stride[1], ic),
                ic,
                p.input_offset,
            );
        }
        let mut o = 0;
        while o < oc {
            let o1 = (o + 1).min(oc - 1);
            let (b0, b1) = (p.bias[o], p.bias[o1]);
            let stride = (o1 - o) * ic;
            let w = &p.filter[o * ic..o1 * ic + ic];
            let mut outs = [[(0usize, 0i32); CHUNK]; 2];
            for (k, xp) in buf[..n.div_ceil(2) * pair_words].chunks_exact(pair_words).enumerate() {
                let mut acc = [b0, b0, b1, b1];
                if full > 0 {
                    acc = dsp::dot_2x2(acc, xp, w, stride, full);
                }
                if full < words {
                    mac(
                        &mut acc,
                        &xp[4 * full..],
                        word(&w[4 * full..ic]),
                        word(&w[stride + 4 * full..]),
                    );
                }
                outs[0][2 * k] = (at[2 * k], acc[0]);
                outs[0][2 * k + 1] = (at[2 * k + 1], acc[1]);
                outs[1][2 * k] = (at[2 * k], acc[2]);
                outs[1][2 * k + 1] = (at[2 * k + 1], acc[3]);
            }
            emit(o, &outs[0][..n])?;
            if o1 > o {
                emit(o1, &outs[1][..n])?;
            }
            o += 2;
        }
        i += n;
    }
    Ok(())
}

/// Two output channels' weight word (`a`, `b`) times two pixels' pairs `q`.
#[inline(always)]
fn mac(acc: &mut [i32; 4], q: &[u32], a: u32, b: u32) {
    let (ae, ao, be, bo) = (dsp::sxtb16(a), dsp::sxtb16_ror8(a), dsp::sxtb16(b), dsp::sxtb16_ror8(b));
    acc[0] = smlad(q[1], ao, smlad(q[0], ae, acc[0]));
    acc[1] = smlad(q[3], ao, smlad(q[2], ae, acc[1]));
    acc[2] = smlad(q[1], bo, smlad(q[0], be, acc[2]));
    acc[3] = smlad(q[3], bo, smlad(q[2], be, acc[3]));
}

/// Up to four bytes as a little-endian word (missing bytes 0).
#[inline(always)]
fn word(b: &[i8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_le_bytes([*a as u8, *b as u8, *c as u8, *d as u8]),
        _ => b.iter().rev().fold(0, |w, &v| (w << 8) | u32::from(v as u8)),
    }
}

/// Writes pixel `k`'s (0 = A, 1 = B) `ic` offset values from element `src`
/// of `x` into its pairs of `xp`; channels past `ic` in the last word are 0.
#[inline(always)]
fn expand(xp: &mut [u32], k: usize, x: Codes, src: usize, ic: usize, offset: i32) {
    if x.bits >= 8 {
        // Four int8 values per word: SXTAB16 splits and offsets them.
        let off = dsp::pair(offset, offset);
        let bytes = &x.data[src..][..ic];
        for (g, q) in xp.chunks_exact_mut(4).take(ic / 4).enumerate() {
            let v = dsp::load_u32(bytes, 4 * g);
            q[2 * k] = dsp::sxtab16(off, v);
            q[2 * k + 1] = dsp::sxtab16_ror8(off, v);
        }
        let rest = &bytes[4 * (ic / 4)..];
        if !rest.is_empty() {
            let q = &mut xp[4 * (ic / 4)..];
            let mut v = [0i32; 4];
            for (d, &s) in v.iter_mut().zip(rest) {
                *d = i32::from(s) + offset;
            }
            q[2 * k] = dsp::pair(v[0], v[2]);
            q[2 * k + 1] = dsp::pair(v[1], v[3]);
        }
        return;
    }
    for q in xp.chunks_exact_mut(4) {
        q[2 * k] = 0;
        q[2 * k + 1] = 0;
    }
    x.for_each(src, ic, |c, v| {
        let q = &mut xp[4 * (c / 4) + 2 * k + c % 2];
        let v = (v + offset) as u32 & 0xffff;
        *q |= if c % 4 < 2 { v } else { v << 16 };
    });
}

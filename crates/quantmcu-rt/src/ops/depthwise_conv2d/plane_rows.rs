//! DEPTHWISE_CONV_2D 3x3, multiplier 1, stride 1 or 2, over 16-bit offset
//! planes, writing int8: `acc = bias[c] + sum((v + input_offset) * w)` over
//! the taps inside the input (wrapping 32-bit arithmetic), then the short
//! requantization ([`crate::view::ShortRequant`]) and saturation to int8 —
//! the portable kernels' integer formula, so the results are equal bit for
//! bit.
//!
//! The output runs in column chunks and, inside a chunk, in blocks of
//! channels. Each input row a block reads is expanded once into per-channel
//! plane rows of signed halfwords `v + input_offset` (int8 values or codes
//! of any width; padding columns and rows hold 0, which adds nothing, as
//! skipping the tap does), kept in a ring of three rows per channel; then
//! [`plane_rows_loop::rows_3x3_int8`] computes the output row of every
//! channel of the block, two outputs per step, requantized and stored in
//! the same loop. Every input value is widened once instead of once per tap,
//! and since the planes hold offset values the loop is the same for every
//! input width. An odd last output of a chunk row is computed as a pair into
//! a small buffer, of which the first output is kept. Over whole int8 maps
//! whose output row fits one chunk the same kernel runs in place
//! ([`depthwise_conv2d_plane_rows_in_place`]).

use super::params::DepthwiseConv2dParams;
use super::plane_rows_loop::{self, channel_words, decode_words, ChannelWords, RowsAt, MAX_BIAS};
use crate::dsp;
use crate::geometry::Rect;
use crate::view::{offset_values_fit_lane, Codes, Requant, WindowMut};

/// Words of the planes buffer (on the stack): three rows per channel of a
/// block.
pub const PLANE_WORDS: usize = 640;

/// Most channels per block.
const MAX_BLOCK: usize = 16;

/// Narrowest output rect, in pixels, from which the out-of-place
/// plane-rows form is faster than the DSP form on int8 input, at stride 1
/// and 2: narrower rows pay the per-row setup of every channel for few
/// outputs (on the Cortex-M4, the VWW patch tiles 3 to 9 outputs wide at
/// stride 2 ran slower than the DSP form, those 7 wide at stride 1 faster).
pub const INT8_MIN_WIDTH: [usize; 2] = [4, 16];

/// True when [`depthwise_conv2d_plane_rows`] computes this convolution on an
/// input of `bits` bits: a 3x3 kernel, multiplier 1, no dilation, stride 1
/// or 2 along both axes, offset values fitting a halfword, every channel's
/// requantization in the short form saturating to int8 and every bias at
/// most [`MAX_BIAS`] in magnitude.
pub fn is_plane_rows(p: &DepthwiseConv2dParams, bits: u32) -> bool {
    let g = &p.geometry;
    let c = g.input[2];
    c > 0
        && g.output[2] == c
        && g.kernel == [3, 3]
        && g.dilation.iter().all(|&d| d <= 1)
        && g.stride[0] == g.stride[1]
        && (1..=2).contains(&g.stride[0])
        && p.filter.len() == 9 * c
        && p.bias.len() >= c
        && (1..=8).contains(&bits)
        && offset_values_fit_lane(p.input_offset, bits)
        // The clamp is the whole int8 range (a condition of the short form
        // saturating to int8, checked once before every channel's form).
        && (p.output.min, p.output.max) == (-128, 127)
        && (0..c).all(|j| p.bias[j].unsigned_abs() <= MAX_BIAS as u32 && Requant::new(&p.output, j).int8().is_some())
}

/// Computes the output pixels of `y.rect` (all channels, int8) from `x` (int8
/// at 8 bits, codes below), which must hold at least
/// `p.geometry.input_rect(&y.rect)` (map coordinates); `p` must satisfy
/// [`is_plane_rows`] at `x.bits`. Not inlined: its planes stay out of the
/// dispatching caller's frame.
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads or `y.data` is
/// shorter than `y.rect`.
#[inline(never)]
pub fn depthwise_conv2d_plane_rows(p: &DepthwiseConv2dParams, x: Codes, y: WindowMut) {
    let io = Io::Apart(x.data, y.data);
    if p.geometry.stride[1] == 1 {
        run::<1>(p, x.rect, x.bits, y.rect, io)
    } else {
        run::<2>(p, x.rect, x.bits, y.rect, io)
    }
}

/// True when [`depthwise_conv2d_plane_rows_in_place`] runs this int8
/// convolution over whole maps: [`is_plane_rows`] at 8 bits, an output no
/// larger than the input, padding of at most 2 and an output row that fits
/// one column chunk (every input row is then expanded before the output
/// rows that overwrite it are written).
pub fn is_plane_rows_in_place(p: &DepthwiseConv2dParams) -> bool {
    let g = &p.geometry;
    is_plane_rows(p, 8)
        && g.output[0] <= g.input[0]
        && g.output[1] <= g.input[1]
        && g.pad.iter().all(|&d| d <= 2)
        && g.output[1] <= 2 * max_pairs(8, g.input[2], g.stride[1])
}

/// The convolution in place: `buf` holds the `H x W x C` int8 input map and
/// receives the `Ho x Wo x C` output map at its start (as
/// [`super::depthwise_conv2d_in_place`]); `p` must satisfy
/// [`is_plane_rows_in_place`]. Output channel `c` of row `oy` overwrites
/// only input elements of channel `c` in rows up to `oy`, which the ring
/// already holds or no later output reads.
///
/// # Panics
///
/// Panics if `buf` is shorter than the input map.
#[inline(never)]
pub fn depthwise_conv2d_plane_rows_in_place(p: &DepthwiseConv2dParams, buf: &mut [i8]) {
    let g = &p.geometry;
    let (x, y) = (Rect::full(g.input[0], g.input[1]), Rect::full(g.output[0], g.output[1]));
    if g.stride[1] == 1 {
        run::<1>(p, x, 8, y, Io::Shared(buf))
    } else {
        run::<2>(p, x, 8, y, Io::Shared(buf))
    }
}

/// The input and output buffers: apart, or one buffer holding the input
/// and receiving the output.
enum Io<'a> {
    Apart(&'a [i8], &'a mut [i8]),
    Shared(&'a mut [i8]),
}

impl Io<'_> {
    fn x(&self) -> &[i8] {
        match self {
            Io::Apart(x, _) => x,
            Io::Shared(b) => b,
        }
    }

    fn y(&mut self) -> &mut [i8] {
        match self {
            Io::Apart(_, y) => y,
            Io::Shared(b) => b,
        }
    }
}

/// Channels per decoded word at `bits` bits.
fn word(bits: u32) -> usize {
    match bits {
        8 | 4 | 2 => 32 / bits as usize,
        _ => 4,
    }
}

/// Most output pairs of a column chunk at stride `s` over `c` channels such
/// that a block holds a whole word of channels (where the depth allows):
/// three plane rows of `s pairs + 1` words per channel.
fn max_pairs(bits: u32, c: usize, s: usize) -> usize {
    (PLANE_WORDS / (3 * word(bits).min(c).max(1)) - 1) / s
}

/// The kernel at stride `S`: input rect `xr` at `bits` bits, output rect `r`.
fn run<const S: usize>(p: &DepthwiseConv2dParams, xr: Rect, bits: u32, r: Rect, mut io: Io) {
    let g = &p.geometry;
    let c = g.input[2];
    if r.area() == 0 {
        return;
    }
    let mut planes = [0u32; PLANE_WORDS];
    let mut chans: [ChannelWords; MAX_BLOCK] = [[0; 10]; MAX_BLOCK];
    // The first output of an odd chunk row's last pair.
    let mut tail = [0i8; 2 * MAX_BLOCK];
    // Column chunks of near-equal even widths.
    let (word, max_pairs) = (word(bits), max_pairs(bits, c, S));
    let chunk = r.w.div_ceil(r.w.div_ceil(2 * max_pairs)).next_multiple_of(2);
    let mut ox0 = r.x;
    while ox0 < r.x + r.w {
        let n = (r.x + r.w - ox0).min(chunk);
        let row_words = S * n.div_ceil(2) + 1;
        let ch_words = 3 * row_words;
        // Whole words of channels where they fit.
        let block = match (PLANE_WORDS / ch_words).min(MAX_BLOCK) {
            b if b >= word => b - b % word,
            b => b,
        };
        // Plane column `j` holds input column `first + j`; the input columns
        // the chunk reads are `lo..hi`.
        let first = (ox0 * S) as isize - g.pad[1] as isize;
        let lo = first.max(0) as usize;
        let hi = ((first + ((n - 1) * S + 3) as isize).max(0) as usize).min(g.input[1]);
        let cols = lo..hi.max(lo);
        let col0 = (lo as isize - first) as usize;
        let mut c0 = 0;
        while c0 < c {
            let nb = (c - c0).min(block);
            planes[..nb * ch_words].fill(0);
            for (j, ch) in chans[..nb].iter_mut().enumerate() {
                let o = c0 + j;
                let w = core::array::from_fn(|ky| core::array::from_fn(|kx| p.filter[(3 * ky + kx) * c + o]));
                let q = Requant::new(&p.output, o).int8().expect("is_plane_rows");
                *ch = channel_words(w, p.bias[o], &q);
            }
            let chans = &chans[..nb];
            // Padded input rows `have..` are not in the ring yet.
            let mut have = 0;
            for oy in r.y..r.y + r.h {
                let top = oy * S;
                for prow in have.max(top)..top + 3 {
                    let halves: &mut [i16] = bytemuck::cast_slice_mut(&mut planes[..]);
                    let at = (prow % 3) * 2 * row_words + col0;
                    let dst = Planes {
                        data: halves,
                        at,
                        channel: 2 * ch_words,
                        n: cols.len(),
                    };
                    match (prow as isize - g.pad[0] as isize).try_into() {
                        Ok(iy) if iy < g.input[0] => {
                            let x = Codes {
                                data: io.x(),
                                rect: xr,
                                bits,
                            };
                            expand(&x, iy, cols.clone(), c0, nb, c, p.input_offset, dst)
                        }
                        _ => dst.zero(nb),
                    }
                }
                have = top + 3;
                let rows = core::array::from_fn(|k| ((top + k) % 3) * row_words);
                let y_at = r.offset(oy, ox0, c) + c0;
                if n >= 2 {
                    let at = RowsAt {
                        rows,
                        channel_words: ch_words,
                        y_at,
                        y_step: c,
                        pairs: n / 2,
                    };
                    plane_rows_loop::rows_3x3_int8::<S>(&planes, chans, &at, io.y());
                }
                if n % 2 == 1 {
                    let at = RowsAt {
                        rows: rows.map(|k| k + S * (n / 2)),
                        channel_words: ch_words,
                        y_at: 0,
                        y_step: nb,
                        pairs: 1,
                    };
                    plane_rows_loop::rows_3x3_int8::<S>(&planes, chans, &at, &mut tail);
                    let last = y_at + (n - 1) * c;
                    io.y()[last..last + nb].copy_from_slice(&tail[..nb]);
                }
            }
            c0 += nb;
        }
        ox0 += n;
    }
}

/// Where an input row goes: channel `j`'s `n` columns at halfword `at + j
/// channel` of `data`.
struct Planes<'a> {
    data: &'a mut [i16],
    at: usize,
    channel: usize,
    n: usize,
}

impl Planes<'_> {
    /// A padding row of `nb` channels: zeros.
    fn zero(self, nb: usize) {
        for j in 0..nb {
            self.data[self.at + j * self.channel..][..self.n].fill(0);
        }
    }
}

/// Input row `iy`, columns `cols`, channels `c0..c0 + nb` of `x` (`c`
/// channels), as offset values into `dst`: whole words of `4 * 8 / bits`
/// channels decoded with SXTAB16/UXTAB16 where the width is 8, 4 or 2 bits
/// and the words lie on byte boundaries, code by code otherwise.
#[allow(clippy::too_many_arguments)]
fn expand(x: &Codes, iy: usize, cols: core::ops::Range<usize>, c0: usize, nb: usize, c: usize, off: i32, dst: Planes) {
    let n = cols.len();
    if n == 0 {
        return;
    }
    let first = x.rect.offset(iy, cols.start, c) + c0;
    let bits = x.bits as usize;
    // Channels per word, when words of whole bytes apply.
    let per_word = match bits {
        8 | 4 | 2 if (c * bits).is_multiple_of(8) && (first * bits).is_multiple_of(8) => 32 / bits,
        _ => 0,
    };
    let words = nb.checked_div(per_word).unwrap_or(0);
    let at = dst.at;
    let (px, pairs) = (c * bits / 8, dsp::pair(off, off));
    for g in 0..words {
        let xs = &x.data[(first + g * per_word) * bits / 8..];
        // Pass `s` of `PER = per_word / 4` codes per byte: channels `s`, `s
        // + PER`, `s + 2 PER`, `s + 3 PER` of the word.
        let per = per_word / 4;
        for s in 0..per {
            let lane = |j: usize| at + (g * per_word + s + j * per) * dst.channel;
            let planes = [lane(0), lane(1), lane(2), lane(3)];
            let shift = (s * bits) as u32;
            match bits {
                8 => decode_words::<0>(xs, px, n, pairs, 0, dst.data, planes),
                4 => decode_words::<0x0f0f_0f0f>(xs, px, n, pairs, shift, dst.data, planes),
                _ => decode_words::<0x0303_0303>(xs, px, n, pairs, shift, dst.data, planes),
            }
        }
    }
    let done = words * per_word;
    if done == nb {
        return;
    }
    for (k, ix) in cols.enumerate() {
        let start = x.rect.offset(iy, ix, c) + c0 + done;
        x.for_each(start, nb - done, |j, v| {
            dst.data[at + (done + j) * dst.channel + k] = v.wrapping_add(off) as i16
        });
    }
}

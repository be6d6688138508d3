//! DEPTHWISE_CONV_2D with depth multiplier 1 in the Cortex-M DSP form, for
//! int8 inputs and packed codes of 4 or 2 bits: `acc = bias[c] + sum((v +
//! input_offset) * w)` over the taps inside the input (wrapping 32-bit
//! arithmetic), then the clean check and the requantization (`Requant`) — the portable kernels'
//! integer formula, so the results are equal bit for bit.
//!
//! One 32-bit load per tap reads a group of `4 * PER` channels (`PER` = codes
//! per byte: 1 for int8, 2 at 4 bits, 4 at 2 bits). In pass `j < PER`, a
//! shift and mask (codes) and SXTAB16/UXTAB16 turn it into the offset
//! halfword pairs of channels `(j, j + 2 PER)` and `(j + PER, j + 3 PER)`;
//! the weights are split into the same pairs once per call, and SMLABB/SMLATT
//! add each channel's product to its own accumulator ([`dsp_loops::taps_4`],
//! [`dsp_loops::window_3x3`]: 9-14 instructions per tap and pass). With int8 input
//! and output, no clean check and the short requantization, the 3x3 windows
//! inside the input run a row at a time with the output stage in the same
//! assembly loop ([`dsp_loops::window_3x3_row_int8`], [`BlockStore::int8`]).

use super::dsp_loops;
use super::params::DepthwiseConv2dParams;
use crate::dsp;
use crate::geometry::Rect;
use crate::view::{Clean, Codes, Outlier, Requant, TapRange, Window, WindowMut};

/// Largest kernel (taps) of this form: 5x5.
pub const MAX_TAPS: usize = 25;

/// Channels per 32-bit load at `bits` bits, if this form reads that width.
fn group(bits: u32) -> Option<usize> {
    match bits {
        8 => Some(4),
        4 => Some(8),
        2 => Some(16),
        _ => None,
    }
}

/// True when [`depthwise_conv2d_dsp`] computes this convolution on an input
/// of `bits` bits: multiplier 1, depth divisible by the channel group, at most
/// [`MAX_TAPS`] taps, offset values fitting a halfword.
pub fn is_dsp_depthwise(p: &DepthwiseConv2dParams, bits: u32) -> bool {
    let g = &p.geometry;
    let c = g.input[2];
    let taps = g.kernel[0] * g.kernel[1];
    group(bits).is_some_and(|n| c > 0 && c.is_multiple_of(n))
        && g.output[2] == c
        && taps <= MAX_TAPS
        && p.filter.len() == taps * c
        && crate::view::offset_values_fit_lane(p.input_offset, bits)
}

/// Where [`depthwise_conv2d_dsp`] puts its values; any `FnMut(usize,
/// &[i32])` is one.
pub trait BlockStore {
    /// Takes a pixel's block of channel values and its first element index.
    fn store(&mut self, at: usize, vals: &[i32]);

    /// The int8 output map, when the kernel may write it itself (int8 input
    /// and output in the short requantization form, no clean check: whole
    /// rows of 3x3 windows through [`dsp_loops::window_3x3_row_int8`]); `None` (the
    /// default) sends every value to [`BlockStore::store`].
    fn int8(&mut self) -> Option<&mut [i8]> {
        None
    }
}

impl<F: FnMut(usize, &[i32])> BlockStore for F {
    fn store(&mut self, at: usize, vals: &[i32]) {
        self(at, vals)
    }
}

/// Computes the output pixels of `out` (all channels) from `x`, which must
/// hold at least `p.geometry.input_rect(&out)`: each accumulator is checked
/// against `clean`, requantized and handed to `store` a pixel's block of
/// channels at a time ([`BlockStore`]).
/// Stops at the first outlier. `p` must satisfy [`is_dsp_depthwise`].
///
/// # Panics
///
/// Panics if `x` lacks input pixels the output rect reads or the bias is
/// shorter than the channels.
pub fn depthwise_conv2d_dsp(
    p: &DepthwiseConv2dParams,
    x: Codes,
    out: Rect,
    clean: Option<&Clean>,
    store: impl BlockStore,
) -> Result<(), Outlier> {
    match x.bits {
        8 => run::<1, 4>(p, x, out, clean, store),
        4 => run::<2, 8>(p, x, out, clean, store),
        _ => run::<4, 16>(p, x, out, clean, store),
    }
}

/// The kernel for `PER` codes per byte: `G = 4 PER` channels per load. Not inlined: one width's stack buffers
/// at a time.
#[inline(never)]
fn run<const PER: usize, const G: usize>(
    p: &DepthwiseConv2dParams,
    x: Codes,
    r: Rect,
    clean: Option<&Clean>,
    mut store: impl BlockStore,
) -> Result<(), Outlier> {
    let g = &p.geometry;
    let c = g.input[2];
    let [kh, kw] = g.kernel;
    let taps = kh * kw;
    let bits = 8 / PER;
    let off = dsp::pair(p.input_offset, p.input_offset);
    // Bytes between horizontally adjacent taps, and per pixel.
    let (px_bytes, dx) = (c / PER, g.dilation[1].max(1) * c / PER);
    // Bytes between vertically adjacent taps; 3x3 windows inside the input
    // run unrolled.
    let dy = g.dilation[0].max(1) * x.rect.w * px_bytes;
    let window = kh == 3 && kw == 3 && dx <= dy;
    let taps_x = |ox| TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
    // The output columns whose windows lie inside the input: with int8
    // input and output they run a row at a time, fused with the output stage.
    let end = r.x + r.w;
    let run_lo = (r.x..end).find(|&ox| taps_x(ox).full(kw)).unwrap_or(end);
    let run_hi = (run_lo..end).find(|&ox| !taps_x(ox).full(kw)).unwrap_or(end);
    let row_run = PER == 1 && window && clean.is_none() && run_hi > run_lo;
    // Per pass j (codes j, j + PER, j + 2 PER, j + 3 PER of each byte) and
    // tap: the weight pairs of channels (j, j + 2 PER) and (j + PER, j + 3 PER).
    let mut wx = [[[0u32; 2]; MAX_TAPS]; PER];
    for c0 in (0..c).step_by(G) {
        for t in 0..taps {
            let f = &p.filter[t * c + c0..][..G];
            for (j, w) in wx.iter_mut().enumerate() {
                w[t] = [
                    dsp::pair(f[j].into(), f[j + 2 * PER].into()),
                    dsp::pair(f[j + PER].into(), f[j + 3 * PER].into()),
                ];
            }
        }
        let q: [Requant; G] = core::array::from_fn(|j| Requant::new(&p.output, c0 + j));
        let bias: [i32; G] = core::array::from_fn(|j| p.bias[c0 + j]);
        let bounds: [(i32, i32); G] = core::array::from_fn(|j| crate::view::bounds(clean, c0 + j));
        if r.area() > 0 && bounds.iter().any(|&(lo, hi)| lo > hi) {
            return Err(Outlier);
        }
        let lo = bounds.map(|b| b.0);
        let span = bounds.map(|b| b.1.wrapping_sub(b.0) as u32);
        // The clamp as one saturating instruction where it is a whole range.
        let sat = |signed: bool, bits: u32| q.iter().all(|q| q.saturates(signed, bits));
        let clamp = match (sat(true, 8), sat(false, 4), sat(false, 2)) {
            (true, _, _) => Clamp::Ssat8,
            (_, true, _) => Clamp::Usat4,
            (_, _, true) => Clamp::Usat2,
            _ => Clamp::Min,
        };
        // The four channels' short forms when the fused rows apply.
        let fused = match core::array::from_fn::<_, 4, _>(|j| q.get(j).and_then(Requant::int8)) {
            [Some(a), Some(b), Some(e), Some(f)] if row_run => Some([a, b, e, f]),
            _ => None,
        };
        // First byte of channel block `c0` in the window at `(ry, rx)`.
        let top = |ry: &TapRange, rx: &TapRange| x.rect.offset(ry.at(0), rx.at(0), 1) * px_bytes + c0 / PER;
        for oy in r.y..r.y + r.h {
            let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
            let mut ox = r.x;
            while ox < end {
                let rx = taps_x(ox);
                if ox == run_lo && ry.full(3) {
                    if let (Some(fq), Some(y)) = (&fused, store.int8()) {
                        let strides = [dx, dy, g.stride[1] * px_bytes];
                        let w = wx[0][..9].as_flattened();
                        let b = core::array::from_fn(|j| bias[j]);
                        let at = r.offset(oy, ox, c) + c0;
                        let n = run_hi - run_lo;
                        let xs = &x.data[top(&ry, &rx)..];
                        dsp_loops::window_3x3_row_int8(xs, strides, w, off, b, fq, &mut y[at..], c, n);
                        ox = run_hi;
                        continue;
                    }
                }
                let mut acc = bias;
                if window && ry.full(3) && rx.full(3) {
                    let top = top(&ry, &rx);
                    let xs = &x.data[top..top + 2 * dy + 2 * dx + 4];
                    for (j, wx) in wx.iter().enumerate() {
                        let w = wx[..9].as_flattened();
                        let a = [acc[j], acc[j + PER], acc[j + 2 * PER], acc[j + 3 * PER]];
                        let shift = (j * bits) as u32;
                        let a = match PER {
                            1 => dsp_loops::window_3x3::<0>(a, xs, dx, dy, w, off, 0),
                            2 => dsp_loops::window_3x3::<0x0f0f_0f0f>(a, xs, dx, dy, w, off, shift),
                            _ => dsp_loops::window_3x3::<0x0303_0303>(a, xs, dx, dy, w, off, shift),
                        };
                        [acc[j], acc[j + PER], acc[j + 2 * PER], acc[j + 3 * PER]] = a;
                    }
                } else if rx.hi > rx.lo {
                    let n = rx.hi - rx.lo;
                    for ky in ry.lo..ry.hi {
                        let row = (x.rect.offset(ry.at(ky), rx.at(rx.lo), 1) * px_bytes) + c0 / PER;
                        let xs = &x.data[row..row + (n - 1) * dx + 4];
                        let base = ky * kw + rx.lo;
                        for (j, wx) in wx.iter().enumerate() {
                            let w = wx[base..base + n].as_flattened();
                            let a = [acc[j], acc[j + PER], acc[j + 2 * PER], acc[j + 3 * PER]];
                            let shift = (j * bits) as u32;
                            let a = match PER {
                                1 => dsp_loops::taps_4::<0>(a, xs, dx, w, off, 0),
                                2 => dsp_loops::taps_4::<0x0f0f_0f0f>(a, xs, dx, w, off, shift),
                                _ => dsp_loops::taps_4::<0x0303_0303>(a, xs, dx, w, off, shift),
                            };
                            [acc[j], acc[j + PER], acc[j + 2 * PER], acc[j + 3 * PER]] = a;
                        }
                    }
                }
                let block = Block {
                    acc: &acc,
                    q: &q,
                    lo: &lo,
                    span: &span,
                };
                let vals = match clamp {
                    Clamp::Ssat8 => block.values(|q, a| dsp::ssat::<8>(q.scaled(a))),
                    Clamp::Usat4 => block.values(|q, a| dsp::usat::<4>(q.scaled(a))),
                    Clamp::Usat2 => block.values(|q, a| dsp::usat::<2>(q.scaled(a))),
                    Clamp::Min => block.values(|q, a| q.value(a)),
                }?;
                store.store(r.offset(oy, ox, c) + c0, &vals);
                ox += 1;
            }
        }
    }
    Ok(())
}

/// How a channel block's values are clamped: SSAT/USAT when every channel
/// takes the short requantization and the clamp is a whole int8 / 4-bit /
/// 2-bit range, otherwise compares.
#[derive(Clone, Copy)]
enum Clamp {
    Ssat8,
    Usat4,
    Usat2,
    Min,
}

/// One pixel's accumulators of a channel block with the block's constants.
struct Block<'a, const G: usize> {
    acc: &'a [i32; G],
    q: &'a [Requant; G],
    lo: &'a [i32; G],
    span: &'a [u32; G],
}

impl<const G: usize> Block<'_, G> {
    /// `value(q[j], acc[j])` for every channel, or the outlier of the first
    /// accumulator outside `lo[j]..=lo[j] + span[j]` (one unsigned compare).
    #[inline(always)]
    fn values(&self, value: impl Fn(&Requant, i32) -> i32) -> Result<[i32; G], Outlier> {
        let mut vals = [0i32; G];
        for (j, v) in vals.iter_mut().enumerate() {
            let a = self.acc[j];
            if a.wrapping_sub(self.lo[j]) as u32 > self.span[j] {
                return Err(Outlier);
            }
            *v = value(&self.q[j], a);
        }
        Ok(vals)
    }
}

/// The int8 depthwise convolution through [`depthwise_conv2d_dsp`] (the
/// `dsp` feature's path; equal to [`super::depthwise_conv2d_portable`]): the
/// output pixels of `y.rect` from `x`, which must hold
/// `p.geometry.input_rect(&y.rect)`; `p` must satisfy [`is_dsp_depthwise`]
/// at 8 bits.
pub fn depthwise_conv2d_dsp_int8(p: &DepthwiseConv2dParams, x: Window, y: WindowMut) {
    let codes = Codes {
        data: x.data,
        rect: x.rect,
        bits: 8,
    };
    let _ = depthwise_conv2d_dsp(p, codes, y.rect, None, Int8Store(y.data));
}

/// [`depthwise_conv2d_dsp_int8`]'s output map: the kernel writes whole rows itself where it can.
struct Int8Store<'a>(&'a mut [i8]);

impl BlockStore for Int8Store<'_> {
    fn store(&mut self, at: usize, vals: &[i32]) {
        for (d, &v) in self.0[at..at + vals.len()].iter_mut().zip(vals) {
            *d = v as i8;
        }
    }

    fn int8(&mut self) -> Option<&mut [i8]> {
        Some(self.0)
    }
}

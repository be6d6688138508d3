//! The Cortex-M DSP-extension instructions the fast kernels are written in
//! (Armv7E-M / Armv8-M Mainline: Cortex-M4, M7, M33, M55): one function per
//! instruction, plus the three inner loops worth writing by hand
//! ([`dot_pairs_2x2`], [`taps_4`], [`window_3x3`]).
//!
//! With the crate feature `dsp` on an `arm` target every function is that
//! instruction or loop in inline assembly (the crate's only `unsafe` code);
//! everywhere else it is a portable emulation with the same result, so the
//! kernels built on them run and are tested on the host too. The public
//! wrappers check every slice bound the assembly relies on. Halfword lanes:
//! `lo` = bits 0..16, `hi` = bits 16..32, each a signed `i16` unless stated.

/// SMLAD: `acc + lo(a) * lo(b) + hi(a) * hi(b)` (wrapping; the signed
/// halfword products are exact).
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    imp::smlad(a, b, acc)
}

/// SXTB16: bytes 0 and 2 of `x`, sign-extended into the low and high lanes.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    imp::sxtb16(x)
}

/// SXTB16 with ROR #8: bytes 1 and 3 of `x`, sign-extended into the low and
/// high lanes.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    imp::sxtb16_ror8(x)
}

/// SXTAB16: `sxtb16(x)` added lane by lane (wrapping 16-bit) to `a`.
#[inline(always)]
pub fn sxtab16(a: u32, x: u32) -> u32 {
    imp::sxtab16(a, x)
}

/// SXTAB16 with ROR #8: `sxtb16_ror8(x)` added lane by lane to `a`.
#[inline(always)]
pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
    imp::sxtab16_ror8(a, x)
}

/// UXTAB16: bytes 0 and 2 of `x`, zero-extended, added lane by lane
/// (wrapping 16-bit) to `a`.
#[inline(always)]
pub fn uxtab16(a: u32, x: u32) -> u32 {
    imp::uxtab16(a, x)
}

/// UXTAB16 with ROR #8: bytes 1 and 3 of `x`, zero-extended, added lane by
/// lane to `a`.
#[inline(always)]
pub fn uxtab16_ror8(a: u32, x: u32) -> u32 {
    imp::uxtab16_ror8(a, x)
}

/// SMMLAR: `acc` plus the high word of `a * b`, rounded: `acc + ((a * b +
/// 2^31) >> 32)` (wrapping).
#[inline(always)]
pub fn smmlar(a: i32, b: i32, acc: i32) -> i32 {
    imp::smmlar(a, b, acc)
}

/// QADD: `a + b` saturated to the `i32` range.
#[inline(always)]
pub fn qadd(a: i32, b: i32) -> i32 {
    imp::qadd(a, b)
}

/// SSAT: `v` saturated to the `N`-bit signed range (`1 <= N <= 32`).
#[inline(always)]
pub fn ssat<const N: u32>(v: i32) -> i32 {
    imp::ssat::<N>(v)
}

/// USAT: `v` saturated to the `N`-bit unsigned range `0..2^N` (`N <= 31`).
#[inline(always)]
pub fn usat<const N: u32>(v: i32) -> i32 {
    imp::usat::<N>(v)
}

/// SMLABB: `acc + lo(a) * lo(b)` (wrapping).
#[inline(always)]
pub fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
    imp::smlabb(a, b, acc)
}

/// SMLATT: `acc + hi(a) * hi(b)` (wrapping).
#[inline(always)]
pub fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
    imp::smlatt(a, b, acc)
}

/// The little-endian word at bytes `at..at + 4` of `b`, at any alignment (one
/// LDR on the target: Armv7-M loads unaligned words; LLVM would assemble it
/// from four byte loads).
///
/// # Panics
///
/// Panics if `b` is shorter than `at + 4`.
#[inline(always)]
pub fn load_u32(b: &[i8], at: usize) -> u32 {
    let b = &b[at..at + 4];
    imp::load_u32(b)
}

/// Most groups of 4 row positions [`dot_pairs_2x2`] takes (rows of up to 256
/// values).
pub const MAX_GROUPS: usize = 64;

/// A requantization in its short form (`crate::view::Requant` says when
/// it applies): Q31 `multiplier` in `[2^30, 2^31)`, right shift `right` in
/// `1..=29`, `round = 2^(right-1) + output_offset * 2^right`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortRequant {
    pub multiplier: i32,
    pub round: i32,
    pub right: u32,
}

impl ShortRequant {
    /// `(smmulr(qadd(acc, acc), multiplier) + (acc < 0 ? -1 : 0) + round) >>
    /// right`, wrapping: the TFLite rounding (ties away from zero) plus the
    /// output offset, before the clamp. One SMMLAR adds the rounded high word
    /// to the constant and the sign correction; the accumulator's sign
    /// stands in for the high word's (they differ only when the high word is
    /// 0, where the correction cannot change the shifted result).
    #[inline(always)]
    pub fn scaled(&self, acc: i32) -> i32 {
        smmlar(qadd(acc, acc), self.multiplier, self.round.wrapping_add(acc >> 31)) >> self.right
    }
}

/// Element offsets of output pixels, their largest computed once (a
/// [`PairSums::Int8`] checks its stores against it).
#[derive(Clone, Copy, Debug)]
pub struct Offsets<'a> {
    at: &'a [usize],
    max: usize,
}

impl<'a> Offsets<'a> {
    pub fn new(at: &'a [usize]) -> Self {
        let max = at.iter().max().copied().unwrap_or(0);
        Offsets { at, max }
    }
}

/// Where [`dot_pairs_2x2`] puts the dot product of row `r` with pixel `i`
/// (pair `q` holds pixels `2q` and `2q + 1`).
pub enum PairSums<'a> {
    /// `sums[r][i]`: `bias[r]` plus the dot product.
    Raw([&'a mut [i32]; 2]),
    /// `ssat::<8>(q[r].scaled(bias[r] + dot))` stored as element `base[r] +
    /// at[i]` of `y`: the whole int8 output stage, fused into the loop.
    Int8 {
        y: &'a mut [i8],
        at: Offsets<'a>,
        base: [usize; 2],
        q: [ShortRequant; 2],
    },
}

/// Dot products of `pairs` pixel pairs with two weight rows, `words` groups
/// of 4 positions, all as halfword pairs: pair `q` is `x[4 q words..][..4
/// words]`, per group `[A (c, c+2), A (c+1, c+3), B (c, c+2), B (c+1,
/// c+3)]`; `w` holds per group `[row0 (c, c+2), row0 (c+1, c+3), row1 (c,
/// c+2), row1 (c+1, c+3)]`. Each sum is `bias[r]` plus the dot product
/// (wrapping), handed over as `out` says. On the target each pair jumps into
/// one unrolled block of [`MAX_GROUPS`] groups at the group its row needs
/// (no loop counter: 2 LDM and 8 SMLAD per group, 16 MACs); 7 instructions
/// store the four sums, or 33 requantize and store them, and 5 start the
/// next pair.
///
/// # Panics
///
/// Panics if `words` is not in `1..=MAX_GROUPS`, `x`, `w` or the outputs are
/// shorter than stated, an output element lies outside `y`, or a `right`
/// shift exceeds 31.
#[inline(always)]
pub fn dot_pairs_2x2(x: &[u32], w: &[u32], words: usize, pairs: usize, bias: [i32; 2], out: PairSums) {
    assert!(
        (1..=MAX_GROUPS).contains(&words)
            && pairs <= u16::MAX as usize
            && w.len() >= 4 * words
            && x.len() >= 4 * words * pairs
    );
    match &out {
        PairSums::Raw(sums) => assert!(sums.iter().all(|s| s.len() >= 2 * pairs)),
        PairSums::Int8 { y, at, base, q } => {
            let last = at.max.checked_add(base[0].max(base[1]));
            assert!(at.at.len() >= 2 * pairs && last.is_some_and(|e| e < y.len()) && q.iter().all(|q| q.right <= 31));
        }
    }
    if pairs > 0 {
        imp::dot_pairs_2x2(x, w, words, pairs, bias, out);
    }
}

/// Copies `rows = dst.len() / n` runs of `n` bytes, the runs `src[r *
/// step..][..n]`, one after another into `dst`. On the target a word loop
/// and a byte loop per run (about 5 + 4 per word + 4 per byte left): for the
/// few bytes of a receptive field's rows, where a `memcpy` call per row costs
/// more than the copy.
///
/// # Panics
///
/// Panics if `n == 0`, `dst.len()` is not a multiple of `n` or `src` is
/// shorter than the last run's end.
#[inline(always)]
pub fn copy_rows(dst: &mut [i8], src: &[i8], n: usize, step: usize) {
    assert!(n > 0 && dst.len().is_multiple_of(n));
    let rows = dst.len() / n;
    assert!(
        rows == 0
            || (rows - 1)
                .checked_mul(step)
                .and_then(|e| e.checked_add(n))
                .is_some_and(|e| e <= src.len())
    );
    if rows > 0 {
        imp::copy_rows(dst, src, n, step, rows);
    }
}

/// Splits the first `groups` words of two int8 rows into [`dot_pairs_2x2`]'s
/// weight pairs: `w[4g..4g + 4] = [sxtb16(a_g), sxtb16_ror8(a_g), sxtb16(b_g),
/// sxtb16_ror8(b_g)]` for the little-endian words `a_g = a[4g..4g + 4]` (any
/// alignment), `b_g` likewise. On the target 9 instructions per group.
///
/// # Panics
///
/// Panics if `a`, `b` are shorter than `4 * groups` bytes or `w` than `4 *
/// groups` words.
#[inline(always)]
pub fn split_pairs(a: &[i8], b: &[i8], w: &mut [u32], groups: usize) {
    assert!(a.len() >= 4 * groups && b.len() >= 4 * groups && w.len() >= 4 * groups);
    if groups > 0 {
        imp::split_pairs(a, b, w, groups);
    }
}

/// Four channels' depthwise taps along a row: for each of the `n = w.len() /
/// 2` taps, the word at `x[k * dx..]` decoded into two lane pairs plus
/// `offset` (channels `(c, c+2)` and `(c+1, c+3)`), times the tap's weight
/// pairs `w[2k..2k + 2]`, added to `acc` = channels `[c, c+1, c+2, c+3]`
/// (wrapping). Decoding: with `M == 0` the word holds four int8 values
/// (SXTAB16 of bytes 0/2 and 1/3); otherwise it holds packed codes, shifted
/// right by `shift` and masked with `M` (`0x0f0f0f0f` or `0x03030303`: one
/// code per byte), zero-extended (UXTAB16). On the target a loop of 12 (int8)
/// or 14 (codes) instructions per tap (4 MACs).
///
/// # Panics
///
/// Panics if `n == 0`, `shift >= 8`, or `x` is shorter than `(n - 1) * dx + 4`.
#[inline(always)]
pub fn taps_4<const M: u32>(acc: [i32; 4], x: &[i8], dx: usize, w: &[u32], offset: u32, shift: u32) -> [i32; 4] {
    let n = w.len() / 2;
    assert!(n > 0 && shift < 8 && dx <= i32::MAX as usize && x.len() >= (n - 1) * dx + 4);
    imp::taps_4::<M>(acc, x, dx, w, offset, shift)
}

/// [`taps_4`] over a whole 3x3 window: taps `(ky, kx)` at `x[ky * dy + kx *
/// dx..]`, weights `w[2 (3 ky + kx)..]` (18 words). On the target fully
/// unrolled: 9 (int8) or 11 (codes) instructions per tap.
///
/// # Panics
///
/// Panics if `w` has fewer than 18 words, `shift >= 8`, `dx > dy` or `x` is
/// shorter than `2 dy + 2 dx + 4`.
#[inline(always)]
pub fn window_3x3<const M: u32>(
    acc: [i32; 4],
    x: &[i8],
    dx: usize,
    dy: usize,
    w: &[u32],
    offset: u32,
    shift: u32,
) -> [i32; 4] {
    assert!(w.len() >= 18 && shift < 8 && dx <= dy && dy <= (i32::MAX / 4) as usize && x.len() >= 2 * dy + 2 * dx + 4);
    imp::window_3x3::<M>(acc, x, dx, dy, w, offset, shift)
}

/// The int8 output stage of four channels fused with their 3x3 windows of
/// int8 words along a row: output `i`'s accumulators are [`window_3x3`]
/// (`M == 0`) from `bias` on the window at `x[i * sx..]`, and `y[i * sy +
/// j] = ssat::<8>(q[j].scaled(acc[j]))` for channels `j < 4`. On the target
/// one loop of 124 instructions per output (4 channels, 36 MACs): 81 for the
/// window, 27 for the output stage.
///
/// # Panics
///
/// Panics if `n == 0`, `w` has fewer than 18 words, `dx > dy`, the strides
/// exceed `i32::MAX / 4`, `x` or `y` is shorter than the last output needs,
/// or a `right` shift exceeds 31.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn window_3x3_row_int8(
    x: &[i8],
    [dx, dy, sx]: [usize; 3],
    w: &[u32],
    offset: u32,
    bias: [i32; 4],
    q: &[ShortRequant; 4],
    y: &mut [i8],
    sy: usize,
    n: usize,
) {
    let most = (i32::MAX / 4) as usize;
    assert!(n > 0 && w.len() >= 18 && dx <= dy && dy <= most && sx <= most && sy <= most);
    // Bytes up to the end of the last output's reads / writes.
    let reach = |step: usize, tail: usize| (n - 1).checked_mul(step).and_then(|e| e.checked_add(tail));
    assert!(reach(sx, 2 * dy + 2 * dx + 4).is_some_and(|e| e <= x.len()) && reach(sy, 4).is_some_and(|e| e <= y.len()));
    assert!(q.iter().all(|q| q.right <= 31));
    imp::window_3x3_row_int8(x, [dx, dy, sx], w, offset, bias, q, y, sy, n);
}

/// One channel's 3x3 window sums along a row of a plane: for output `i`,
/// rows `k = 0, 1, 2` are the words at `x[i * SX + k * step..]`, each split
/// with `offset` into pairs (bytes 0/2 and 1/3) and multiplied with `w[2k]`
/// and `w[2k + 1]`; `out[i]` is the wrapping sum (no bias). On the target 20
/// instructions per output (9 MACs).
///
/// # Panics
///
/// Panics if `SX` is not 1 or 2, or `x` is shorter than `(out.len() - 1) * SX
/// + 2 * step + 4`.
#[inline(always)]
pub fn plane_3x3<const SX: usize>(x: &[i8], step: usize, w: &[u32; 6], offset: u32, out: &mut [i32]) {
    let n = out.len();
    assert!(
        (1..=2).contains(&SX) && step <= (i32::MAX / 4) as usize && (n == 0 || x.len() >= (n - 1) * SX + 2 * step + 4)
    );
    if n > 0 {
        imp::plane_3x3::<SX>(x, step, w, offset, out);
    }
}

/// Two signed halfwords as one word (`lo` in bits 0..16).
#[inline(always)]
pub fn pair(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xffff) | ((hi as u32) << 16)
}

#[cfg(any(not(feature = "dsp"), not(target_arch = "arm")))]
mod imp {
    #[inline(always)]
    fn lo(x: u32) -> i32 {
        i32::from(x as u16 as i16)
    }

    #[inline(always)]
    fn hi(x: u32) -> i32 {
        i32::from((x >> 16) as u16 as i16)
    }

    /// One tap of `taps_4`/`window_3x3`: the word `v` decoded, times the
    /// weight pairs `w`.
    #[inline(always)]
    fn tap<const M: u32>(acc: &mut [i32; 4], v: u32, w: &[u32], offset: u32, shift: u32) {
        let (e, o) = if M == 0 {
            (sxtab16(offset, v), sxtab16_ror8(offset, v))
        } else {
            let t = (v >> shift) & M;
            (uxtab16(offset, t), uxtab16_ror8(offset, t))
        };
        acc[0] = smlabb(e, w[0], acc[0]);
        acc[2] = smlatt(e, w[0], acc[2]);
        acc[1] = smlabb(o, w[1], acc[1]);
        acc[3] = smlatt(o, w[1], acc[3]);
    }

    #[inline(always)]
    pub fn taps_4<const M: u32>(
        mut acc: [i32; 4],
        x: &[i8],
        dx: usize,
        w: &[u32],
        offset: u32,
        shift: u32,
    ) -> [i32; 4] {
        for (k, w) in w.chunks_exact(2).enumerate() {
            tap::<M>(&mut acc, load_u32(&x[k * dx..]), w, offset, shift);
        }
        acc
    }

    #[inline(always)]
    pub fn window_3x3<const M: u32>(
        mut acc: [i32; 4],
        x: &[i8],
        dx: usize,
        dy: usize,
        w: &[u32],
        offset: u32,
        shift: u32,
    ) -> [i32; 4] {
        for (t, w) in w.chunks_exact(2).take(9).enumerate() {
            tap::<M>(&mut acc, load_u32(&x[(t / 3) * dy + (t % 3) * dx..]), w, offset, shift);
        }
        acc
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn window_3x3_row_int8(
        x: &[i8],
        [dx, dy, sx]: [usize; 3],
        w: &[u32],
        offset: u32,
        bias: [i32; 4],
        q: &[super::ShortRequant; 4],
        y: &mut [i8],
        sy: usize,
        n: usize,
    ) {
        for i in 0..n {
            let acc = window_3x3::<0>(bias, &x[i * sx..], dx, dy, w, offset, 0);
            for (j, (&a, q)) in acc.iter().zip(q).enumerate() {
                y[i * sy + j] = ssat::<8>(q.scaled(a)) as i8;
            }
        }
    }

    #[inline(always)]
    pub fn load_u32(b: &[i8]) -> u32 {
        u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
    }

    #[inline(always)]
    pub fn dot_pairs_2x2(x: &[u32], w: &[u32], words: usize, pairs: usize, bias: [i32; 2], out: super::PairSums) {
        let mut out = out;
        for (q, xq) in x.chunks_exact(4 * words).take(pairs).enumerate() {
            // Rows 0 and 1 with pixels A and B.
            let mut acc = [bias[0], bias[0], bias[1], bias[1]];
            for (g, wg) in xq.chunks_exact(4).zip(w.chunks_exact(4)) {
                for r in 0..2 {
                    let (e, o) = (wg[2 * r], wg[2 * r + 1]);
                    acc[2 * r] = smlad(g[1], o, smlad(g[0], e, acc[2 * r]));
                    acc[2 * r + 1] = smlad(g[3], o, smlad(g[2], e, acc[2 * r + 1]));
                }
            }
            for (k, &acc) in acc.iter().enumerate() {
                let (r, i) = (k / 2, 2 * q + k % 2);
                match &mut out {
                    super::PairSums::Raw(sums) => sums[r][i] = acc,
                    super::PairSums::Int8 { y, at, base, q } => {
                        y[base[r] + at.at[i]] = ssat::<8>(q[r].scaled(acc)) as i8;
                    }
                }
            }
        }
    }

    #[inline(always)]
    pub fn copy_rows(dst: &mut [i8], src: &[i8], n: usize, step: usize, rows: usize) {
        for (r, d) in dst.chunks_exact_mut(n).take(rows).enumerate() {
            d.copy_from_slice(&src[r * step..][..n]);
        }
    }

    #[inline(always)]
    pub fn split_pairs(a: &[i8], b: &[i8], w: &mut [u32], groups: usize) {
        for (g, q) in w.chunks_exact_mut(4).take(groups).enumerate() {
            let (a, b) = (load_u32(&a[4 * g..]), load_u32(&b[4 * g..]));
            q.copy_from_slice(&[sxtb16(a), sxtb16_ror8(a), sxtb16(b), sxtb16_ror8(b)]);
        }
    }

    #[inline(always)]
    pub fn plane_3x3<const SX: usize>(x: &[i8], step: usize, w: &[u32; 6], offset: u32, out: &mut [i32]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = (0..3).fold(0, |acc, k| {
                let v = load_u32(&x[i * SX + k * step..]);
                smlad(
                    sxtab16_ror8(offset, v),
                    w[2 * k + 1],
                    smlad(sxtab16(offset, v), w[2 * k], acc),
                )
            });
        }
    }

    #[inline(always)]
    pub fn ssat<const N: u32>(v: i32) -> i32 {
        let top = (1i64 << (N - 1)) - 1;
        i64::from(v).clamp(-top - 1, top) as i32
    }

    #[inline(always)]
    pub fn usat<const N: u32>(v: i32) -> i32 {
        i64::from(v).clamp(0, (1i64 << N) - 1) as i32
    }

    #[inline(always)]
    pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        // Each product fits i32; their sum may not, and SMLAD wraps.
        acc.wrapping_add(lo(a) * lo(b)).wrapping_add(hi(a) * hi(b))
    }

    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        super::pair(i32::from(x as u8 as i8), i32::from((x >> 16) as u8 as i8))
    }

    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        sxtb16(x.rotate_right(8))
    }

    #[inline(always)]
    pub fn sxtab16(a: u32, x: u32) -> u32 {
        let b = sxtb16(x);
        super::pair(lo(a).wrapping_add(lo(b)), hi(a).wrapping_add(hi(b)))
    }

    #[inline(always)]
    pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
        sxtab16(a, x.rotate_right(8))
    }

    #[inline(always)]
    pub fn smmlar(a: i32, b: i32, acc: i32) -> i32 {
        acc.wrapping_add(((i64::from(a) * i64::from(b) + (1 << 31)) >> 32) as i32)
    }

    #[inline(always)]
    pub fn qadd(a: i32, b: i32) -> i32 {
        a.saturating_add(b)
    }

    #[inline(always)]
    pub fn uxtab16(a: u32, x: u32) -> u32 {
        super::pair(
            lo(a).wrapping_add((x & 0xff) as i32),
            hi(a).wrapping_add((x >> 16 & 0xff) as i32),
        )
    }

    #[inline(always)]
    pub fn uxtab16_ror8(a: u32, x: u32) -> u32 {
        uxtab16(a, x.rotate_right(8))
    }

    #[inline(always)]
    pub fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
        acc.wrapping_add(lo(a) * lo(b))
    }

    #[inline(always)]
    pub fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
        acc.wrapping_add(hi(a) * hi(b))
    }
}

// SAFETY (every block below): one register-to-register DSP instruction of
// Armv7E-M; it reads only its operand registers, writes only its output
// register, touches no memory, stack or condition flags (`pure, nomem,
// nostack`; QADD, SSAT and USAT may set only the sticky Q bit, which no
// compiled code reads; SSAT/USAT blocks leave out `preserves_flags` anyway).
#[cfg(all(feature = "dsp", target_arch = "arm"))]
#[allow(unsafe_code)]
mod imp {
    use core::arch::asm;

    // Register use of the depthwise tap code: x r10, dx r11, weights r12
    // (LDRD r0/r1, post-incremented), offset pair lr, shift r8, the next
    // row's step r9, accumulators r2-r5 (channels c, c+1, c+2, c+3), the
    // decoded pairs r6/r7 (saved and restored: LLVM's base and frame
    // pointers, never operands since every operand is pinned elsewhere).

    /// Decodes the word in r6 into the pairs r6 (bytes 0/2) and r7 (1/3).
    macro_rules! decode_int8 {
        () => {
            "sxtab16 r7, lr, r6, ror #8\nsxtab16 r6, lr, r6\n"
        };
    }
    macro_rules! decode_codes {
        () => {
            "lsr r6, r6, r8\nand r6, r6, #{m}\nuxtab16 r7, lr, r6, ror #8\nuxtab16 r6, lr, r6\n"
        };
    }

    /// One tap: load the word at r10, step r10 by `$step`, decode, 4 MACs.
    macro_rules! tap {
        ($step:literal, $decode:expr) => {
            concat!(
                "ldr r6, [r10]\n",
                "add r10, r10, ",
                $step,
                "\n",
                "ldrd r0, r1, [r12], #8\n",
                $decode,
                "smlabb r2, r6, r0, r2\n",
                "smlatt r4, r6, r0, r4\n",
                "smlabb r3, r7, r1, r3\n",
                "smlatt r5, r7, r1, r5\n"
            )
        };
    }

    /// The row loop of `taps_4` (counter r9).
    macro_rules! row_loop {
        ($decode:expr) => {
            concat!("2:\n", tap!("r11", $decode), "subs r9, r9, #1\n", "bne 2b\n")
        };
    }

    /// The unrolled 3x3 window of `window_3x3` (r9 = dy - 2 dx).
    macro_rules! window {
        ($decode:expr) => {
            concat!(
                tap!("r11", $decode),
                tap!("r11", $decode),
                tap!("r9", $decode),
                tap!("r11", $decode),
                tap!("r11", $decode),
                tap!("r9", $decode),
                tap!("r11", $decode),
                tap!("r11", $decode),
                tap!("r9", $decode)
            )
        };
    }

    /// The asm block around a tap body, with the shared operands.
    macro_rules! taps_asm {
        ($body:expr, $acc:ident, $x:expr, $dx:expr, $r9:expr, $w:expr, $offset:expr, $shift:expr $(, $m:ident = const $mv:expr)?) => {
            // SAFETY: the public wrappers checked that every input word read
            // (unaligned LDR, allowed on Armv7-M) lies inside `x` and every
            // weight pair (LDRD of aligned words) inside `w`.
            unsafe {
                asm!(
                    "push {{r6, r7}}",
                    $body,
                    "pop {{r6, r7}}",
                    $($m = const $mv,)?
                    inout("r10") $x => _,
                    in("r11") $dx,
                    inout("r12") $w => _,
                    inout("r9") $r9 => _,
                    in("r8") $shift,
                    in("lr") $offset,
                    inout("r2") $acc[0],
                    inout("r3") $acc[1],
                    inout("r4") $acc[2],
                    inout("r5") $acc[3],
                    out("r0") _,
                    out("r1") _,
                    options(readonly),
                );
            }
        };
    }

    /// [`taps_asm!`] with the tap body `$shape!`, decoding int8 words when
    /// `$m == 0` and masked codes otherwise.
    macro_rules! decoded_taps {
        ($m:ident, $shape:ident, $acc:ident, $x:expr, $dx:expr, $r9:expr, $w:expr, $offset:expr, $shift:expr) => {
            if $m == 0 {
                taps_asm!($shape!(decode_int8!()), $acc, $x, $dx, $r9, $w, $offset, $shift);
            } else {
                taps_asm!($shape!(decode_codes!()), $acc, $x, $dx, $r9, $w, $offset, $shift, m = const $m);
            }
        };
    }

    #[inline(always)]
    pub fn taps_4<const M: u32>(
        mut acc: [i32; 4],
        x: &[i8],
        dx: usize,
        w: &[u32],
        offset: u32,
        shift: u32,
    ) -> [i32; 4] {
        let n = w.len() / 2;
        decoded_taps!(M, row_loop, acc, x.as_ptr(), dx, n, w.as_ptr(), offset, shift);
        acc
    }

    #[inline(always)]
    pub fn window_3x3<const M: u32>(
        mut acc: [i32; 4],
        x: &[i8],
        dx: usize,
        dy: usize,
        w: &[u32],
        offset: u32,
        shift: u32,
    ) -> [i32; 4] {
        let step = dy - 2 * dx;
        decoded_taps!(M, window, acc, x.as_ptr(), dx, step, w.as_ptr(), offset, shift);
        acc
    }

    #[inline(always)]
    pub fn load_u32(b: &[i8]) -> u32 {
        let r: u32;
        // SAFETY: `b` holds 4 bytes (checked by the caller's slicing); LDR
        // reads exactly those, unaligned access being allowed on Armv7-M.
        unsafe {
            asm!("ldr {r}, [{p}]", r = lateout(reg) r, p = in(reg) b.as_ptr(),
                 options(pure, readonly, nostack, preserves_flags));
        }
        r
    }

    /// One group of `dot_pairs_2x2`: pixels r0-r3 (LDM from r12), weight
    /// pairs r4-r7 (LDM from lr), accumulators r8-r11 (A row 0, B row 0, A
    /// row 1, B row 1). Ten 32-bit instructions, 40 bytes.
    macro_rules! group_2x2 {
        () => {
            "ldm.w r12!, {{r0, r1, r2, r3}}
            ldm.w lr!, {{r4, r5, r6, r7}}
            smlad r8, r0, r4, r8
            smlad r8, r1, r5, r8
            smlad r9, r2, r4, r9
            smlad r9, r3, r5, r9
            smlad r10, r0, r6, r10
            smlad r10, r1, r7, r10
            smlad r11, r2, r6, r11
            smlad r11, r3, r7, r11
            "
        };
    }

    /// The pair loop of `dot_pairs_2x2` around the tail `$tail` (the sums in
    /// r8-r11; it ends with "subs ...; bne 4b" over the pairs left). Entry: r0
    /// points at the state `[w, skip, bias0, bias1, ...]` whose first 7 words
    /// are pushed (the caller pushed the rest first), `skip` turned into the
    /// entry address (`MAX_GROUPS - words` groups into the block, Thumb bit
    /// set). Per pair: biases into the accumulators, weights rewound, a jump
    /// into the block. r6 and r7 (LLVM's base and frame pointers, never
    /// operands: every operand is pinned elsewhere) are saved and restored
    /// by the caller's `push`/`pop`.
    macro_rules! pair_loop {
        ($tail:expr) => {
            concat!(
                "ldm r0, {{r1, r2, r3, r4, r5, r6, r7}}
                adr.w r8, 5f
                add r2, r2, r8
                orr r2, r2, #1
                push {{r1, r2, r3, r4, r5, r6, r7}}
                4:
                ldrd r8, r10, [sp, #8]
                mov r9, r8
                mov r11, r10
                ldr lr, [sp]
                ldr pc, [sp, #4]
                .p2align 2
                5:
                .rept {groups}
                ",
                group_2x2!(),
                ".endr
                ",
                $tail
            )
        };
    }

    /// The `asm!` of a `dot_pairs_2x2` form: `$body` between the save and
    /// restore of r6/r7, the state pointer in r0 and the pixels in r12.
    macro_rules! pairs_asm {
        ($state:expr, $x:expr, $($body:expr),+) => {
            asm!(
                "push {{r6, r7}}",
                $($body,)+
                "pop {{r6, r7}}",
                groups = const super::MAX_GROUPS,
                inout("r0") $state => _,
                inout("r12") $x => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("lr") _,
            )
        };
    }

    /// Requantizes accumulator `$a` to int8 in place with the multiplier,
    /// constant and shift in `$m`, `$r`, `$s` (`ShortRequant::scaled`, then
    /// SSAT); r6, r7 scratch.
    macro_rules! requant_int8 {
        ($a:literal, $m:literal, $r:literal, $s:literal) => {
            concat!(
                "qadd r6, ",
                $a,
                ", ",
                $a,
                "\n",
                "add r7, ",
                $r,
                ", ",
                $a,
                ", asr #31\n",
                "smmlar ",
                $a,
                ", r6, ",
                $m,
                ", r7\n",
                "asr ",
                $a,
                ", ",
                $a,
                ", ",
                $s,
                "\n",
                "ssat ",
                $a,
                ", #8, ",
                $a,
                "\n"
            )
        };
    }

    #[inline(always)]
    pub fn dot_pairs_2x2(x: &[u32], w: &[u32], words: usize, pairs: usize, bias: [i32; 2], out: super::PairSums) {
        let skip = ((super::MAX_GROUPS - words) * 40) as u32;
        let [bias0, bias1] = bias.map(|b| b as u32);
        match out {
            super::PairSums::Raw([out0, out1]) => {
                let state: [u32; 7] = [
                    w.as_ptr() as u32,
                    skip,
                    bias0,
                    bias1,
                    out0.as_mut_ptr() as u32,
                    out1.as_mut_ptr() as u32,
                    out0[2 * pairs..].as_ptr() as u32,
                ];
                // SAFETY: the caller checked `pairs > 0`, `words` in
                // `1..=MAX_GROUPS`, that `x` holds `4 * words * pairs` words,
                // `w` `4 * words` words and both outputs `2 * pairs` words:
                // each pair runs the block's last `words` groups, reading
                // exactly its pixels and the weights (aligned LDM), and
                // writes two words to each output cursor, until the first
                // reaches `out0[2 * pairs..]` (pairs > 0). The state is
                // copied onto the stack (7 words) and dropped at the end.
                unsafe {
                    pairs_asm!(
                        state.as_ptr(),
                        x.as_ptr(),
                        pair_loop!(
                            "ldrd r0, r1, [sp, #16]
                            strd r8, r9, [r0], #8
                            strd r10, r11, [r1], #8
                            strd r0, r1, [sp, #16]
                            ldr r2, [sp, #24]
                            cmp r0, r2
                            bne 4b
                            add sp, #28
                            "
                        )
                    );
                }
            }
            super::PairSums::Int8 { y, at, base, q } => {
                let y = y.as_mut_ptr() as u32;
                let state: [u32; 14] = [
                    w.as_ptr() as u32,
                    skip,
                    bias0,
                    bias1,
                    at.at.as_ptr() as u32,
                    y + base[0] as u32,
                    y + base[1] as u32,
                    at.at[2 * pairs..].as_ptr() as u32,
                    q[0].multiplier as u32,
                    q[1].multiplier as u32,
                    q[0].round as u32,
                    q[1].round as u32,
                    q[0].right,
                    q[1].right,
                ];
                // SAFETY: as for `Raw` (the state's last 7 words pushed
                // first, 14 words dropped at the end), except that each pair
                // reads two offsets from the `at` cursor (until it reaches
                // `at[2 * pairs..]`, checked to exist) and writes one byte
                // at `base[r] + at[i]` for its pixels `i` and rows `r`, all
                // inside `y` (checked by the caller).
                unsafe {
                    pairs_asm!(
                        state.as_ptr(),
                        x.as_ptr(),
                        "add r8, r0, #28",
                        "ldm r8, {{r1, r2, r3, r4, r5, r6, r7}}",
                        "push {{r1, r2, r3, r4, r5, r6, r7}}",
                        pair_loop!(concat!(
                            "add lr, sp, #32
                            ldm lr, {{r0, r1, r2, r3, r4, r5}}
                            ",
                            requant_int8!("r8", "r0", "r2", "r4"),
                            requant_int8!("r9", "r0", "r2", "r4"),
                            requant_int8!("r10", "r1", "r3", "r5"),
                            requant_int8!("r11", "r1", "r3", "r5"),
                            "ldr r0, [sp, #16]
                            ldrd r6, r7, [r0], #8
                            str r0, [sp, #16]
                            ldrd r2, r3, [sp, #20]
                            strb r8, [r2, r6]
                            strb r9, [r2, r7]
                            strb r10, [r3, r6]
                            strb r11, [r3, r7]
                            ldr r1, [sp, #28]
                            cmp r0, r1
                            bne 4b
                            add sp, #56
                            "
                        ))
                    );
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn window_3x3_row_int8(
        x: &[i8],
        [dx, dy, sx]: [usize; 3],
        w: &[u32],
        offset: u32,
        bias: [i32; 4],
        q: &[super::ShortRequant; 4],
        y: &mut [i8],
        sy: usize,
        n: usize,
    ) {
        let y = y.as_mut_ptr() as u32;
        // The loop's state (28 words, copied onto the stack): biases, the
        // window's row step and tap step, weights, offset pair, input and
        // output cursors and strides, output end, the four right shifts,
        // (multiplier, constant) per channel, padding.
        let state: [u32; 28] = [
            bias[0] as u32,
            bias[1] as u32,
            bias[2] as u32,
            bias[3] as u32,
            dy.wrapping_sub(2 * dx) as u32,
            dx as u32,
            w.as_ptr() as u32,
            offset,
            x.as_ptr() as u32,
            y,
            sx as u32,
            sy as u32,
            y + (n * sy) as u32,
            q[0].right,
            q[1].right,
            q[2].right,
            q[3].right,
            q[0].multiplier as u32,
            q[0].round as u32,
            q[1].multiplier as u32,
            q[1].round as u32,
            q[2].multiplier as u32,
            q[2].round as u32,
            q[3].multiplier as u32,
            q[3].round as u32,
            0,
            0,
            0,
        ];
        // SAFETY: the caller checked `n > 0`, that output `i`'s window (the
        // words at `x + i sx + ky dy + kx dx`, unaligned LDR) lies inside `x`,
        // the 18 weight words (LDRD) inside `w`, and the word stored at `y +
        // i sy` (unaligned STR) inside `y`; the loop stops when the output
        // cursor reaches `y + n sy`. The state is copied onto the stack (28
        // words) and dropped at the end; r6 and r7 (LLVM's base and frame
        // pointers, never operands) are saved and restored.
        unsafe {
            asm!(
                "push {{r6, r7}}",
                "add r0, r0, #112",
                "ldmdb r0!, {{r1, r2, r3, r4, r5, r6, r7}}",
                "push {{r1, r2, r3, r4, r5, r6, r7}}",
                "ldmdb r0!, {{r1, r2, r3, r4, r5, r6, r7}}",
                "push {{r1, r2, r3, r4, r5, r6, r7}}",
                "ldmdb r0!, {{r1, r2, r3, r4, r5, r6, r7}}",
                "push {{r1, r2, r3, r4, r5, r6, r7}}",
                "ldmdb r0!, {{r1, r2, r3, r4, r5, r6, r7}}",
                "push {{r1, r2, r3, r4, r5, r6, r7}}",
                "4:",
                "mov r0, sp",
                "ldm r0, {{r2, r3, r4, r5}}",
                "ldrd r9, r11, [sp, #16]",
                "ldrd r12, lr, [sp, #24]",
                "ldr r10, [sp, #32]",
                window!(decode_int8!()),
                "add r0, sp, #52",
                "ldm r0, {{r8, r9, r11, r12}}",
                "ldrd r0, r1, [sp, #68]",
                requant_int8!("r2", "r0", "r1", "r8"),
                "ldrd r0, r1, [sp, #76]",
                requant_int8!("r3", "r0", "r1", "r9"),
                "ldrd r0, r1, [sp, #84]",
                requant_int8!("r4", "r0", "r1", "r11"),
                "ldrd r0, r1, [sp, #92]",
                requant_int8!("r5", "r0", "r1", "r12"),
                "bfi r2, r3, #8, #8",
                "bfi r2, r4, #16, #8",
                "bfi r2, r5, #24, #8",
                "ldrd r0, r1, [sp, #32]",
                "ldrd r6, r7, [sp, #40]",
                "str r2, [r1]",
                "add r0, r0, r6",
                "add r1, r1, r7",
                "strd r0, r1, [sp, #32]",
                "ldr r0, [sp, #48]",
                "cmp r1, r0",
                "bne 4b",
                "add sp, #112",
                "pop {{r6, r7}}",
                inout("r0") state.as_ptr() => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            );
        }
    }

    #[inline(always)]
    pub fn copy_rows(dst: &mut [i8], src: &[i8], n: usize, step: usize, rows: usize) {
        // SAFETY: the caller checked `rows > 0`, `dst` holds `rows * n`
        // bytes and `src` `(rows - 1) * step + n`: run `r` reads
        // `src[r * step..][..n]` and the runs fill `dst` in order (unaligned
        // LDR/STR, allowed on Armv7-M).
        unsafe {
            asm!(
                "6:",
                "mov {s}, {row}",
                "lsrs {w}, {n}, #2",
                "beq 3f",
                "2:",
                "ldr {t}, [{s}], #4",
                "str {t}, [{d}], #4",
                "subs {w}, {w}, #1",
                "bne 2b",
                "3:",
                "ands {w}, {n}, #3",
                "beq 5f",
                "4:",
                "ldrb {t}, [{s}], #1",
                "strb {t}, [{d}], #1",
                "subs {w}, {w}, #1",
                "bne 4b",
                "5:",
                "add {row}, {row}, {step}",
                "subs {rows}, {rows}, #1",
                "bne 6b",
                d = inout(reg) dst.as_mut_ptr() => _,
                row = inout(reg) src.as_ptr() => _,
                rows = inout(reg) rows => _,
                n = in(reg) n,
                step = in(reg) step,
                s = out(reg) _,
                w = out(reg) _,
                t = out(reg) _,
                options(nostack),
            );
        }
    }

    #[inline(always)]
    pub fn split_pairs(a: &[i8], b: &[i8], w: &mut [u32], groups: usize) {
        // SAFETY: the caller checked `groups > 0` and that `a`, `b` hold
        // `4 * groups` bytes and `w` `4 * groups` words: the loop reads
        // exactly those (unaligned LDR, allowed on Armv7-M) and writes those
        // words (STM, `w` word-aligned).
        unsafe {
            asm!(
                "2:",
                "ldr r4, [{a}], #4",
                "ldr r5, [{b}], #4",
                "sxtb16 r0, r4",
                "sxtb16 r1, r4, ror #8",
                "sxtb16 r2, r5",
                "sxtb16 r3, r5, ror #8",
                "stm {w}!, {{r0, r1, r2, r3}}",
                "subs {n}, {n}, #1",
                "bne 2b",
                a = inout(reg) a.as_ptr() => _,
                b = inout(reg) b.as_ptr() => _,
                w = inout(reg) w.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                out("r0") _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack),
            );
        }
    }

    #[inline(always)]
    pub fn plane_3x3<const SX: usize>(x: &[i8], step: usize, w: &[u32; 6], offset: u32, out: &mut [i32]) {
        // SAFETY: the caller checked `out` is not empty and `x` holds
        // `(n - 1) * SX + 2 * step + 4` bytes: output `i` reads the words at
        // `x + i * SX + k * step` (unaligned LDR, allowed on Armv7-M) for
        // `k < 3`, and the loop writes exactly the `n` words of `out`. r6
        // and r7 (LLVM's base and frame pointers, never operands: every
        // operand is pinned elsewhere) are saved and restored.
        unsafe {
            asm!(
                "push {{r6, r7}}",
                "ldm r0, {{r2, r3, r4, r5, r6, r7}}",
                "2:",
                "ldr r0, [r8]",
                "sxtab16 lr, r11, r0",
                "smuad r12, lr, r2",
                "sxtab16 lr, r11, r0, ror #8",
                "smlad r12, lr, r3, r12",
                "ldr r0, [r8, r9]",
                "sxtab16 lr, r11, r0",
                "smlad r12, lr, r4, r12",
                "sxtab16 lr, r11, r0, ror #8",
                "smlad r12, lr, r5, r12",
                "add r0, r8, r9",
                "ldr r0, [r0, r9]",
                "sxtab16 lr, r11, r0",
                "smlad r12, lr, r6, r12",
                "sxtab16 lr, r11, r0, ror #8",
                "smlad r12, lr, r7, r12",
                "str r12, [r10], #4",
                "add r8, r8, #{sx}",
                "subs r1, r1, #1",
                "bne 2b",
                "pop {{r6, r7}}",
                sx = const SX,
                inout("r0") w.as_ptr() => _,
                inout("r1") out.len() => _,
                inout("r8") x.as_ptr() => _,
                in("r9") step,
                inout("r10") out.as_mut_ptr() => _,
                in("r11") offset,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r12") _,
                out("lr") _,
            );
        }
    }

    #[inline(always)]
    pub fn ssat<const N: u32>(v: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("ssat {r}, #{n}, {v}", r = lateout(reg) r, v = in(reg) v, n = const N,
                 options(pure, nomem, nostack));
        }
        r
    }

    #[inline(always)]
    pub fn usat<const N: u32>(v: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("usat {r}, #{n}, {v}", r = lateout(reg) r, v = in(reg) v, n = const N,
                 options(pure, nomem, nostack));
        }
        r
    }

    #[inline(always)]
    pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn sxtb16(x: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn sxtb16_ror8(x: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn sxtab16(a: u32, x: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("sxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("sxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smmlar(a: i32, b: i32, acc: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smmlar {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn qadd(a: i32, b: i32) -> i32 {
        let r: i32;
        // QADD sets the sticky Q flag on saturation, no condition flag.
        unsafe {
            asm!("qadd {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
                 options(pure, nomem, nostack));
        }
        r
    }

    #[inline(always)]
    pub fn uxtab16(a: u32, x: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("uxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn uxtab16_ror8(a: u32, x: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("uxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smlabb {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smlatt {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Halfword lanes of a word as `i64`.
    fn lanes(x: u32) -> [i64; 2] {
        [i64::from(x as u16 as i16), i64::from((x >> 16) as u16 as i16)]
    }

    /// Byte `k` of a word, sign-extended.
    fn byte(x: u32, k: u32) -> i64 {
        i64::from((x >> (8 * k)) as u8 as i8)
    }

    proptest! {
        // Definitions from the Armv7-M reference manual, in i64.
        #[test]
        fn instructions_match_their_definitions(a: u32, b: u32, acc: i32) {
            let ([al, ah], [bl, bh]) = (lanes(a), lanes(b));
            let wrap = |v: i64| v as i32;
            prop_assert_eq!(smlad(a, b, acc), wrap(i64::from(acc) + al * bl + ah * bh));
            prop_assert_eq!(smlabb(a, b, acc), wrap(i64::from(acc) + al * bl));
            prop_assert_eq!(smlatt(a, b, acc), wrap(i64::from(acc) + ah * bh));
            prop_assert_eq!(lanes(sxtb16(b)), [byte(b, 0), byte(b, 2)]);
            prop_assert_eq!(lanes(sxtb16_ror8(b)), [byte(b, 1), byte(b, 3)]);
            let add = |x: i64, y: i64| i64::from((x + y) as i16);
            prop_assert_eq!(lanes(sxtab16(a, b)), [add(al, byte(b, 0)), add(ah, byte(b, 2))]);
            prop_assert_eq!(lanes(sxtab16_ror8(a, b)), [add(al, byte(b, 1)), add(ah, byte(b, 3))]);
            let ubyte = |k: u32| i64::from((b >> (8 * k)) as u8);
            prop_assert_eq!(lanes(uxtab16(a, b)), [add(al, ubyte(0)), add(ah, ubyte(2))]);
            prop_assert_eq!(lanes(uxtab16_ror8(a, b)), [add(al, ubyte(1)), add(ah, ubyte(3))]);
            prop_assert_eq!(lanes(pair(al as i32, ah as i32)), [al, ah]);
            let (x, y) = (a as i32, b as i32);
            prop_assert_eq!(smmlar(x, y, acc), wrap(i64::from(acc) + ((i64::from(x) * i64::from(y) + (1 << 31)) >> 32)));
            prop_assert_eq!(i64::from(qadd(x, y)), (i64::from(x) + i64::from(y)).clamp(i32::MIN.into(), i32::MAX.into()));
            prop_assert_eq!(ssat::<8>(x), x.clamp(-128, 127));
            prop_assert_eq!(usat::<4>(x), x.clamp(0, 15));
            prop_assert_eq!(usat::<2>(x), x.clamp(0, 3));
        }
    }
}

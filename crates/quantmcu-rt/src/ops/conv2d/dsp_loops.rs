//! The hand-written inner loops of the convolution's DSP form
//! ([`super::dsp`]): dot products of pixel pairs with two weight rows
//! ([`dot_pairs_2x2`], optionally with the int8 output stage fused), the
//! split of weight rows into halfword pairs ([`split_pairs`]) and the copy
//! of a receptive field's rows ([`copy_rows`]).
//!
//! With the crate feature `dsp` on an `arm` target each is a loop in inline
//! assembly; everywhere else a portable emulation with the same result
//! (built on [`crate::dsp`]'s instructions). The public wrappers check every
//! slice bound the assembly relies on.

use crate::view::ShortRequant;

/// Most groups of 4 row positions [`dot_pairs_2x2`] takes (rows of up to 256
/// values).
pub const MAX_GROUPS: usize = 64;

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

#[cfg(any(not(feature = "dsp"), not(target_arch = "arm")))]
mod imp {
    use crate::dsp::{smlad, ssat, sxtb16, sxtb16_ror8};

    #[inline(always)]
    fn load_u32(b: &[i8]) -> u32 {
        crate::dsp::load_u32(b, 0)
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
}

// SAFETY: every block below reads and writes only the memory its public
// wrapper checked (see each block's comment).
#[cfg(all(feature = "dsp", target_arch = "arm"))]
#[allow(unsafe_code)]
mod imp {
    use core::arch::asm;

    use crate::dsp::requant_int8;

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
}

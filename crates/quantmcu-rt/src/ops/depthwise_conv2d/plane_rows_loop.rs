//! The inner loops of [`super::plane_rows`]: an input row's words of
//! channels decoded into 16-bit offset planes ([`decode_words`]), and 3x3
//! depthwise windows over those planes, two horizontally adjacent outputs of
//! one channel per step, fused with the int8 output stage
//! ([`rows_3x3_int8`]).
//!
//! A plane row holds one channel's values `v + input_offset` of one input row
//! as signed halfwords, two columns per word (column `2k` in the low lane of
//! word `k`), padding columns 0. With stride 1, outputs `2i` and `2i + 1` of
//! a kernel row read columns `2i..2i + 4` (one aligned LDRD): with the row's
//! weights packed as `W01 = (w0, w1)` and `W12 = (w1, w2)`, output `2i` adds
//! SMLAD(`x01`, W01) + SMLABT(`x23`, W12) and output `2i + 1` SMLATB(`x01`,
//! W01) + SMLAD(`x23`, W12). With stride 2 they read columns `4i..4i + 5`
//! (LDRD plus LDR): SMLAD(`x01`, W01) + SMLABT(`x23`, W12) and SMLAD(`x23`,
//! W01) + SMLABT(`x45`, W12). The weights and the bias are stored doubled,
//! so each accumulator is `2 acc` exactly (the caller bounds the bias so
//! that `|acc| < 2^30`): [`ShortRequant::scaled`]'s saturating doubling is
//! already done, SMMLAR, the shift and SSAT to int8 remain.
//!
//! With the crate feature `dsp` on an `arm` target each is a loop in inline
//! assembly; everywhere else a portable emulation with the same result
//! (built on [`crate::dsp`]'s instructions). The public wrappers check every
//! slice bound the assembly relies on.

use crate::view::ShortRequant;

/// One channel's constants in the loop: the doubled weight pairs `W01`,
/// `W12` of kernel rows 0, 1, 2, then the doubled bias and the short
/// requantization (multiplier, constant, right shift).
pub type ChannelWords = [u32; 10];

/// Largest bias magnitude [`channel_words`] takes: with nine taps of at most
/// `2^15 * 2^7` the accumulator stays below `2^30` in magnitude, so doubling
/// it is exact.
pub const MAX_BIAS: i32 = (1 << 30) - (1 << 26);

/// The words of [`ChannelWords`] for weights `w` (`[ky][kx]`), `bias`
/// (`|bias| <= MAX_BIAS`) and `q`.
///
/// # Panics
///
/// Panics if `|bias| > MAX_BIAS`.
pub fn channel_words(w: [[i8; 3]; 3], bias: i32, q: &ShortRequant) -> ChannelWords {
    assert!(bias.unsigned_abs() <= MAX_BIAS as u32);
    let p = |a: i8, b: i8| crate::dsp::pair(2 * i32::from(a), 2 * i32::from(b));
    [
        p(w[0][0], w[0][1]),
        p(w[0][1], w[0][2]),
        p(w[1][0], w[1][1]),
        p(w[1][1], w[1][2]),
        p(w[2][0], w[2][1]),
        p(w[2][1], w[2][2]),
        (2 * bias) as u32,
        q.multiplier as u32,
        q.round as u32,
        q.right,
    ]
}

/// Where a call of [`rows_3x3_int8`] reads and writes.
#[derive(Clone, Copy, Debug)]
pub struct RowsAt {
    /// Word index in the planes of channel 0's row for kernel rows 0, 1, 2
    /// (column 0 of the window of output 0).
    pub rows: [usize; 3],
    /// Words from one channel's planes to the next's.
    pub channel_words: usize,
    /// Index in `y` of output 0 of channel 0; channel `j`'s output `i` is at
    /// `y_at + j + i * y_step`.
    pub y_at: usize,
    pub y_step: usize,
    /// Pairs of outputs per channel.
    pub pairs: usize,
}

/// Decodes one word per pixel into four planes: the word at `x[k * px..]`
/// (`k < n`) plus `offset` in both lanes, split into the halfword pairs of
/// bytes 0/2 and 1/3, goes to halfword `k` of the planes at `d[at[0]..]`,
/// `d[at[2]..]` (bytes 0, 2) and `d[at[1]..]`, `d[at[3]..]` (bytes 1, 3).
/// With `M == 0` the bytes are int8 values (SXTAB16); otherwise the word is
/// shifted right by `shift` and masked with `M` (one code per byte),
/// zero-extended (UXTAB16). On the target 8.5 (int8) or 10.5 (codes)
/// instructions per pixel, two pixels per step.
///
/// # Panics
///
/// Panics if `n == 0`, `shift >= 8`, `x` is shorter than `(n - 1) * px + 4`
/// or a plane runs past the end of `d`.
pub fn decode_words<const M: u32>(
    x: &[i8],
    px: usize,
    n: usize,
    offset: u32,
    shift: u32,
    d: &mut [i16],
    at: [usize; 4],
) {
    assert!(n > 0 && shift < 8 && px <= (i32::MAX / 4) as usize && n <= (i32::MAX / 4) as usize);
    assert!((n - 1)
        .checked_mul(px)
        .and_then(|e| e.checked_add(4))
        .is_some_and(|e| e <= x.len()));
    assert!(at.iter().all(|&a| a.checked_add(n).is_some_and(|e| e <= d.len())));
    imp::decode_words::<M>(x, px, n, offset, shift, d, at);
}

/// For each channel `j < chans.len()` and pair `i < at.pairs`: outputs `2i`
/// and `2i + 1` of the row (stride `SX` columns between outputs) from the
/// three plane rows at `at.rows[k] + j * at.channel_words`, requantized
/// with `chans[j]` and stored as int8 (see the module doc).
///
/// # Panics
///
/// Panics if `SX` is not 1 or 2, `at.pairs` is 0, a word read lies outside
/// `planes`, an output outside `y`, or a right shift exceeds 31.
pub fn rows_3x3_int8<const SX: usize>(planes: &[u32], chans: &[ChannelWords], at: &RowsAt, y: &mut [i8]) {
    let n = chans.len();
    let most = (i32::MAX / 4) as usize;
    assert!((1..=2).contains(&SX) && at.pairs > 0 && n > 0);
    assert!(at.pairs <= most && at.y_step <= most && at.channel_words <= most);
    // Last word read: stride 1, word `pairs` of the row; stride 2, `2 pairs`.
    let last_channel = (n - 1) * at.channel_words;
    assert!(at.rows.iter().all(|&r| r + last_channel + SX * at.pairs < planes.len()));
    assert!(at.y_at + n - 1 + (2 * at.pairs - 1) * at.y_step < y.len());
    assert!(chans.iter().all(|c| c[9] <= 31));
    imp::rows_3x3_int8::<SX>(planes, chans, at, y);
}

#[cfg(any(not(feature = "dsp"), not(target_arch = "arm")))]
mod imp {
    use super::{ChannelWords, RowsAt};
    use crate::dsp::{load_u32, smlabt, smlad, smlatb, smmlar, ssat, sxtab16, sxtab16_ror8, uxtab16, uxtab16_ror8};

    pub fn decode_words<const M: u32>(
        x: &[i8],
        px: usize,
        n: usize,
        offset: u32,
        shift: u32,
        d: &mut [i16],
        at: [usize; 4],
    ) {
        for k in 0..n {
            let w = load_u32(x, k * px);
            let (e, o) = if M == 0 {
                (sxtab16(offset, w), sxtab16_ror8(offset, w))
            } else {
                let t = (w >> shift) & M;
                (uxtab16(offset, t), uxtab16_ror8(offset, t))
            };
            d[at[0] + k] = e as i16;
            d[at[2] + k] = (e >> 16) as i16;
            d[at[1] + k] = o as i16;
            d[at[3] + k] = (o >> 16) as i16;
        }
    }

    /// The channel's short requantization of the doubled accumulator
    /// `acc2`, saturated to int8.
    fn requant(acc2: i32, c: &ChannelWords) -> i8 {
        let (multiplier, round, right) = (c[7] as i32, c[8] as i32, c[9]);
        ssat::<8>(smmlar(acc2, multiplier, round.wrapping_add(acc2 >> 31)) >> right) as i8
    }

    pub fn rows_3x3_int8<const SX: usize>(planes: &[u32], chans: &[ChannelWords], at: &RowsAt, y: &mut [i8]) {
        for (j, c) in chans.iter().enumerate() {
            for i in 0..at.pairs {
                let (mut a, mut b) = (c[6] as i32, c[6] as i32);
                for (k, &row) in at.rows.iter().enumerate() {
                    let x = &planes[row + j * at.channel_words + SX * i..];
                    let (w01, w12) = (c[2 * k], c[2 * k + 1]);
                    a = smlabt(x[1], w12, smlad(x[0], w01, a));
                    b = if SX == 1 {
                        smlad(x[1], w12, smlatb(x[0], w01, b))
                    } else {
                        smlabt(x[2], w12, smlad(x[1], w01, b))
                    };
                }
                let o = at.y_at + j + 2 * i * at.y_step;
                y[o] = requant(a, c);
                y[o + at.y_step] = requant(b, c);
            }
        }
    }
}

// SAFETY: the block below reads and writes only the memory its public
// wrapper checked (see its comment).
#[cfg(all(feature = "dsp", target_arch = "arm"))]
#[allow(unsafe_code)]
mod imp {
    use core::arch::asm;

    use super::{ChannelWords, RowsAt};

    /// One kernel row of a stride-1 pair: plane row pointer `$p`, weight
    /// pairs `$w01`, `$w12`; accumulators r2 (output 2i), r3 (2i + 1).
    macro_rules! row_s1 {
        ($p:literal, $w01:literal, $w12:literal) => {
            concat!(
                "ldrd r0, r1, [",
                $p,
                "], #4\n",
                "smlad r2, r0, ",
                $w01,
                ", r2\n",
                "smlatb r3, r0, ",
                $w01,
                ", r3\n",
                "smlabt r2, r1, ",
                $w12,
                ", r2\n",
                "smlad r3, r1, ",
                $w12,
                ", r3\n",
            )
        };
    }

    /// One kernel row of a stride-2 pair.
    macro_rules! row_s2 {
        ($p:literal, $w01:literal, $w12:literal) => {
            concat!(
                "ldrd r0, r1, [",
                $p,
                "], #8\n",
                "smlad r2, r0, ",
                $w01,
                ", r2\n",
                "smlabt r2, r1, ",
                $w12,
                ", r2\n",
                "smlad r3, r1, ",
                $w01,
                ", r3\n",
                "ldr r0, [",
                $p,
                "]\n",
                "smlabt r3, r0, ",
                $w12,
                ", r3\n",
            )
        };
    }

    /// One pair of outputs with the kernel-row body `$row`: both
    /// accumulators from the doubled bias, three kernel rows, the output
    /// stage, two byte stores, the output cursor stepped.
    macro_rules! pair {
        ($row:ident) => {
            concat!(
                "ldrd r2, r3, [sp, #32]\n",
                $row!("r10", "r4", "r5"),
                $row!("r11", "r6", "r7"),
                $row!("r12", "r8", "r9"),
                "ldrd r0, r1, [sp, #40]\n",
                "add r1, r1, r2, asr #31\n",
                "smmlar r2, r2, r0, r1\n",
                "ldr r1, [sp, #44]\n",
                "add r1, r1, r3, asr #31\n",
                "smmlar r3, r3, r0, r1\n",
                "ldrd r0, r1, [sp, #48]\n",
                "asr r2, r2, r0\n",
                "asr r3, r3, r0\n",
                "ssat r2, #8, r2\n",
                "ssat r3, #8, r3\n",
                "strb r2, [lr]\n",
                "strb r3, [lr, r1]\n",
                "add lr, lr, r1, lsl #1\n",
            )
        };
    }

    /// The whole loop with the kernel-row body `$row`. Frame on the stack
    /// (words): 0 channel constants cursor, 1 channels left, 2-4 channel
    /// 0's plane rows, 5 bytes from a channel's row cursors after its pairs
    /// to the next channel's rows, 6 channel 0's first output, 7 bytes of a
    /// channel's outputs (`2 pairs y_step`) less one, 8-9 doubled bias
    /// (twice), 10 multiplier, 11 constant, 12 right shift, 13 `y_step`,
    /// 14 output end, 15 1 if the pair count is odd. Registers: plane row
    /// cursors r10-r12, weight pairs r4-r9, output cursor lr.
    macro_rules! rows_loop {
        ($row:ident) => {
            concat!(
                "push {{r6, r7}}\n",
                "add r0, r0, #64\n",
                "ldmdb r0!, {{r1, r2, r3, r4, r5, r6, r7, r8}}\n",
                "push {{r1, r2, r3, r4, r5, r6, r7, r8}}\n",
                "ldmdb r0!, {{r1, r2, r3, r4, r5, r6, r7, r8}}\n",
                "push {{r1, r2, r3, r4, r5, r6, r7, r8}}\n",
                // The cursors of channel 0 and its output end.
                "ldrd r10, r11, [sp, #8]\n",
                "ldr r12, [sp, #16]\n",
                "ldrd lr, r0, [sp, #24]\n",
                "add r0, lr, r0\n",
                "add r0, r0, #1\n",
                "str r0, [sp, #56]\n",
                // Channel loop: this channel's constants.
                "1:\n",
                "ldr r0, [sp]\n",
                "ldm r0!, {{r4, r5, r6, r7, r8, r9}}\n",
                "ldm r0!, {{r1, r2, r3}}\n",
                "strd r1, r1, [sp, #32]\n",
                "strd r2, r3, [sp, #40]\n",
                "ldr r1, [r0], #4\n",
                "str r1, [sp, #48]\n",
                "str r0, [sp]\n",
                // Pair loop, two pairs per step (entered at the second
                // when the count is odd).
                "ldr r0, [sp, #60]\n",
                "cmp r0, #0\n",
                "bne 3f\n",
                "2:\n",
                pair!($row),
                "3:\n",
                pair!($row),
                "ldr r0, [sp, #56]\n",
                "cmp lr, r0\n",
                "bne 2b\n",
                // The next channel's cursors and output end.
                "ldr r0, [sp, #20]\n",
                "add r10, r10, r0\n",
                "add r11, r11, r0\n",
                "add r12, r12, r0\n",
                "ldr r0, [sp, #28]\n",
                "sub lr, lr, r0\n",
                "ldr r0, [sp, #56]\n",
                "add r0, r0, #1\n",
                "str r0, [sp, #56]\n",
                "ldr r0, [sp, #4]\n",
                "subs r0, r0, #1\n",
                "str r0, [sp, #4]\n",
                "bne 1b\n",
                "add sp, #64\n",
                "pop {{r6, r7}}\n",
            )
        };
    }

    /// Decodes the int8 word in `$w` into the pairs `$e` (bytes 0/2) and
    /// `$w` (bytes 1/3), offset r11.
    macro_rules! dec_int8 {
        ($w:literal, $e:literal) => {
            concat!(
                "sxtab16 ",
                $e,
                ", r11, ",
                $w,
                "\n",
                "sxtab16 ",
                $w,
                ", r11, ",
                $w,
                ", ror #8\n",
            )
        };
    }

    /// Decodes the code word in `$w` (shift lr, mask `m`) likewise.
    macro_rules! dec_codes {
        ($w:literal, $e:literal) => {
            concat!(
                "lsr ",
                $w,
                ", ",
                $w,
                ", lr\n",
                "and ",
                $w,
                ", ",
                $w,
                ", #{m}\n",
                "uxtab16 ",
                $e,
                ", r11, ",
                $w,
                "\n",
                "uxtab16 ",
                $w,
                ", r11, ",
                $w,
                ", ror #8\n",
            )
        };
    }

    /// One pixel: load, step, decode with `$dec`, four halfword stores.
    macro_rules! one_pixel {
        ($dec:ident) => {
            concat!(
                "ldr r0, [r8]\n",
                "add r8, r8, r9\n",
                $dec!("r0", "r1"),
                "strh r1, [r2], #2\n",
                "lsr r1, r1, #16\n",
                "strh r1, [r4], #2\n",
                "strh r0, [r3], #2\n",
                "lsr r0, r0, #16\n",
                "strh r0, [r5], #2\n",
            )
        };
    }

    /// The body of `decode_words` with the decode `$dec`: one pixel when
    /// the planes start mid-word, then two pixels per step (PKHBT/PKHTB
    /// join their lanes into one word per plane), then a last pixel if one
    /// is left. Pointers: x r8 (step r9), planes r2-r5, count r10.
    macro_rules! decode_loop {
        ($dec:ident) => {
            concat!(
                "push {{r6, r7}}\n",
                "tst r2, #2\n",
                "beq 3f\n",
                one_pixel!($dec),
                "subs r10, r10, #1\n",
                "3:\n",
                "subs r10, r10, #2\n",
                "bmi 5f\n",
                "2:\n",
                "ldr r0, [r8]\n",
                "ldr r1, [r8, r9]\n",
                "add r8, r8, r9, lsl #1\n",
                $dec!("r0", "r6"),
                $dec!("r1", "r7"),
                "pkhbt r12, r6, r7, lsl #16\n",
                "pkhtb r6, r7, r6, asr #16\n",
                "str r12, [r2], #4\n",
                "str r6, [r4], #4\n",
                "pkhbt r12, r0, r1, lsl #16\n",
                "pkhtb r0, r1, r0, asr #16\n",
                "str r12, [r3], #4\n",
                "str r0, [r5], #4\n",
                "subs r10, r10, #2\n",
                "bpl 2b\n",
                "5:\n",
                "adds r10, r10, #2\n",
                "beq 6f\n",
                one_pixel!($dec),
                "6:\n",
                "pop {{r6, r7}}\n",
            )
        };
    }

    pub fn decode_words<const M: u32>(
        x: &[i8],
        px: usize,
        n: usize,
        offset: u32,
        shift: u32,
        d: &mut [i16],
        at: [usize; 4],
    ) {
        let base = d.as_mut_ptr();
        let p = |j: usize| base.wrapping_add(at[j]);
        // SAFETY: the wrapper checked `n > 0`, that the `n` words read
        // (unaligned LDR at `x + k px`) lie inside `x` and the `n`
        // halfwords stored from each `d + at[j]` (STRH, or STR of the
        // halfwords `k, k + 1 < n`, unaligned STR being allowed on Armv7-M)
        // inside `d`. r6 and r7 (LLVM's base and frame pointers, never
        // operands) are saved and restored.
        unsafe {
            if M == 0 {
                asm!(
                    decode_loop!(dec_int8),
                    inout("r8") x.as_ptr() => _, in("r9") px, inout("r10") n => _, in("r11") offset,
                    inout("r2") p(0) => _, inout("r3") p(1) => _, inout("r4") p(2) => _, inout("r5") p(3) => _,
                    out("r0") _, out("r1") _, out("r12") _,
                );
            } else {
                asm!(
                    decode_loop!(dec_codes),
                    m = const M,
                    inout("r8") x.as_ptr() => _, in("r9") px, inout("r10") n => _, in("r11") offset, in("lr") shift,
                    inout("r2") p(0) => _, inout("r3") p(1) => _, inout("r4") p(2) => _, inout("r5") p(3) => _,
                    out("r0") _, out("r1") _, out("r12") _,
                );
            }
        }
    }

    pub fn rows_3x3_int8<const SX: usize>(planes: &[u32], chans: &[ChannelWords], at: &RowsAt, y: &mut [i8]) {
        let base = planes.as_ptr() as u32;
        let row = |k: usize| base + 4 * at.rows[k] as u32;
        let frame: [u32; 16] = [
            chans.as_ptr() as u32,
            chans.len() as u32,
            row(0),
            row(1),
            row(2),
            (4 * at.channel_words).wrapping_sub(4 * SX * at.pairs) as u32,
            y.as_mut_ptr() as u32 + at.y_at as u32,
            (2 * at.pairs * at.y_step - 1) as u32,
            0,
            0,
            0,
            0,
            0,
            at.y_step as u32,
            0,
            (at.pairs % 2) as u32,
        ];
        // SAFETY: the wrapper checked that `chans` is not empty and holds
        // the 10 words per channel the channel loop reads (LDM), that every
        // plane word read (aligned LDRD/LDR: channel `j`'s rows at `row(k) +
        // 4 j channel_words`, up to word `SX pairs` of each) lies inside
        // `planes`, and that every output byte (STRB at `y + y_at + j + i
        // y_step`, `i < 2 pairs`) lies inside `y`; each pair loop stops when
        // its cursor reaches the channel's output end. The frame is copied
        // onto the stack (16 words) and dropped at the end; r6 and r7
        // (LLVM's base and frame pointers, never operands) are saved and
        // restored.
        unsafe {
            if SX == 1 {
                asm!(
                    rows_loop!(row_s1),
                    inout("r0") frame.as_ptr() => _,
                    out("r1") _, out("r2") _, out("r3") _, out("r4") _, out("r5") _,
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("r12") _, out("lr") _,
                );
            } else {
                asm!(
                    rows_loop!(row_s2),
                    inout("r0") frame.as_ptr() => _,
                    out("r1") _, out("r2") _, out("r3") _, out("r4") _, out("r5") _,
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _, out("r12") _, out("lr") _,
                );
            }
        }
    }
}

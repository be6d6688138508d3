//! The hand-written inner loops of the depthwise convolution's DSP form
//! ([`super::dsp`]) and in-place form ([`super::in_place`]): four channels'
//! taps along a kernel row ([`taps_4`]) or over a 3x3 window
//! ([`window_3x3`]), a row of 3x3 windows fused with the int8 output stage
//! ([`window_3x3_row_int8`]), and one channel's 3x3 windows along a row of
//! a plane ([`plane_3x3`]).
//!
//! With the crate feature `dsp` on an `arm` target each is a loop in inline
//! assembly; everywhere else a portable emulation with the same result
//! (built on [`crate::dsp`]'s instructions). The public wrappers check every
//! slice bound the assembly relies on.

use crate::view::ShortRequant;

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

#[cfg(any(not(feature = "dsp"), not(target_arch = "arm")))]
mod imp {
    use crate::dsp::{smlabb, smlad, smlatt, ssat, sxtab16, sxtab16_ror8, uxtab16, uxtab16_ror8};

    #[inline(always)]
    fn load_u32(b: &[i8]) -> u32 {
        crate::dsp::load_u32(b, 0)
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
}

// SAFETY: every block below reads and writes only the memory its public
// wrapper checked (see each block's comment).
#[cfg(all(feature = "dsp", target_arch = "arm"))]
#[allow(unsafe_code)]
mod imp {
    use core::arch::asm;

    use crate::dsp::requant_int8;

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
}

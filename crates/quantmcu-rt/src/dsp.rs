//! The Cortex-M DSP-extension instructions the fast kernels are written in
//! (Armv7E-M / Armv8-M Mainline: Cortex-M4, M7, M33, M55), one function each.
//!
//! With the crate feature `dsp` on an `arm` target every function is the single
//! instruction its name says (inline assembly, no memory access); everywhere
//! else it is a portable emulation with the same result, so the kernels built
//! on them run and are tested on the host too. Halfword lanes: `lo` = bits
//! 0..16, `hi` = bits 16..32, each a signed `i16` unless stated.

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

/// SMMULR: the high word of `a * b`, rounded: `(a * b + 2^31) >> 32`.
#[inline(always)]
pub fn smmulr(a: i32, b: i32) -> i32 {
    imp::smmulr(a, b)
}

/// QADD: `a + b` saturated to the `i32` range.
#[inline(always)]
pub fn qadd(a: i32, b: i32) -> i32 {
    imp::qadd(a, b)
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

/// Two pixels' dot products with two weight rows, `words` groups of 4
/// channels: `x` holds per group the pixels' halfword pairs `[A (c, c+2),
/// A (c+1, c+3), B (c, c+2), B (c+1, c+3)]`, row 0 is `w[..4 words]`, row 1
/// `w[stride..][..4 words]` (int8). Returns `acc` plus `[A.row0, B.row0,
/// A.row1, B.row1]` (wrapping). On the target one loop of LDM, 2 LDR, 4
/// SXTB16 and 8 SMLAD per group (17 instructions per 16 MACs).
///
/// # Panics
///
/// Panics if `words == 0` or `x`/`w` are shorter than stated.
#[inline(always)]
pub fn dot_2x2(acc: [i32; 4], x: &[u32], w: &[i8], stride: usize, words: usize) -> [i32; 4] {
    assert!(words > 0 && x.len() >= 4 * words && w.len() >= stride + 4 * words && stride <= i32::MAX as usize);
    imp::dot_2x2(acc, x, w, stride, words)
}

/// Four channels' depthwise taps: for each of the `n = w.len() / 2` taps, the
/// int8 word at `x[k * dx..]` (channels `c..c+4`) plus `offset` in each lane
/// times the tap's weight pairs `w[2k..2k + 2] = [(c, c+2), (c+1, c+3)]`, added to
/// `acc` (channels `c..c+4`, wrapping). On the target one loop of LDR, ADD,
/// LDRD, 2 SXTAB16 and 4 SMLABB/SMLATT per tap (12 instructions per 4 MACs).
///
/// # Panics
///
/// Panics if `n == 0` or `x` is shorter than `(n - 1) * dx + 4`.
#[inline(always)]
pub fn taps_4(acc: [i32; 4], x: &[i8], dx: usize, w: &[u32], offset: u32) -> [i32; 4] {
    let n = w.len() / 2;
    assert!(n > 0 && dx <= i32::MAX as usize && x.len() >= (n - 1) * dx + 4);
    imp::taps_4(acc, x, dx, w, offset)
}

/// [`taps_4`] for packed codes: per tap the word at `x[k * dx..]`, shifted
/// right by `shift` and masked with `M` (one code per byte: `0x0f0f0f0f` or
/// `0x03030303`), gives the zero-extended codes of bytes 0 and 2 and of bytes
/// 1 and 3 (UXTAB16), each plus `offset`.
///
/// # Panics
///
/// As [`taps_4`], and if `shift >= 8`.
#[inline(always)]
pub fn taps_4_codes<const M: u32>(acc: [i32; 4], x: &[i8], dx: usize, w: &[u32], offset: u32, shift: u32) -> [i32; 4] {
    let n = w.len() / 2;
    assert!(n > 0 && dx <= i32::MAX as usize && x.len() >= (n - 1) * dx + 4 && shift < 8);
    imp::taps_4_codes::<M>(acc, x, dx, w, offset, shift)
}

/// True when every value `v + offset` of a map at `bits` bits (int8 at 8,
/// unsigned codes below) fits a signed halfword lane.
pub fn offset_values_fit_lane(offset: i32, bits: u32) -> bool {
    let (lo, hi) = if bits >= 8 { (-128, 127) } else { (0, (1 << bits) - 1) };
    let lane = i32::from(i16::MIN)..=i32::from(i16::MAX);
    lane.contains(&offset.saturating_add(lo)) && lane.contains(&offset.saturating_add(hi))
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

    #[inline(always)]
    pub fn taps_4(mut acc: [i32; 4], x: &[i8], dx: usize, w: &[u32], offset: u32) -> [i32; 4] {
        for (k, w) in w.chunks_exact(2).enumerate() {
            let v = load_u32(&x[k * dx..]);
            let (e, o) = (sxtab16(offset, v), sxtab16_ror8(offset, v));
            acc[0] = smlabb(e, w[0], acc[0]);
            acc[2] = smlatt(e, w[0], acc[2]);
            acc[1] = smlabb(o, w[1], acc[1]);
            acc[3] = smlatt(o, w[1], acc[3]);
        }
        acc
    }

    #[inline(always)]
    pub fn taps_4_codes<const M: u32>(
        mut acc: [i32; 4],
        x: &[i8],
        dx: usize,
        w: &[u32],
        offset: u32,
        shift: u32,
    ) -> [i32; 4] {
        for (k, w) in w.chunks_exact(2).enumerate() {
            let t = (load_u32(&x[k * dx..]) >> shift) & M;
            let (e, o) = (uxtab16(offset, t), uxtab16_ror8(offset, t));
            acc[0] = smlabb(e, w[0], acc[0]);
            acc[2] = smlatt(e, w[0], acc[2]);
            acc[1] = smlabb(o, w[1], acc[1]);
            acc[3] = smlatt(o, w[1], acc[3]);
        }
        acc
    }

    #[inline(always)]
    pub fn load_u32(b: &[i8]) -> u32 {
        u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
    }

    #[inline(always)]
    pub fn dot_2x2(mut acc: [i32; 4], x: &[u32], w: &[i8], stride: usize, words: usize) -> [i32; 4] {
        let word = |b: &[i8]| u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8]);
        for (g, q) in x.chunks_exact(4).take(words).enumerate() {
            for (r, at) in [0, stride].into_iter().enumerate() {
                let v = word(&w[at + 4 * g..]);
                let (e, o) = (sxtb16(v), sxtb16_ror8(v));
                acc[2 * r] = smlad(q[1], o, smlad(q[0], e, acc[2 * r]));
                acc[2 * r + 1] = smlad(q[3], o, smlad(q[2], e, acc[2 * r + 1]));
            }
        }
        acc
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
    pub fn smmulr(a: i32, b: i32) -> i32 {
        ((i64::from(a) * i64::from(b) + (1 << 31)) >> 32) as i32
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
// register, touches no memory, stack or flags (`pure, nomem, nostack,
// preserves_flags`).
#[cfg(all(feature = "dsp", target_arch = "arm"))]
#[allow(unsafe_code)]
mod imp {
    use core::arch::asm;

    #[inline(always)]
    pub fn taps_4(acc: [i32; 4], x: &[i8], dx: usize, w: &[u32], offset: u32) -> [i32; 4] {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: the caller checked that `x` holds `(n - 1) * dx + 4` bytes
        // and `w` has `2 n >= 2` words; the loop reads exactly the `n` input
        // words (unaligned LDR, allowed on Armv7-M) and the `n` weight
        // pairs (LDRD of aligned words). r6 and r7 are saved and restored
        // around their use (every operand is pinned elsewhere).
        unsafe {
            asm!(
                "push {{r6, r7}}",
                "2:",
                "ldr r6, [r10]",
                "add r10, r10, r11",
                "ldrd r0, r1, [r12], #8",
                "sxtab16 r7, lr, r6, ror #8",
                "sxtab16 r6, lr, r6",
                "smlabb r2, r6, r0, r2",
                "smlatt r4, r6, r0, r4",
                "smlabb r3, r7, r1, r3",
                "smlatt r5, r7, r1, r5",
                "subs r8, r8, #1",
                "bne 2b",
                "pop {{r6, r7}}",
                inout("r10") x.as_ptr() => _,
                in("r11") dx,
                inout("r12") w.as_ptr() => _,
                inout("r8") w.len() / 2 => _,
                in("lr") offset,
                inout("r2") a0,
                inout("r3") a1,
                inout("r4") a2,
                inout("r5") a3,
                out("r0") _,
                out("r1") _,
                options(readonly),
            );
        }
        [a0, a1, a2, a3]
    }

    #[inline(always)]
    pub fn taps_4_codes<const M: u32>(
        acc: [i32; 4],
        x: &[i8],
        dx: usize,
        w: &[u32],
        offset: u32,
        shift: u32,
    ) -> [i32; 4] {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: as in `taps_4` (the mask is a Thumb-2 byte-replicated
        // immediate).
        unsafe {
            asm!(
                "push {{r6, r7}}",
                "2:",
                "ldr r6, [r10]",
                "add r10, r10, r11",
                "ldrd r0, r1, [r12], #8",
                "lsr r6, r6, r9",
                "and r6, r6, #{m}",
                "uxtab16 r7, lr, r6, ror #8",
                "uxtab16 r6, lr, r6",
                "smlabb r2, r6, r0, r2",
                "smlatt r4, r6, r0, r4",
                "smlabb r3, r7, r1, r3",
                "smlatt r5, r7, r1, r5",
                "subs r8, r8, #1",
                "bne 2b",
                "pop {{r6, r7}}",
                m = const M,
                inout("r10") x.as_ptr() => _,
                in("r11") dx,
                inout("r12") w.as_ptr() => _,
                inout("r8") w.len() / 2 => _,
                in("lr") offset,
                in("r9") shift,
                inout("r2") a0,
                inout("r3") a1,
                inout("r4") a2,
                inout("r5") a3,
                out("r0") _,
                out("r1") _,
                options(readonly),
            );
        }
        [a0, a1, a2, a3]
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

    #[inline(always)]
    pub fn dot_2x2(acc: [i32; 4], x: &[u32], w: &[i8], stride: usize, words: usize) -> [i32; 4] {
        let [mut a0, mut a1, mut a2, mut a3] = acc;
        // SAFETY: the caller checked that `x` holds `4 * words` words and
        // `w` holds `stride + 4 * words` bytes; the loop reads exactly those
        // (LDM of aligned words from `x`, unaligned LDR from `w`, allowed on
        // Armv7-M). r6 and r7 (LLVM's base and frame pointers, never
        // operands: every operand is pinned elsewhere) are saved and restored
        // around their use.
        unsafe {
            asm!(
                "push {{r6, r7}}",
                "2:",
                "ldm r10!, {{r0, r1, r2, r3}}",
                "ldr r6, [r11], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r4, r0, r6, r4",
                "smlad r4, r1, r7, r4",
                "smlad r5, r2, r6, r5",
                "smlad r5, r3, r7, r5",
                "ldr r6, [r11, r12]",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r8, r0, r6, r8",
                "smlad r8, r1, r7, r8",
                "smlad r9, r2, r6, r9",
                "smlad r9, r3, r7, r9",
                "subs lr, lr, #1",
                "bne 2b",
                "pop {{r6, r7}}",
                inout("r10") x.as_ptr() => _,
                inout("r11") w.as_ptr() => _,
                in("r12") stride as i32 - 4,
                inout("lr") words => _,
                inout("r4") a0,
                inout("r5") a1,
                inout("r8") a2,
                inout("r9") a3,
                out("r0") _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                options(readonly),
            );
        }
        [a0, a1, a2, a3]
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
    pub fn smmulr(a: i32, b: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smmulr {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
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
            prop_assert_eq!(i64::from(smmulr(x, y)), (i64::from(x) * i64::from(y) + (1 << 31)) >> 32);
            prop_assert_eq!(i64::from(qadd(x, y)), (i64::from(x) + i64::from(y)).clamp(i32::MIN.into(), i32::MAX.into()));
        }
    }
}

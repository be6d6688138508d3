//! The Cortex-M DSP-extension instructions the fast kernels are written in
//! (Armv7E-M / Armv8-M Mainline: Cortex-M4, M7, M33, M55): one function per
//! instruction, plus the unaligned word load.
//!
//! With the crate feature `dsp` on an `arm` target every function is that
//! instruction in inline assembly; everywhere else it is a portable
//! emulation with the same result, so the kernels built on them run and are
//! tested on the host too. The inner loops written by hand live with their
//! op (`ops::conv2d::dsp_loops`, `ops::depthwise_conv2d::dsp_loops`) and
//! share `requant_int8!`'s output stage. Halfword lanes: `lo` = bits
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

/// UQSUB8: each byte of `a` minus the same byte of `b`, unsigned,
/// saturated at 0.
#[inline(always)]
pub fn uqsub8(a: u32, b: u32) -> u32 {
    imp::uqsub8(a, b)
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

/// SMLABT: `acc + lo(a) * hi(b)` (wrapping).
#[inline(always)]
pub fn smlabt(a: u32, b: u32, acc: i32) -> i32 {
    imp::smlabt(a, b, acc)
}

/// SMLATB: `acc + hi(a) * lo(b)` (wrapping).
#[inline(always)]
pub fn smlatb(a: u32, b: u32, acc: i32) -> i32 {
    imp::smlatb(a, b, acc)
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

/// Two signed halfwords as one word (`lo` in bits 0..16).
#[inline(always)]
pub fn pair(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xffff) | ((hi as u32) << 16)
}

/// The assembly text requantizing accumulator register `$a` to int8 in
/// place with the multiplier, constant and shift registers `$m`, `$r`, `$s`
/// ([`crate::view::ShortRequant::scaled`], then SSAT); r6, r7 scratch. For
/// the hand-written loops of the ops' DSP forms.
#[cfg(all(feature = "dsp", target_arch = "arm"))]
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
#[cfg(all(feature = "dsp", target_arch = "arm"))]
pub(crate) use requant_int8;

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
    pub fn load_u32(b: &[i8]) -> u32 {
        u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
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
    pub fn uqsub8(a: u32, b: u32) -> u32 {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        u32::from_le_bytes([0, 1, 2, 3].map(|k| a[k].saturating_sub(b[k])))
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

    #[inline(always)]
    pub fn smlabt(a: u32, b: u32, acc: i32) -> i32 {
        acc.wrapping_add(lo(a) * hi(b))
    }

    #[inline(always)]
    pub fn smlatb(a: u32, b: u32, acc: i32) -> i32 {
        acc.wrapping_add(hi(a) * lo(b))
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
    pub fn uqsub8(a: u32, b: u32) -> u32 {
        let r: u32;
        unsafe {
            asm!("uqsub8 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
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

    #[inline(always)]
    pub fn smlabt(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smlabt {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc,
                 options(pure, nomem, nostack, preserves_flags));
        }
        r
    }

    #[inline(always)]
    pub fn smlatb(a: u32, b: u32, acc: i32) -> i32 {
        let r: i32;
        unsafe {
            asm!("smlatb {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc,
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
            prop_assert_eq!(smlabt(a, b, acc), wrap(i64::from(acc) + al * bh));
            prop_assert_eq!(smlatb(a, b, acc), wrap(i64::from(acc) + ah * bl));
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
            let ubytes = |w: u32| w.to_le_bytes().map(i64::from);
            let want: [i64; 4] = [0, 1, 2, 3].map(|k| (ubytes(a)[k] - ubytes(b)[k]).max(0));
            prop_assert_eq!(ubytes(uqsub8(a, b)), want);
        }
    }
}

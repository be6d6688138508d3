//! RECODE: the int8 values a producer wrote, turned in place into the
//! `b`-bit codes of a clean map (the *int8-first* numerics, `docs/design.md`,
//! "Numerics"). A map is clean when every value `v` of channel `c` lies in
//! `lo[c]..=hi[c]`; its code is then
//! `u = clamp((v * scale[c] + offset[c]) >> RECODE_SHIFT, 0, max_code)`
//! (arithmetic shift: rounding is whatever `offset` builds in, the host adds
//! half a code step; `max_code` is the format's, e.g. 6 for a 3-bit map
//! stored in 4-bit codes). One entry of each array serves every channel when it
//! has length 1. This is the one definition of a code from an int8 value:
//! host and target run it alike.

use crate::dsp;

/// Fraction bits of [`RecodeParams::scale`] and [`RecodeParams::offset`].
pub const RECODE_SHIFT: u32 = 12;

/// Largest scale a plan may hold (scales lie in `0..=MAX_RECODE_SCALE`: a
/// signed halfword, so a Cortex-M4 multiplies two channels' values by their
/// scales with SMLABB / SMLATT; `v * scale` stays within `+-2^22`).
pub const MAX_RECODE_SCALE: i32 = i16::MAX as i32;

/// Largest `|offset|` a plan may hold (with [`MAX_RECODE_SCALE`], the sum
/// stays within `+-2^25`: no overflow).
pub const MAX_RECODE_OFFSET: i32 = 1 << 24;

/// The clean range and code function of one map (arrays of length 1 or the
/// map's channels, checked at plan parse).
#[derive(Clone, Copy, Debug)]
pub struct RecodeParams<'a> {
    pub lo: &'a [i32],
    pub hi: &'a [i32],
    pub scale: &'a [i32],
    pub offset: &'a [i32],
    /// Width of the stored codes (1..=7).
    pub bits: u32,
    /// Largest code (`1..2^bits`).
    pub max_code: i32,
}

/// Largest code of a `bits`-bit map (`bits` in 1..=7): `2^bits - 1`, except
/// that 3-bit maps keep 7 levels (codes 0..=6), so a code minus the map's
/// centre lies in -3..=3 and two pixels fit one 16-bit SMLAD half on a
/// Cortex-M4.
pub const fn max_code(bits: u32) -> i32 {
    if bits == 3 {
        6
    } else {
        (1 << bits) - 1
    }
}

#[inline(always)]
fn pick(v: &[i32], c: usize) -> i32 {
    if v.len() == 1 {
        v[0]
    } else {
        v[c]
    }
}

impl RecodeParams<'_> {
    /// The code of int8 value `v` of channel `c` (meaningful for a clean
    /// value; clamped to `0..=max_code` either way).
    #[inline(always)]
    pub fn code(&self, v: i32, c: usize) -> i32 {
        ((v * pick(self.scale, c) + pick(self.offset, c)) >> RECODE_SHIFT).clamp(0, self.max_code)
    }

    /// True when int8 value `v` of channel `c` lies in the clean range.
    #[inline(always)]
    pub fn is_clean(&self, v: i32, c: usize) -> bool {
        (pick(self.lo, c)..=pick(self.hi, c)).contains(&v)
    }
}

/// Most channel groups of 4 whose bounds [`all_clean`] checks a word at a
/// time (maps of up to 256 channels); wider maps check value by value.
const MAX_GROUPS: usize = 64;

/// Recodes the first `n` values of `data` (int8, `channels` per pixel,
/// channel-fastest) into packed codes of `p.bits` bits in the same buffer,
/// when every value is clean; returns false and leaves `data` untouched
/// when one is not. Not inlined: its loops keep their own registers.
///
/// # Panics
///
/// Panics if `data` is shorter than `n` or `channels` is 0 while `n > 0`.
#[inline(never)]
pub fn recode(p: &RecodeParams, data: &mut [i8], n: usize, channels: usize) -> bool {
    if !all_clean(p, &data[..n], channels) {
        return false;
    }
    if p.scale.len() == 1 {
        // One code function: a table over the 256 int8 values.
        let mut table = [0u8; 256];
        for (v, t) in (-128..128).zip(table.iter_mut()) {
            *t = p.code(v, 0) as u8;
        }
        let code = |v: i8| table[(i32::from(v) + 128) as usize];
        if p.bits == 4 {
            let done = pack4_blocks(&mut data[..n], TABLE_BLOCK, |src, dst| {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                    *d = (code(s[0]) | code(s[1]) << 4) as i8;
                }
            });
            pack4_tail(&mut data[..n], done, code);
        } else {
            pack(p.bits, &mut data[..n], code);
        }
    } else if p.bits == 4 && channels.is_multiple_of(4) && channels / 4 <= MAX_GROUPS {
        if p.max_code == 15 {
            recode_4bit_per_channel::<true>(p, &mut data[..n], channels);
        } else {
            recode_4bit_per_channel::<false>(p, &mut data[..n], channels);
        }
    } else {
        // Values arrive in order: the channel advances and wraps.
        let mut c = 0;
        pack(p.bits, &mut data[..n], |v| {
            let u = p.code(i32::from(v), c) as u8;
            c = if c + 1 == channels { 0 } else { c + 1 };
            u
        });
    }
    true
}

/// Values per block of [`pack4_blocks`] for one-range maps.
const TABLE_BLOCK: usize = 64;

/// Runs `convert(src, dst)` on each whole block of `block` (even) values of
/// `values`, `dst` the `block / 2` bytes its 4-bit codes go to: block `k`'s
/// codes land at `k * block / 2`, before the block itself (a disjoint
/// slice from block 1 on; block 0 is converted from a copy). Returns the
/// number of values converted.
#[inline(always)]
fn pack4_blocks(values: &mut [i8], block: usize, mut convert: impl FnMut(&[i8], &mut [i8])) -> usize {
    let blocks = values.len() / block;
    if blocks == 0 {
        return 0;
    }
    let mut first = [0i8; 4 * MAX_GROUPS];
    first[..block].copy_from_slice(&values[..block]);
    convert(&first[..block], &mut values[..block / 2]);
    for k in 1..blocks {
        let (head, tail) = values.split_at_mut(k * block);
        convert(&tail[..block], &mut head[k * block / 2..][..block / 2]);
    }
    blocks * block
}

/// Packs values `from..` of `values` (`from` even) as 4-bit codes
/// `code(value_i)` at `from / 2..`, two per byte, the last one alone.
fn pack4_tail(values: &mut [i8], from: usize, code: impl Fn(i8) -> u8) {
    let n = values.len();
    for i in (from..n).step_by(2) {
        let hi = if i + 1 < n { code(values[i + 1]) << 4 } else { 0 };
        values[i / 2] = (code(values[i]) | hi) as i8;
    }
}

/// [`recode`]'s conversion for 4-bit codes with one scale per channel, a
/// word of 4 channels' values at a time: bytes 0 and 2 (then 1 and 3) as
/// halfword lanes, each multiplied by its channel's scale and offset
/// (SMLABB / SMLATT), shifted, saturated to 4 bits (USAT) and packed in
/// pairs (`FULL`: the largest code is 15, so the saturation is the clamp);
/// a pixel at a time ([`pack4_blocks`]). `channels` must be a multiple of
/// 4, at most `4 * MAX_GROUPS`.
fn recode_4bit_per_channel<const FULL: bool>(p: &RecodeParams, values: &mut [i8], channels: usize) {
    let groups = channels / 4;
    // Scales of channels (4g, 4g + 2) and (4g + 1, 4g + 3) as halfword pairs.
    let (mut even, mut odd) = ([0u32; MAX_GROUPS], [0u32; MAX_GROUPS]);
    for g in 0..groups {
        even[g] = dsp::pair(p.scale[4 * g], p.scale[4 * g + 2]);
        odd[g] = dsp::pair(p.scale[4 * g + 1], p.scale[4 * g + 3]);
    }
    let max = p.max_code;
    let code = |acc: i32| {
        let u = dsp::usat::<4>(acc >> RECODE_SHIFT);
        (if FULL { u } else { u.min(max) }) as u8
    };
    let (even, odd) = (&even[..groups], &odd[..groups]);
    pack4_blocks(values, channels, |src, dst| {
        let words = src.chunks_exact(4).zip(dst.chunks_exact_mut(2));
        for (((w, d), (&e, &o)), a) in words.zip(even.iter().zip(odd)).zip(p.offset.chunks_exact(4)) {
            let w = dsp::load_u32(w, 0);
            let (lo, hi) = (dsp::sxtb16(w), dsp::sxtb16_ror8(w));
            d[0] = (code(dsp::smlabb(lo, e, a[0])) | code(dsp::smlabb(hi, o, a[1])) << 4) as i8;
            d[1] = (code(dsp::smlatt(lo, e, a[2])) | code(dsp::smlatt(hi, o, a[3])) << 4) as i8;
        }
    });
}

/// True when every value of `values` lies in its channel's clean range:
/// four values per word, each byte biased to unsigned and compared with
/// saturating byte subtractions (UQSUB8) against its channel's bounds.
fn all_clean(p: &RecodeParams, values: &[i8], channels: usize) -> bool {
    let biased = |c: usize, v: &[i32]| (pick(v, c).clamp(-128, 127) + 128) as u32;
    let word = |w: &[i8]| dsp::load_u32(w, 0) ^ 0x8080_8080;
    if p.lo.len() == 1 {
        let (lo, hi) = (biased(0, p.lo) * 0x0101_0101, biased(0, p.hi) * 0x0101_0101);
        let (words, tail) = values.split_at(values.len() / 4 * 4);
        let bad = words
            .chunks_exact(4)
            .fold(0, |bad, w| bad | dsp::uqsub8(lo, word(w)) | dsp::uqsub8(word(w), hi));
        return bad == 0 && tail.iter().all(|&v| p.is_clean(i32::from(v), 0));
    }
    let groups = channels / 4;
    if !channels.is_multiple_of(4) || groups > MAX_GROUPS {
        return values
            .chunks(channels)
            .all(|px| px.iter().enumerate().all(|(c, &v)| p.is_clean(i32::from(v), c)));
    }
    let (mut lo, mut hi) = ([0u32; MAX_GROUPS], [0u32; MAX_GROUPS]);
    for g in 0..groups {
        for k in 0..4 {
            lo[g] |= biased(4 * g + k, p.lo) << (8 * k);
            hi[g] |= biased(4 * g + k, p.hi) << (8 * k);
        }
    }
    let (lo, hi) = (&lo[..groups], &hi[..groups]);
    let mut bad = 0u32;
    for px in values.chunks_exact(channels) {
        for ((w, &l), &h) in px.chunks_exact(4).zip(lo).zip(hi) {
            let u = word(w);
            bad |= dsp::uqsub8(l, u) | dsp::uqsub8(u, h);
        }
    }
    bad == 0
}

/// Replaces `values` by their packed codes `code(value)` (called once per
/// value, in order) through a bit accumulator that stores each byte once it
/// is full, so no byte is written before the values it overlays are read
/// (the 4-bit paths of one-range and of per-channel maps of whole channel
/// groups use [`pack4_blocks`] instead).
#[inline(always)]
fn pack(bits: u32, values: &mut [i8], mut code: impl FnMut(i8) -> u8) {
    let n = values.len();
    let (mut acc, mut filled, mut out) = (0u32, 0u32, 0usize);
    for i in 0..n {
        acc |= u32::from(code(values[i])) << filled;
        filled += bits;
        if filled >= 8 {
            values[out] = acc as u8 as i8;
            out += 1;
            acc >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        values[out] = acc as u8 as i8;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::packed;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    /// The naive oracle: check every value, then each code by the formula in
    /// i64 arithmetic and [`packed::pack`].
    fn oracle(p: &RecodeParams, values: &[i8], channels: usize) -> Option<Vec<u8>> {
        let at = |v: &[i32], c: usize| i64::from(v[if v.len() == 1 { 0 } else { c }]);
        let mut codes = Vec::with_capacity(values.len());
        for (i, &v) in values.iter().enumerate() {
            let (c, v) = (i % channels, i64::from(v));
            if v < at(p.lo, c) || v > at(p.hi, c) {
                return None;
            }
            let u = (v * at(p.scale, c) + at(p.offset, c)).div_euclid(1 << RECODE_SHIFT);
            codes.push(u.clamp(0, i64::from(p.max_code)) as u8);
        }
        let mut out = vec![0u8; packed::packed_len(codes.len(), p.bits)];
        packed::pack(&codes, p.bits, &mut out);
        Some(out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Recoding equals the oracle: the same codes when clean, the values
        /// untouched when not (ranges drawn so both cases occur).
        #[test]
        fn recode_matches_oracle(
            bits in 1u32..8,
            channels in 1usize..13,
            pixels in 0usize..12,
            per_channel in any::<bool>(),
            seed in any::<u64>(),
            narrow in 0i32..40,
        ) {
            let mut s = seed;
            let mut next = move || { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (s >> 33) as i32 };
            let k = if per_channel { channels } else { 1 };
            let lo: Vec<i32> = (0..k).map(|_| -128 + next().rem_euclid(narrow + 1)).collect();
            let hi: Vec<i32> = (0..k).map(|_| 127 - next().rem_euclid(narrow + 1)).collect();
            let scale: Vec<i32> = (0..k).map(|_| next().rem_euclid(MAX_RECODE_SCALE + 1)).collect();
            let offset: Vec<i32> = (0..k).map(|_| next().rem_euclid(2 * MAX_RECODE_OFFSET + 1) - MAX_RECODE_OFFSET).collect();
            let max_code = 1 + next().rem_euclid((1 << bits) - 1);
            let p = RecodeParams { lo: &lo, hi: &hi, scale: &scale, offset: &offset, bits, max_code };
            let n = pixels * channels;
            let values: Vec<i8> = (0..n).map(|_| next() as i8).collect();
            let mut data = values.clone();
            let clean = recode(&p, &mut data, n, channels);
            match oracle(&p, &values, channels) {
                Some(want) => {
                    prop_assert!(clean);
                    let got: Vec<u8> = data.iter().map(|&b| b as u8).collect();
                    let len = want.len();
                    // Whole bytes equal; the last byte's unused bits are free.
                    let used = n * bits as usize % 8;
                    let mask = if used == 0 { 0xff } else { (1u8 << used) - 1 };
                    prop_assert_eq!(&got[..len.saturating_sub(1)], &want[..len.saturating_sub(1)]);
                    if len > 0 {
                        prop_assert_eq!(got[len - 1] & mask, want[len - 1] & mask);
                    }
                }
                None => {
                    prop_assert!(!clean);
                    prop_assert_eq!(data, values);
                }
            }
        }
    }
}

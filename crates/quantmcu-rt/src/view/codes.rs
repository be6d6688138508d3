//! Windows of feature maps of any width from 1 to 8 bits: a map at `b < 8`
//! bits stores unsigned codes `u` in `0..2^b`, packed as [`crate::packed`]
//! describes; a map at 8 bits is plain int8 (each byte an `i8`). Either way a
//! code reads as an `i32` value `v` with `real = scale * (v - zero_point)`.

use crate::geometry::Rect;
use crate::packed;

/// The values a map at `bits` bits holds: int8 at 8 bits, unsigned codes
/// `0..2^bits` below.
pub fn value_range(bits: u32) -> (i32, i32) {
    if bits >= 8 {
        (-128, 127)
    } else {
        (0, (1 << bits) - 1)
    }
}

/// A read-only window of a map at `bits` bits holding `rect` compactly
/// (`[h][w][c]` element order, codes packed when `bits < 8`).
#[derive(Clone, Copy, Debug)]
pub struct Codes<'a> {
    pub data: &'a [i8],
    pub rect: Rect,
    pub bits: u32,
}

impl Codes<'_> {
    /// Value of element `i` (an `i8` at 8 bits, an unsigned code below).
    #[inline]
    pub fn value(&self, i: usize) -> i32 {
        if self.bits >= 8 {
            i32::from(self.data[i])
        } else {
            i32::from(packed::get(bytemuck::cast_slice(self.data), self.bits, i))
        }
    }
}

impl Codes<'_> {
    /// Calls `f(j, value)` for the `n` elements from `start` on, in order:
    /// whole bytes at a time (several codes per byte below 8 bits) instead
    /// of one bit-level lookup per element.
    #[inline(always)]
    pub(crate) fn for_each(&self, start: usize, n: usize, mut f: impl FnMut(usize, i32)) {
        if n == 0 {
            return;
        }
        if self.bits >= 8 {
            for (j, &v) in self.data[start..start + n].iter().enumerate() {
                f(j, i32::from(v));
            }
            return;
        }
        let bytes: &[u8] = bytemuck::cast_slice(self.data);
        let bits = self.bits;
        let bit = start * bits as usize;
        if 8 % bits == 0 && bit.is_multiple_of(8) {
            // Codes never straddle bytes: every byte holds 8 / bits codes.
            let per = (8 / bits) as usize;
            let mask = (1u32 << bits) - 1;
            let src = &bytes[bit / 8..][..(n * bits as usize).div_ceil(8)];
            let mut j = 0;
            for &b in src {
                let mut b = u32::from(b);
                for _ in 0..per.min(n - j) {
                    f(j, (b & mask) as i32);
                    b >>= bits;
                    j += 1;
                }
            }
            return;
        }
        // Any width: a bit buffer refilled a byte at a time.
        let mask = (1u32 << bits) - 1;
        let mut next = bit / 8;
        let mut acc = u32::from(bytes[next]) >> (bit % 8);
        let mut have = 8 - (bit % 8) as u32;
        next += 1;
        for j in 0..n {
            if have < bits {
                acc |= u32::from(bytes[next]) << have;
                next += 1;
                have += 8;
            }
            f(j, (acc & mask) as i32);
            acc >>= bits;
            have -= bits;
        }
    }
}

/// A writable window of a map at `bits` bits.
#[derive(Debug)]
pub struct CodesMut<'a> {
    pub data: &'a mut [i8],
    pub rect: Rect,
    pub bits: u32,
}

impl CodesMut<'_> {
    /// Stores value `v` (already inside the map's code range) as element `i`.
    #[inline(always)]
    pub fn store(&mut self, i: usize, v: i32) {
        match self.bits {
            8.. => self.store_as::<8>(i, v),
            4 => self.store_as::<4>(i, v),
            2 => self.store_as::<2>(i, v),
            1 => self.store_as::<1>(i, v),
            _ => self.store_as::<0>(i, v),
        }
    }

    /// [`CodesMut::store`] for a map of `B` bits known at compile time (`B`
    /// = 0: any width, read from `self.bits`).
    #[inline(always)]
    pub fn store_as<const B: u32>(&mut self, i: usize, v: i32) {
        match B {
            8 => self.data[i] = v as i8,
            1 | 2 | 4 => {
                // Codes never straddle bytes.
                let bit = i * B as usize;
                let shift = bit % 8;
                let mask = ((1u32 << B) - 1) << shift;
                let b = &mut self.data[bit / 8];
                *b = ((*b as u8 as u32 & !mask) | ((v as u32) << shift & mask)) as u8 as i8;
            }
            _ => packed::set(bytemuck::cast_slice_mut(self.data), self.bits, i, v as u8),
        }
    }

    /// Stores `vals` as elements `start..start + vals.len()`: whole bytes at
    /// a time when the run starts and ends on byte boundaries (no
    /// read-modify-write), element by element otherwise.
    #[inline(always)]
    pub fn store_run(&mut self, start: usize, vals: &[i32]) {
        let bits = self.bits as usize;
        if bits >= 8 {
            for (d, &v) in self.data[start..start + vals.len()].iter_mut().zip(vals) {
                *d = v as i8;
            }
        } else if 8 % bits == 0 && (start * bits).is_multiple_of(8) && (vals.len() * bits).is_multiple_of(8) {
            let per = 8 / bits;
            let bytes = &mut self.data[start / per..][..vals.len() / per];
            for (d, v) in bytes.iter_mut().zip(vals.chunks_exact(per)) {
                *d = v.iter().rev().fold(0u32, |b, &v| (b << bits) | v as u32) as u8 as i8;
            }
        } else {
            for (k, &v) in vals.iter().enumerate() {
                self.store(start + k, v);
            }
        }
    }
}

/// True when every value `v + offset` of a map at `bits` bits (int8 at 8,
/// unsigned codes below) fits a signed halfword lane.
pub fn offset_values_fit_lane(offset: i32, bits: u32) -> bool {
    let (lo, hi) = value_range(bits);
    let lane = i32::from(i16::MIN)..=i32::from(i16::MAX);
    lane.contains(&offset.saturating_add(lo)) && lane.contains(&offset.saturating_add(hi))
}

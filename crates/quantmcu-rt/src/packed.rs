//! Packed low-bit activations: a feature map at `b` bits (1..=8) stores one
//! unsigned code `u` in `0..2^b` per element, packed little-end-first — code
//! `i` occupies bits `i*b .. (i+1)*b` of the byte string, least significant
//! bit first (for `b = 4`: element 0 in the low nibble of byte 0). `b = 8` is
//! the plain byte layout. Codes may straddle a byte boundary when `b` does not
//! divide 8.

/// Bytes holding `n` codes of `bits` bits.
pub const fn packed_len(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8)
}

/// Code `i` of a packed string.
///
/// # Panics
///
/// Panics if `bits` is outside `1..=8` or `i` lies beyond `packed`.
#[inline]
pub fn get(packed: &[u8], bits: u32, i: usize) -> u8 {
    assert!((1..=8).contains(&bits), "bits must be 1..=8");
    let bit = i * bits as usize;
    let (byte, shift) = (bit / 8, bit % 8);
    let lo = u16::from(packed[byte]);
    let hi = if shift + bits as usize > 8 {
        u16::from(packed[byte + 1])
    } else {
        0
    };
    (((lo | hi << 8) >> shift) & ((1 << bits) - 1)) as u8
}

/// Sets code `i` (its low `bits` bits are stored; higher bits are ignored).
///
/// # Panics
///
/// As [`get`].
#[inline]
pub fn set(packed: &mut [u8], bits: u32, i: usize, code: u8) {
    assert!((1..=8).contains(&bits), "bits must be 1..=8");
    let bit = i * bits as usize;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = ((1u16 << bits) - 1) << shift;
    let value = (u16::from(code) << shift) & mask;
    packed[byte] = (u16::from(packed[byte]) & !mask | value) as u8;
    if shift + bits as usize > 8 {
        let (mask, value) = ((mask >> 8) as u8, (value >> 8) as u8);
        packed[byte + 1] = packed[byte + 1] & !mask | value;
    }
}

/// Packs `codes` (each below `2^bits`; higher bits are dropped) into `out`,
/// which must hold [`packed_len`] bytes; unused trailing bits are zero.
pub fn pack(codes: &[u8], bits: u32, out: &mut [u8]) {
    let out = &mut out[..packed_len(codes.len(), bits)];
    out.fill(0);
    for (i, &c) in codes.iter().enumerate() {
        set(out, bits, i, c);
    }
}

/// Unpacks `out.len()` codes from `packed`.
pub fn unpack(packed: &[u8], bits: u32, out: &mut [u8]) {
    for (i, c) in out.iter_mut().enumerate() {
        *c = get(packed, bits, i);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn nibbles_are_little_end_first() {
        let mut out = [0u8; 2];
        pack(&[0x1, 0x2, 0x3], 4, &mut out);
        assert_eq!(out, [0x21, 0x03]);
        let mut two = [0u8; 1];
        pack(&[3, 0, 1, 2], 2, &mut two);
        assert_eq!(two, [0b10_01_00_11]);
    }

    proptest! {
        /// Unpacking a packed string gives back the codes, for every width;
        /// the packed length is the minimum and 8 bits is the identity.
        #[test]
        fn round_trip(bits in 1u32..=8, raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let codes: Vec<u8> = raw.iter().map(|&c| (u16::from(c) & ((1 << bits) - 1)) as u8).collect();
            let mut packed = vec![0xAAu8; packed_len(codes.len(), bits) + 2];
            pack(&codes, bits, &mut packed);
            let mut back = vec![0u8; codes.len()];
            unpack(&packed, bits, &mut back);
            prop_assert_eq!(&back, &codes);
            prop_assert_eq!(&packed[packed_len(codes.len(), bits)..], &[0xAA, 0xAA][..], "wrote past the packed length");
            if bits == 8 {
                prop_assert_eq!(&packed[..codes.len()], &codes[..]);
            }
        }

        /// `set` changes exactly one code.
        #[test]
        fn set_touches_one_code(bits in 1u32..=8, n in 1usize..100, i in any::<prop::sample::Index>(), v in any::<u8>(), seed in any::<u64>()) {
            let mut s = seed | 1;
            let codes: Vec<u8> = (0..n).map(|_| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s as u8) & ((1u16 << bits) - 1) as u8 }).collect();
            let mut packed = vec![0u8; packed_len(n, bits)];
            pack(&codes, bits, &mut packed);
            let i = i.index(n);
            set(&mut packed, bits, i, v);
            for (k, &c) in codes.iter().enumerate() {
                let want = if k == i { (u16::from(v) & ((1 << bits) - 1)) as u8 } else { c };
                prop_assert_eq!(get(&packed, bits, k), want);
            }
        }
    }
}

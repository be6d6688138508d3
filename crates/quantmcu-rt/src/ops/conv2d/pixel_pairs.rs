//! Dot products of packed pixel pairs: two pixels' values share one `i32`
//! (`a + b * 2^23`), so one 32x32->64-bit multiply-accumulate (SMLAL on a
//! Cortex-M4) adds two products. The portable 1x1 paths of the int8 and the
//! low-bit convolutions.

/// Output pixels packed per group of [`PIXELS`]: two pixels' channel values
/// share one `i32` (`a + b * 2^23`), so one 32x32->64 multiply-accumulate
/// (SMLAL on Cortex-M4) computes two products.
pub(crate) const PIXELS: usize = 4;

/// Largest filter depth of the packed fast path (`PIXELS / 2` words per
/// input channel on the stack: 2 KiB).
pub(crate) const PACK_CHANNELS: usize = 256;

/// Lane spacing of a packed pixel pair.
pub(crate) const LANE: u32 = 23;

/// Channels whose products one packed accumulator can sum exactly: with
/// `|v * w| <= 2^14` the low lane stays inside `[-2^22, 2^22)`.
const CHUNK: usize = 255;

/// Packs the value `v` (`|v| <= 128`) of the second pixel of a pair onto the
/// first's.
#[inline(always)]
pub(crate) fn pack_pair(a: i32, b: i32) -> i32 {
    a + (b << LANE)
}

/// Splits a packed pair accumulator into the two pixels' exact sums.
#[inline(always)]
fn unpack_pair(t: i64) -> [i32; 2] {
    let lo = ((t as i32) << (32 - LANE)) >> (32 - LANE);
    [lo, ((t - i64::from(lo)) >> LANE) as i32]
}

/// Dot products of the packed pixel pairs `xp` (`[channel][PIXELS / 2]`,
/// values `|v| <= 128`) with the filter row `w`: one sum per pixel (wrapping
/// `i32`).
#[inline(always)]
pub(crate) fn dot_packed(xp: &[i32], w: &[i8]) -> [i32; PIXELS] {
    let n = w.len();
    let xp = &xp[..n * 2];
    let mut out = [0i32; PIXELS];
    let mut c = 0;
    while c < n {
        let m = (n - c).min(CHUNK);
        let (mut ab, mut cd) = (0i64, 0i64);
        for (x, &u) in xp[2 * c..2 * (c + m)].chunks_exact(2).zip(&w[c..c + m]) {
            let u = i64::from(u);
            ab = ab.wrapping_add(i64::from(x[0]) * u);
            cd = cd.wrapping_add(i64::from(x[1]) * u);
        }
        let ([a, b], [e, f]) = (unpack_pair(ab), unpack_pair(cd));
        for (s, v) in out.iter_mut().zip([a, b, e, f]) {
            *s = s.wrapping_add(v);
        }
        c += m;
    }
    out
}

//! How a feature map's values are stored: int8 as the model says, or `b`-bit
//! codes on the map's clean range (`docs/design.md`, "Numerics").

use serde::{Deserialize, Serialize};

/// Largest code of a `bits`-bit map (3-bit maps keep 7 levels; BitOPs
/// still count them at 3 bits): the runtime's rule.
pub use quantmcu_rt::ops::recode::max_code;

/// Width of the codes a `bits`-bit map is stored in: 3-bit maps (7 levels)
/// in 4-bit codes, so they run the 4-bit kernels; every other width as is.
/// BitOPs count the map's own width.
pub fn storage_bits(bits: u32) -> u32 {
    if bits == 3 {
        4
    } else {
        bits
    }
}

/// Storage of a map: `real = scale[c] * (v - zero_point)` for a value `v`
/// of channel `c` (`scale` has one entry for the whole map or one per
/// channel; the zero point is shared, so real 0 is the same code in every
/// channel and the padding of a convolution stays exact).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    /// 8 (int8 values) or fewer (unsigned codes in `0..2^bits`).
    pub bits: u32,
    pub scale: Vec<f64>,
    pub zero_point: i32,
}

impl Format {
    /// An int8 tensor of the model.
    pub fn int8(scale: f32, zero_point: i32) -> Self {
        Format {
            bits: 8,
            scale: vec![f64::from(scale)],
            zero_point,
        }
    }

    /// Scale of channel `c`.
    pub fn scale_of(&self, c: usize) -> f64 {
        self.scale[if self.scale.len() == 1 { 0 } else { c }]
    }

    /// True when the scale differs per channel.
    pub fn per_channel(&self) -> bool {
        self.scale.len() > 1
    }

    /// The `bits`-bit format covering int8 clean ranges `ranges` (one per
    /// channel, or one for the map) of a map quantized as (`scale`,
    /// `zero_point`). Each range is widened to hold the zero point (real 0
    /// stays exact); the zero code comes from the union of the ranges, and
    /// each channel gets the smallest scale that keeps its range inside the
    /// codes (but at least 1/8 of the int8 scale). A channel whose range is
    /// the zero point alone gets the int8 scale.
    pub fn low(bits: u32, scale: f32, zero_point: i32, ranges: &[(i32, i32)]) -> Self {
        let n = f64::from(max_code(bits));
        let s8 = f64::from(scale);
        let lo = ranges.iter().map(|r| r.0).min().unwrap_or(zero_point).min(zero_point);
        let hi = ranges.iter().map(|r| r.1).max().unwrap_or(zero_point).max(zero_point);
        let span = f64::from((hi - lo).max(1));
        let zp = (f64::from(zero_point - lo) * n / span).round().clamp(0.0, n);
        let scale = ranges
            .iter()
            .map(|&(l, h)| {
                let above = f64::from((h - zero_point).max(0));
                let below = f64::from((zero_point - l).max(0));
                let need = [(above, n - zp), (below, zp)]
                    .iter()
                    .filter(|(d, codes)| *d > 0.0 && *codes > 0.0)
                    .map(|(d, codes)| d / codes)
                    .fold(0.0f64, f64::max);
                if need > 0.0 {
                    // No code step below 1/8 of an int8 step (the runtime's
                    // recoding scales stop at 8).
                    s8 * need.max(0.125)
                } else {
                    s8
                }
            })
            .collect();
        Format {
            bits,
            scale,
            zero_point: zp as i32,
        }
    }

    /// The value (code) storing real value `real` of channel `c`, rounded
    /// to nearest and clamped to the code range.
    pub fn code_of(&self, real: f64, c: usize) -> i32 {
        let (lo, hi) = self.code_range();
        ((real / self.scale_of(c)).round() as i64 + i64::from(self.zero_point)).clamp(i64::from(lo), i64::from(hi))
            as i32
    }

    /// The real value of code `v` of channel `c`.
    pub fn real_of(&self, v: i32, c: usize) -> f64 {
        self.scale_of(c) * f64::from(v - self.zero_point)
    }

    /// Smallest and largest value the format stores.
    pub fn code_range(&self) -> (i32, i32) {
        if self.bits >= 8 {
            (-128, 127)
        } else {
            (0, max_code(self.bits))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3-bit maps use codes 0..=6 whatever their range; every other low
    /// width uses all `2^bits` codes.
    #[test]
    fn three_bit_maps_keep_seven_levels() {
        for bits in 1..8 {
            let f = Format::low(bits, 0.05, -20, &[(-128, 127)]);
            let want = if bits == 3 { 6 } else { (1 << bits) - 1 };
            assert_eq!(f.code_range(), (0, want), "{bits} bits");
            assert!(
                (0..=want).contains(&f.zero_point),
                "{bits} bits: zero code {}",
                f.zero_point
            );
            // Values beyond the range clamp to the top code, not above it.
            assert_eq!(f.code_of(f.real_of(want, 0) * 10.0 + 1.0, 0), want, "{bits} bits");
        }
    }
}

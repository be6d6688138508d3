//! FULLY_CONNECTED, int8, bit-exact with tflite-micro's reference integer
//! `FullyConnected` (per-tensor or per-channel filter):
//! `y[r][u] = requant(bias[u] + sum_d (x[r][d] + input_offset) * w[u][d])`,
//! accumulated in wrapping 32-bit arithmetic and regrouped as
//! `bias + input_offset * sum(w) + dot(x, w)`; four units share each loaded
//! activation. Requantization is [`OutputStage::apply`] (TFLite double
//! rounding).

use crate::view::OutputStage;

/// Constants of one fully connected layer.
#[derive(Clone, Copy, Debug)]
pub struct FullyConnectedParams<'a> {
    /// Minus the input zero point.
    pub input_offset: i32,
    /// `[units][depth]`.
    pub filter: &'a [i8],
    /// `[units]`.
    pub bias: &'a [i32],
    /// Requantization to the int8 output (per unit or per tensor).
    pub output: OutputStage<'a>,
}

/// `x` holds `rows x depth` values, `y` `rows x units`, with
/// `units = bias.len()` and `depth = filter.len() / units`.
pub fn fully_connected(p: &FullyConnectedParams, x: &[i8], y: &mut [i8]) {
    let units = p.bias.len();
    if units == 0 {
        return;
    }
    let depth = p.filter.len() / units;
    if depth == 0 {
        // No inputs: every output is its requantized bias.
        for row in y.chunks_exact_mut(units) {
            for (u, v) in row.iter_mut().enumerate() {
                *v = p.output.apply(p.bias[u], u);
            }
        }
        return;
    }
    for (xs, out) in x.chunks_exact(depth).zip(y.chunks_exact_mut(units)) {
        let mut u = 0;
        while u < units {
            let n = (units - u).min(4);
            let (acc, wsum) = if n == 4 {
                let w = &p.filter[u * depth..(u + 4) * depth];
                dot4(
                    xs,
                    [
                        &w[..depth],
                        &w[depth..2 * depth],
                        &w[2 * depth..3 * depth],
                        &w[3 * depth..],
                    ],
                )
            } else {
                let mut acc = ([0i32; 4], [0i32; 4]);
                for j in 0..n {
                    let w = &p.filter[(u + j) * depth..(u + j + 1) * depth];
                    for (&a, &b) in xs.iter().zip(w) {
                        acc.0[j] = acc.0[j].wrapping_add(i32::from(a) * i32::from(b));
                        acc.1[j] = acc.1[j].wrapping_add(i32::from(b));
                    }
                }
                acc
            };
            for j in 0..n {
                let total = p.bias[u + j]
                    .wrapping_add(p.input_offset.wrapping_mul(wsum[j]))
                    .wrapping_add(acc[j]);
                out[u + j] = p.output.apply(total, u + j);
            }
            u += n;
        }
    }
}

/// Dot products of `x` with four rows and the sums of those rows.
#[inline(always)]
fn dot4(x: &[i8], w: [&[i8]; 4]) -> ([i32; 4], [i32; 4]) {
    let n = x.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let (mut acc, mut sum) = ([0i32; 4], [0i32; 4]);
    for i in 0..n {
        let v = i32::from(x[i]);
        let ws = [i32::from(w0[i]), i32::from(w1[i]), i32::from(w2[i]), i32::from(w3[i])];
        for j in 0..4 {
            acc[j] = acc[j].wrapping_add(v * ws[j]);
            sum[j] = sum[j].wrapping_add(ws[j]);
        }
    }
    (acc, sum)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::ops::testutil::{bytes, clamp, multipliers, requant, scales};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn fully_connected_matches_naive(
            (rows, units, depth, x, w, bias, sc) in (1usize..=3, 1usize..=11, 1usize..=40, any::<bool>())
                .prop_flat_map(|(rows, units, depth, per_tensor)| (
                    Just(rows), Just(units), Just(depth),
                    bytes(rows * depth), bytes(units * depth),
                    prop::collection::vec(-30000i32..30000, units),
                    scales(if per_tensor { 1 } else { units }),
                )),
            input_offset in -127i32..=128,
            output_offset in -128i32..=127,
            range in clamp(),
        ) {
            let (mult, shift) = multipliers(&sc);
            let p = FullyConnectedParams {
                input_offset,
                filter: &w,
                bias: &bias,
                output: OutputStage { multiplier: &mult, shift: &shift, offset: output_offset, min: range.0, max: range.1 },
            };
            let mut y = std::vec![0i8; rows * units];
            fully_connected(&p, &x, &mut y);
            let mut want = Vec::new();
            for r in 0..rows {
                for u in 0..units {
                    let mut acc = i64::from(bias[u]);
                    for d in 0..depth {
                        acc += (i64::from(x[r * depth + d]) + i64::from(input_offset)) * i64::from(w[u * depth + d]);
                    }
                    let k = if mult.len() == 1 { 0 } else { u };
                    want.push(requant(acc, mult[k], shift[k], output_offset, range.0, range.1));
                }
            }
            prop_assert_eq!(y, want);
        }
    }
}

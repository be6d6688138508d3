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

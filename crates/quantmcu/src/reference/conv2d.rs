//! CONV_2D, int8 activations, int8 per-channel weights, int32 bias
//! (tflite-micro `ConvPerChannel`): padding taps contribute nothing, i.e. the
//! border is padded with the input zero point.

use super::requant::{activation_range, const_i32_or_zeros, const_i8, scale_zp, Requant};
use crate::ir::{Graph, OpKind, Window};

/// A prepared CONV_2D.
#[derive(Clone)]
pub struct Conv2d {
    pub(crate) input: [usize; 4],
    pub(crate) output: [usize; 4],
    /// [out channels, kh, kw, in channels per group]
    pub(crate) filter_shape: [usize; 4],
    pub(crate) window: Window,
    pub(crate) pad: [usize; 2],
    pub(crate) input_offset: i32,
    pub(crate) output_offset: i32,
    pub(crate) filter: Vec<i8>,
    pub(crate) bias: Vec<i32>,
    pub(crate) requant: Requant,
    pub(crate) range: (i32, i32),
}

pub(super) fn shape4(s: &[usize]) -> [usize; 4] {
    [s[0], s[1], s[2], s[3]]
}

impl Conv2d {
    pub fn prepare(graph: &Graph, index: usize) -> Result<Self, String> {
        let op = &graph.ops[index];
        let OpKind::Conv2d { window, activation } = op.kind else {
            unreachable!("conv2d kernel for {:?}", op.kind)
        };
        let (x, f, out) = (op.inputs[0].expect("input"), op.inputs[1].expect("filter"), op.output());
        let input = shape4(&graph.tensors[x].shape);
        let output = shape4(&graph.tensors[out].shape);
        let filter_shape = shape4(&graph.tensors[f].shape);
        let (in_scale, in_zp) = scale_zp(graph, x);
        let (out_scale, out_zp) = scale_zp(graph, out);
        let fq = graph.tensors[f].quant.as_ref().expect("checked");
        let oq = graph.tensors[out].quant.as_ref().expect("checked");
        Ok(Conv2d {
            input,
            output,
            filter_shape,
            window,
            pad: [
                window.pad_before(input[1], output[1], 0),
                window.pad_before(input[2], output[2], 1),
            ],
            input_offset: -in_zp,
            output_offset: out_zp,
            filter: const_i8(graph, f),
            bias: const_i32_or_zeros(graph, op.input(2), output[3]),
            requant: Requant::per_channel(in_scale, fq, out_scale, output[3])?,
            range: activation_range(activation, oq),
        })
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        with_best_isa!(self.eval_impl(x, y))
    }

    #[inline(always)]
    fn eval_impl(&self, x: &[i8], y: &mut [i8]) {
        let [n, ih, iw, ic] = self.input;
        let [_, oh, ow, oc] = self.output;
        let [_, kh, kw, fc] = self.filter_shape;
        let taps = kh * kw;
        let k = taps * fc;
        let groups = ic / fc;
        let oc_per_group = oc / groups;
        // sum((x + off) * w) = sum(x * w) + off * sum(w) over the taps inside the
        // input. The patch of a group holds its channels at every tap (zeros at
        // taps outside the input), so each output channel is one dot product
        // with its contiguous [kh, kw, fc] filter row.
        let tap_sums: Vec<i32> = self
            .filter
            .chunks_exact(fc)
            .map(|w| w.iter().map(|&v| i32::from(v)).sum())
            .collect();
        let mut patch = vec![0i8; k];
        let mut valid: Vec<(usize, usize)> = Vec::with_capacity(taps);
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let y0 = (oy * self.window.stride[0]) as isize - self.pad[0] as isize;
                    let x0 = (ox * self.window.stride[1]) as isize - self.pad[1] as isize;
                    valid.clear();
                    for ky in 0..kh {
                        let iy = y0 + (ky * self.window.dilation[0]) as isize;
                        for kx in 0..kw {
                            let ix = x0 + (kx * self.window.dilation[1]) as isize;
                            if (0..ih as isize).contains(&iy) && (0..iw as isize).contains(&ix) {
                                valid.push((ky * kw + kx, ((b * ih + iy as usize) * iw + ix as usize) * ic));
                            }
                        }
                    }
                    let out = &mut y[((b * oh + oy) * ow + ox) * oc..][..oc];
                    for g in 0..groups {
                        let patch: &[i8] = if taps == 1 && valid.len() == 1 {
                            &x[valid[0].1 + g * fc..][..fc]
                        } else {
                            patch.fill(0);
                            for &(t, base) in &valid {
                                patch[t * fc..(t + 1) * fc].copy_from_slice(&x[base + g * fc..][..fc]);
                            }
                            &patch
                        };
                        for o in g * oc_per_group..(g + 1) * oc_per_group {
                            let wsum = valid
                                .iter()
                                .fold(0i32, |s, &(t, _)| s.wrapping_add(tap_sums[o * taps + t]));
                            let acc = self.bias[o]
                                .wrapping_add(self.input_offset.wrapping_mul(wsum))
                                .wrapping_add(dot(patch, &self.filter[o * k..(o + 1) * k]));
                            let r = self.requant.apply(acc, o).saturating_add(self.output_offset);
                            out[o] = r.clamp(self.range.0, self.range.1) as i8;
                        }
                    }
                }
            }
        }
    }
}

/// `sum(x * w)` in int32, wrapping on overflow like the C kernels do in
/// practice (only hostile models get there).
#[inline]
pub(super) fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .fold(0i32, |acc, (&a, &b)| acc.wrapping_add(i32::from(a) * i32::from(b)))
}

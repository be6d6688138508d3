//! CONV_2D, int8 activations, int8 per-channel weights, int32 bias
//! (tflite-micro `ConvPerChannel`): padding taps contribute nothing, i.e. the
//! border is padded with the input zero point.

use super::requant::{activation_range, const_i32_or_zeros, const_i8, scale_zp, Requant};
use crate::ir::{Graph, OpKind, Window};

/// A prepared CONV_2D.
pub struct Conv2d {
    input: [usize; 4],
    output: [usize; 4],
    /// [out channels, kh, kw, in channels per group]
    filter_shape: [usize; 4],
    window: Window,
    pad: [usize; 2],
    input_offset: i32,
    output_offset: i32,
    filter: Vec<i8>,
    bias: Vec<i32>,
    requant: Requant,
    range: (i32, i32),
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
        let [n, ih, iw, ic] = self.input;
        let [_, oh, ow, oc] = self.output;
        let [_, kh, kw, fc] = self.filter_shape;
        let groups = ic / fc;
        let oc_per_group = oc / groups;
        let mut acc = vec![0i32; oc];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    acc.copy_from_slice(&self.bias);
                    let y0 = (oy * self.window.stride[0]) as isize - self.pad[0] as isize;
                    let x0 = (ox * self.window.stride[1]) as isize - self.pad[1] as isize;
                    for ky in 0..kh {
                        let iy = y0 + (ky * self.window.dilation[0]) as isize;
                        if iy < 0 || iy >= ih as isize {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = x0 + (kx * self.window.dilation[1]) as isize;
                            if ix < 0 || ix >= iw as isize {
                                continue;
                            }
                            let base = ((b * ih + iy as usize) * iw + ix as usize) * ic;
                            let pixel = &x[base..base + ic];
                            for (o, a) in acc.iter_mut().enumerate() {
                                let g = o / oc_per_group;
                                let xs = &pixel[g * fc..(g + 1) * fc];
                                let fo = ((o * kh + ky) * kw + kx) * fc;
                                *a += dot_offset(xs, &self.filter[fo..fo + fc], self.input_offset);
                            }
                        }
                    }
                    let out = &mut y[((b * oh + oy) * ow + ox) * oc..][..oc];
                    for (o, (a, v)) in acc.iter().zip(out.iter_mut()).enumerate() {
                        let r = self.requant.apply(*a, o) + self.output_offset;
                        *v = r.clamp(self.range.0, self.range.1) as i8;
                    }
                }
            }
        }
    }
}

/// `sum((x + offset) * w)` in int32.
#[inline]
pub(super) fn dot_offset(x: &[i8], w: &[i8], offset: i32) -> i32 {
    x.iter()
        .zip(w)
        .map(|(&a, &b)| (i32::from(a) + offset) * i32::from(b))
        .sum()
}

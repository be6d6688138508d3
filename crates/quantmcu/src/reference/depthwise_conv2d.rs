//! DEPTHWISE_CONV_2D, int8 (tflite-micro `DepthwiseConvPerChannel`): output
//! channel `c * m + j` filters input channel `c`; padding taps contribute nothing.

use super::conv2d::shape4;
use super::requant::{activation_range, const_i32_or_zeros, const_i8, scale_zp, Requant};
use crate::ir::{Graph, OpKind, Window};

/// A prepared DEPTHWISE_CONV_2D.
#[derive(Clone)]
pub struct DepthwiseConv2d {
    pub(crate) input: [usize; 4],
    pub(crate) output: [usize; 4],
    pub(crate) window: Window,
    pub(crate) multiplier: usize,
    pub(crate) pad: [usize; 2],
    pub(crate) input_offset: i32,
    pub(crate) output_offset: i32,
    /// [kh, kw, out channels]
    pub(crate) filter: Vec<i8>,
    pub(crate) bias: Vec<i32>,
    pub(crate) requant: Requant,
    pub(crate) range: (i32, i32),
}

impl DepthwiseConv2d {
    pub fn prepare(graph: &Graph, index: usize) -> Result<Self, String> {
        let op = &graph.ops[index];
        let OpKind::DepthwiseConv2d {
            window,
            depth_multiplier,
            activation,
        } = op.kind
        else {
            unreachable!("depthwise kernel for {:?}", op.kind)
        };
        let (x, f, out) = (op.inputs[0].expect("input"), op.inputs[1].expect("filter"), op.output());
        let input = shape4(&graph.tensors[x].shape);
        let output = shape4(&graph.tensors[out].shape);
        let (in_scale, in_zp) = scale_zp(graph, x);
        let (out_scale, out_zp) = scale_zp(graph, out);
        let fq = graph.tensors[f].quant.as_ref().expect("checked");
        let oq = graph.tensors[out].quant.as_ref().expect("checked");
        Ok(DepthwiseConv2d {
            input,
            output,
            window,
            multiplier: depth_multiplier,
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
        let [kh, kw] = self.window.kernel;
        let m = self.multiplier;
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
                            let pixel = &x[((b * ih + iy as usize) * iw + ix as usize) * ic..][..ic];
                            let taps = &self.filter[(ky * kw + kx) * oc..][..oc];
                            if m == 1 {
                                for ((a, &v), &w) in acc.iter_mut().zip(pixel).zip(taps) {
                                    *a = a.wrapping_add((i32::from(v) + self.input_offset) * i32::from(w));
                                }
                            } else {
                                for (o, (a, &w)) in acc.iter_mut().zip(taps).enumerate() {
                                    *a = a.wrapping_add((i32::from(pixel[o / m]) + self.input_offset) * i32::from(w));
                                }
                            }
                        }
                    }
                    let out = &mut y[((b * oh + oy) * ow + ox) * oc..][..oc];
                    for (o, (a, v)) in acc.iter().zip(out.iter_mut()).enumerate() {
                        let r = self.requant.apply(*a, o).saturating_add(self.output_offset);
                        *v = r.clamp(self.range.0, self.range.1) as i8;
                    }
                }
            }
        }
    }
}

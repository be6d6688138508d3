//! AVERAGE_POOL_2D and MAX_POOL_2D, int8 (tflite-micro integer pooling): the
//! window is clipped to the input (padding is never averaged in); the average
//! divides by the number of valid taps, rounding half away from zero.

use super::conv2d::shape4;
use super::requant::activation_range;
use crate::ir::{Graph, OpKind, Window};

/// A prepared 2-D pool.
#[derive(Clone)]
pub struct Pool2d {
    pub(crate) average: bool,
    pub(crate) input: [usize; 4],
    pub(crate) output: [usize; 4],
    pub(crate) window: Window,
    pub(crate) pad: [usize; 2],
    pub(crate) range: (i32, i32),
}

impl Pool2d {
    pub fn prepare(graph: &Graph, index: usize) -> Self {
        let op = &graph.ops[index];
        let (average, window, activation) = match op.kind {
            OpKind::AveragePool2d { window, activation } => (true, window, activation),
            OpKind::MaxPool2d { window, activation } => (false, window, activation),
            _ => unreachable!("pool kernel for {:?}", op.kind),
        };
        let (x, out) = (op.inputs[0].expect("input"), op.output());
        let input = shape4(&graph.tensors[x].shape);
        let output = shape4(&graph.tensors[out].shape);
        Pool2d {
            average,
            input,
            output,
            window,
            pad: [
                window.pad_before(input[1], output[1], 0),
                window.pad_before(input[2], output[2], 1),
            ],
            range: activation_range(activation, graph.tensors[out].quant.as_ref().expect("checked")),
        }
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        let [n, ih, iw, c] = self.input;
        let [_, oh, ow, _] = self.output;
        let [kh, kw] = self.window.kernel;
        for b in 0..n {
            for oy in 0..oh {
                let y0 = (oy * self.window.stride[0]) as isize - self.pad[0] as isize;
                let ys = (y0.max(0) as usize)..((y0 + kh as isize).min(ih as isize).max(0) as usize);
                for ox in 0..ow {
                    let x0 = (ox * self.window.stride[1]) as isize - self.pad[1] as isize;
                    let xs = (x0.max(0) as usize)..((x0 + kw as isize).min(iw as isize).max(0) as usize);
                    let count = (ys.len() * xs.len()) as i32;
                    for ch in 0..c {
                        let taps = ys
                            .clone()
                            .flat_map(|iy| xs.clone().map(move |ix| ((b * ih + iy) * iw + ix) * c + ch));
                        let r = if self.average {
                            let sum = taps.fold(0i32, |s, i| s.wrapping_add(i32::from(x[i])));
                            if count == 0 {
                                0
                            } else if sum > 0 {
                                sum.wrapping_add(count / 2) / count
                            } else {
                                sum.wrapping_sub(count / 2) / count
                            }
                        } else {
                            taps.map(|i| i32::from(x[i])).max().unwrap_or(-128)
                        };
                        y[((b * oh + oy) * ow + ox) * c + ch] = r.clamp(self.range.0, self.range.1) as i8;
                    }
                }
            }
        }
    }
}

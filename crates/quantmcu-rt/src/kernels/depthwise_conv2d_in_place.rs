//! DEPTHWISE_CONV_2D (depth multiplier 1) computed in place over whole maps:
//! the buffer holds the input map on entry and the output map on return, so a
//! schedule needs only a small temporary instead of a second map.
//!
//! Channels run one at a time: channel `c` of the input is copied to the
//! temporary (its own plane), output channel `c` is computed from that plane by
//! [`depthwise_conv2d`] and scattered back with stride `C`. Writing output
//! channel `c` only overwrites elements of channel `c` (the output map has the
//! same channel count and is no larger), whose input is already copied, so
//! every other channel's input is intact when its turn comes.

use super::depthwise_conv2d::{depthwise_conv2d, DepthwiseConv2dParams};
use super::{OutputStage, Window, WindowMut};
use crate::geometry::{Geometry, Rect};

/// Bytes of temporary the in-place kernel needs: one input plane, one output
/// plane and one channel's filter taps.
pub fn in_place_temp_len(g: &Geometry) -> usize {
    g.input[0] * g.input[1] + g.output[0] * g.output[1] + g.kernel[0] * g.kernel[1]
}

/// True when `p` can run in place (multiplier 1, output no larger than input).
pub fn can_run_in_place(g: &Geometry) -> bool {
    g.input[2] == g.output[2] && g.output[0] <= g.input[0] && g.output[1] <= g.input[1]
}

/// Runs `p` in place: `buf` holds the `H x W x C` input map and receives the
/// `Ho x Wo x C` output map at its start; `temp` has at least
/// [`in_place_temp_len`] bytes. Results equal [`depthwise_conv2d`] on separate
/// buffers.
///
/// # Panics
///
/// Panics if `p` cannot run in place or a buffer is too short (callers check
/// the plan once).
pub fn depthwise_conv2d_in_place(p: &DepthwiseConv2dParams, buf: &mut [i8], temp: &mut [i8]) {
    let g = &p.geometry;
    assert!(
        can_run_in_place(g),
        "depthwise in place needs multiplier 1 and no upsampling"
    );
    let [h, w, c] = g.input;
    let [oh, ow, _] = g.output;
    let taps = g.kernel[0] * g.kernel[1];
    let (plane_in, rest) = temp.split_at_mut(h * w);
    let (plane_out, rest) = rest.split_at_mut(oh * ow);
    let filter = &mut rest[..taps];
    let plane = Geometry {
        input: [h, w, 1],
        output: [oh, ow, 1],
        ..*g
    };
    for ch in 0..c {
        for (k, v) in plane_in.iter_mut().enumerate() {
            *v = buf[k * c + ch];
        }
        for (t, v) in filter.iter_mut().enumerate() {
            *v = p.filter[t * c + ch];
        }
        let pick = |s: &[i32]| if s.len() == 1 { 0..1 } else { ch..ch + 1 };
        let one = DepthwiseConv2dParams {
            geometry: plane,
            input_offset: p.input_offset,
            filter,
            bias: &p.bias[ch..ch + 1],
            output: OutputStage {
                multiplier: &p.output.multiplier[pick(p.output.multiplier)],
                shift: &p.output.shift[pick(p.output.shift)],
                ..p.output
            },
        };
        depthwise_conv2d(
            &one,
            Window {
                data: plane_in,
                rect: Rect::full(h, w),
            },
            WindowMut {
                data: plane_out,
                rect: Rect::full(oh, ow),
            },
        );
        for (k, &v) in plane_out.iter().enumerate() {
            buf[k * c + ch] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fixedpoint::quantize_multiplier;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    proptest! {
        /// In place equals the out-of-place kernel, for strides 1/2, kernels
        /// 1/3/5, SAME-style padding and per-channel or per-tensor requant.
        #[test]
        fn equals_out_of_place(
            h in 1usize..9, w in 1usize..9, c in 1usize..7, k in prop::sample::select(vec![1usize, 3, 5]),
            stride in 1usize..3, per_channel in any::<bool>(), seed in any::<u64>(),
        ) {
            let mut s = seed | 1;
            let mut rnd = move || { s ^= s << 13; s ^= s >> 7; s ^= s << 17; s };
            let (oh, ow) = (h.div_ceil(stride), w.div_ceil(stride));
            let pad = |n: usize, o: usize| ((o - 1) * stride + k).saturating_sub(n) / 2;
            let g = Geometry { input: [h, w, c], output: [oh, ow, c], kernel: [k, k], stride: [stride; 2],
                dilation: [1, 1], pad: [pad(h, oh), pad(w, ow)] };
            let filter: Vec<i8> = (0..k * k * c).map(|_| rnd() as i8).collect();
            let bias: Vec<i32> = (0..c).map(|_| (rnd() % 4001) as i32 - 2000).collect();
            let n = if per_channel { c } else { 1 };
            let (mult, shift): (Vec<i32>, Vec<i32>) =
                (0..n).map(|_| quantize_multiplier(0.0005 + (rnd() % 1000) as f64 * 1e-5)).unzip();
            let p = DepthwiseConv2dParams { geometry: g, input_offset: (rnd() % 41) as i32 - 20, filter: &filter,
                bias: &bias, output: OutputStage { multiplier: &mult, shift: &shift, offset: -3, min: -128, max: 127 } };
            let x: Vec<i8> = (0..h * w * c).map(|_| rnd() as i8).collect();
            let mut want = vec![0i8; oh * ow * c];
            depthwise_conv2d(&p, Window { data: &x, rect: Rect::full(h, w) },
                WindowMut { data: &mut want, rect: Rect::full(oh, ow) });
            let mut buf = x.clone();
            let mut temp = vec![0i8; in_place_temp_len(&g)];
            depthwise_conv2d_in_place(&p, &mut buf, &mut temp);
            prop_assert_eq!(&buf[..want.len()], &want[..]);
        }
    }
}

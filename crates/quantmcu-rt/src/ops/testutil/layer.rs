//! The data of a random layer with weights (convolution, depthwise
//! convolution, fully connected) between maps of any widths: its input
//! codes, weights, biases, requantization and outlier bound seeds.

extern crate std;

use core::ops::Range;
use std::vec::Vec;

use proptest::prelude::*;

use super::bytes;
use super::codes::{bounds, codes, requant_to, zero_point, Bounds, Requant};

/// One random layer's input and constants; the op's case gives them a shape.
#[derive(Debug)]
pub struct Layer {
    pub in_bits: u32,
    pub input_zp: i32,
    /// Input codes, in the op's layout.
    pub x: Vec<u8>,
    pub filter: Vec<i8>,
    pub bias: Vec<i32>,
    pub out: Requant,
    pub bounds: Bounds,
}

/// A random layer of `inputs` input codes, `weights` int8 weights and
/// `channels` output channels (biases drawn from `bias`), at the (input,
/// output) widths `(in_bits, out_bits)`.
pub fn layer(
    inputs: usize,
    weights: usize,
    channels: usize,
    bias: Range<i32>,
    (in_bits, out_bits): (u32, u32),
) -> impl Strategy<Value = Layer> {
    (
        zero_point(in_bits),
        codes(inputs, in_bits),
        bytes(weights),
        prop::collection::vec(bias, channels),
        requant_to(out_bits, channels),
        bounds(channels),
    )
        .prop_map(move |(input_zp, x, filter, bias, out, bounds)| Layer {
            in_bits,
            input_zp,
            x,
            filter,
            bias,
            out,
            bounds,
        })
}

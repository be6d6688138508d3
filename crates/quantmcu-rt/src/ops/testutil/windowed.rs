//! The harness shared by the windowed kernels with weights (convolution,
//! depthwise convolution): a random case over a sliding-window geometry,
//! its forms run on the whole map and tile by tile, and the checks of every
//! int8 and low-bit form against the op's naive oracle.

extern crate std;

use core::fmt::Debug;
use std::vec::Vec;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::codes::{any_outlier, pack, tiled_map as tiled_codes, whole_map as whole_map_codes};
use super::layer::{layer, Layer};
use super::{grid, tiled_map, whole_map};
use crate::geometry::Geometry;
use crate::view::{Clean, Codes, CodesMut, Outlier, Window, WindowMut};

/// One random windowed layer: its geometry, its input and constants (input
/// codes `[h][w][c]`), a tile grid and what only the op `E` draws.
#[derive(Debug)]
pub struct Windowed<E> {
    pub g: Geometry,
    pub layer: Layer,
    pub grid: (Vec<u16>, Vec<u16>),
    pub op: E,
}

/// Random layers of geometry `g` with `weights` int8 weights, biases in
/// `-20000..20000`, widths `widths` and the op's own draw `op`.
pub fn windowed<E: Debug>(
    g: Geometry,
    weights: usize,
    widths: (u32, u32),
    op: impl Strategy<Value = E>,
) -> impl Strategy<Value = Windowed<E>> {
    let [h, w, c] = g.input;
    (
        layer(h * w * c, weights, g.output[2], -20000..20000, widths),
        grid(),
        op,
    )
        .prop_map(move |(layer, grid, op)| Windowed { g, layer, grid, op })
}

/// What a windowed op's tests say about it: its forms and its oracle.
pub trait Op: Debug + Sized {
    /// An int8 form (8 bits in and out).
    type Int8: Copy + 'static;
    /// A low-bit form (any widths, optional outlier check).
    type Lowbit: Copy + 'static;
    /// The dispatching, portable and DSP int8 forms.
    const INT8: [Self::Int8; 3];
    /// The dispatching, portable and DSP low-bit forms.
    const LOWBIT: [Self::Lowbit; 3];
    /// The host SIMD int8 forms (each falls back to the portable form on a
    /// CPU without its instructions).
    const INT8_SIMD: &'static [Self::Int8] = &[];
    /// The host SIMD low-bit forms (likewise).
    const LOWBIT_SIMD: &'static [Self::Lowbit] = &[];

    /// Whether the DSP forms take the case at input width `in_bits`.
    fn dsp(c: &Windowed<Self>, in_bits: u32) -> bool;

    /// The naive oracle: the exact accumulators and output codes of the
    /// whole map, full-map loops over every tap in i64.
    fn naive(c: &Windowed<Self>) -> (Vec<i64>, Vec<u8>);

    /// An int8 form bound to the case's params (and any scratch it keeps
    /// across the windows it runs on).
    fn int8_run(c: &Windowed<Self>, kernel: Self::Int8) -> impl FnMut(Window, WindowMut);

    /// A low-bit form on the case's params.
    fn lowbit_run(
        c: &Windowed<Self>,
        kernel: Self::Lowbit,
        x: Codes,
        y: CodesMut,
        clean: Option<Clean>,
    ) -> Result<(), Outlier>;
}

/// The dispatching, portable and (where `dsp`) DSP form of `all`, named.
fn forms<K>(all: [K; 3], dsp: bool) -> impl Iterator<Item = (&'static str, K)> {
    ["dispatching", "portable", "dsp"]
        .into_iter()
        .zip(all)
        .take(if dsp { 3 } else { 2 })
}

impl<E: Op> Windowed<E> {
    /// The oracle's output map, packed at the output width.
    pub fn want(&self) -> Vec<i8> {
        pack(&E::naive(self).1, self.layer.out.bits)
    }

    /// An int8 form on the whole output map.
    pub fn int8(&self, kernel: E::Int8) -> Vec<i8> {
        whole_map(&self.g, &pack(&self.layer.x, 8), E::int8_run(self, kernel))
    }

    /// The dispatching int8 kernel tile by tile over the case's grid.
    pub fn int8_tiled(&self) -> Vec<i8> {
        let x = pack(&self.layer.x, 8);
        tiled_map(&self.g, &self.grid, &x, E::int8_run(self, E::INT8[0]))
    }

    /// A low-bit form on the whole output map (a zeroed packed buffer).
    pub fn lowbit(&self, kernel: E::Lowbit, clean: Option<Clean>) -> Result<Vec<i8>, Outlier> {
        let (in_bits, out_bits) = (self.layer.in_bits, self.layer.out.bits);
        let x = pack(&self.layer.x, in_bits);
        whole_map_codes(&self.g, out_bits, &x, in_bits, |x, y| {
            E::lowbit_run(self, kernel, x, y, clean)
        })
    }

    /// The dispatching low-bit kernel tile by tile over the case's grid.
    pub fn lowbit_tiled(&self) -> Vec<i8> {
        let (in_bits, out_bits) = (self.layer.in_bits, self.layer.out.bits);
        let x = pack(&self.layer.x, in_bits);
        tiled_codes(&self.g, out_bits, &self.grid, &x, in_bits, |x, y| {
            E::lowbit_run(self, E::LOWBIT[0], x, y, None)
        })
        .unwrap()
    }
}

/// Every int8 form writes the oracle's bytes (the dispatching kernel also
/// tile by tile), and so does every low-bit form at 8 bits.
pub fn int8_forms_match_naive<E: Op>(c: Windowed<E>) -> Result<(), TestCaseError> {
    let want = c.want();
    for (name, kernel) in forms(E::INT8, E::dsp(&c, 8)) {
        prop_assert_eq!(&c.int8(kernel), &want, "{}", name);
    }
    for &kernel in E::INT8_SIMD {
        prop_assert_eq!(&c.int8(kernel), &want, "simd");
    }
    prop_assert_eq!(&c.int8_tiled(), &want, "tiled");
    lowbit_forms_match_naive(c)
}

/// Every low-bit form writes the oracle's codes (the dispatching kernel also
/// tile by tile) and, with random bounds, fails iff an oracle accumulator is
/// outside them.
pub fn lowbit_forms_match_naive<E: Op>(c: Windowed<E>) -> Result<(), TestCaseError> {
    let (accs, codes) = E::naive(&c);
    let want = pack(&codes, c.layer.out.bits);
    prop_assert_eq!(&c.lowbit_tiled(), &want, "tiled");
    let oc = c.g.output[2];
    let (lo, hi) = c.layer.bounds.place(&accs, oc);
    let outlier = any_outlier(&lo, &hi, &accs, oc);
    let simd = E::LOWBIT_SIMD.iter().map(|&k| ("simd", k));
    for (name, kernel) in forms(E::LOWBIT, E::dsp(&c, c.layer.in_bits)).chain(simd) {
        prop_assert_eq!(c.lowbit(kernel, None), Ok(want.clone()), "{}", name);
        let got = c.lowbit(kernel, Some(Clean { lo: &lo, hi: &hi }));
        if outlier {
            prop_assert_eq!(got, Err(Outlier), "{}", name);
        } else {
            prop_assert_eq!(got, Ok(want.clone()), "{}", name);
        }
    }
    Ok(())
}

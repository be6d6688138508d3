//! Instruction counts of single kernels (feature `kernel-bench`): the int8
//! kernels on the anchor shapes compared with CMSIS-NN (`docs/design.md`,
//! "Anchors"), the in-place depthwise kernel of the layer stage, and the
//! any-width kernels on two of them with 4-bit and with 2-bit input and
//! output codes, and the 1x1 and depthwise anchors on 4-bit input codes
//! with int8 output (what a reader of a low map runs under the int8-first
//! numerics), and the recoding of a map into 4-bit codes (counted per
//! value); pseudo-random data, each kernel over its whole output map once.
//!
//! Each case runs twice: the dispatching kernel (with the `dsp` feature its
//! DSP form where one exists) and the portable kernel, and their outputs
//! are compared byte for byte on the target.
//!
//! Line format: `kernel name=NAME macs=M ticks=C portable_ticks=P equal=0|1`.

use core::fmt::Write;

use quantmcu_rt::geometry::{Geometry, Rect};
use quantmcu_rt::ops::conv2d::{self, Conv2dParams};
use quantmcu_rt::ops::depthwise_conv2d::{
    self as depthwise, depthwise_conv2d_in_place, in_place_temp_len, DepthwiseConv2dParams,
};
use quantmcu_rt::ops::recode::{recode, RecodeParams, RECODE_SHIFT};
use quantmcu_rt::view::{Codes, CodesMut, OutputStage, Window, WindowMut};
use static_cell::ConstStaticCell;

const MAX_IN: usize = 48 * 48 * 16;
const MAX_OUT: usize = 48 * 48 * 8;
const MAX_FILTER: usize = 64 * 64 * 9;
const MAX_CH: usize = 128;
/// In-place depthwise temporary (a padded 12x12 plane).
const MAX_TEMP: usize = 256;

struct Buffers {
    input: [i8; MAX_IN],
    output: [i8; MAX_OUT],
    reference: [i8; MAX_OUT],
    filter: [i8; MAX_FILTER],
    bias: [i32; MAX_CH],
    multiplier: [i32; MAX_CH],
    shift: [i32; MAX_CH],
    scratch: [i32; MAX_CH],
    temp: [i8; MAX_TEMP],
}

static BUFFERS: ConstStaticCell<Buffers> = ConstStaticCell::new(Buffers {
    input: [0; MAX_IN],
    output: [0; MAX_OUT],
    reference: [0; MAX_OUT],
    filter: [0; MAX_FILTER],
    bias: [0; MAX_CH],
    multiplier: [0; MAX_CH],
    shift: [0; MAX_CH],
    scratch: [0; MAX_CH],
    temp: [0; MAX_TEMP],
});

/// One benchmarked layer.
struct Case {
    name: &'static str,
    depthwise: bool,
    /// Depthwise in place (the layer stage's kernel): the input is copied
    /// into the output buffer first (not timed); the portable reference is
    /// the out-of-place portable kernel.
    in_place: bool,
    input: [usize; 3],
    output: [usize; 3],
    kernel: usize,
    stride: usize,
    /// Padding before the first row/column (TFLite SAME).
    pad: usize,
    /// Width of the input activations and of the output activations: 8
    /// and 8 run the int8 kernels, anything else the any-width (`lowbit`)
    /// forms on packed codes.
    bits: u32,
    out_bits: u32,
}

const CASES: [Case; 17] = [
    Case {
        name: "conv1x1_24x24x32_32",
        depthwise: false,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 1,
        stride: 1,
        pad: 0,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv1x1_12x12x64_64",
        depthwise: false,
        in_place: false,
        input: [12, 12, 64],
        output: [12, 12, 64],
        kernel: 1,
        stride: 1,
        pad: 0,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv1x1_6x6x128_128",
        depthwise: false,
        in_place: false,
        input: [6, 6, 128],
        output: [6, 6, 128],
        kernel: 1,
        stride: 1,
        pad: 0,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "dw3x3_s1_24x24x32",
        depthwise: true,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "dw3x3_s2_48x48x16",
        depthwise: true,
        in_place: false,
        input: [48, 48, 16],
        output: [24, 24, 16],
        kernel: 3,
        stride: 2,
        pad: 0,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "dw3x3_s1_12x12x64_in_place",
        depthwise: true,
        in_place: true,
        input: [12, 12, 64],
        output: [12, 12, 64],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv3x3_s2_96x96x3_8",
        depthwise: false,
        in_place: false,
        input: [96, 96, 3],
        output: [48, 48, 8],
        kernel: 3,
        stride: 2,
        pad: 0,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv3x3_s1_32x32x16_16",
        depthwise: false,
        in_place: false,
        input: [32, 32, 16],
        output: [32, 32, 16],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv3x3_s1_16x16x32_32",
        depthwise: false,
        in_place: false,
        input: [16, 16, 32],
        output: [16, 16, 32],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv3x3_s1_8x8x64_64",
        depthwise: false,
        in_place: false,
        input: [8, 8, 64],
        output: [8, 8, 64],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 8,
        out_bits: 8,
    },
    Case {
        name: "conv1x1_24x24x32_32_a4",
        depthwise: false,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 1,
        stride: 1,
        pad: 0,
        bits: 4,
        out_bits: 4,
    },
    Case {
        name: "dw3x3_s1_24x24x32_a4",
        depthwise: true,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 4,
        out_bits: 4,
    },
    Case {
        name: "conv1x1_24x24x32_32_a2",
        depthwise: false,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 1,
        stride: 1,
        pad: 0,
        bits: 2,
        out_bits: 2,
    },
    Case {
        name: "dw3x3_s1_24x24x32_a2",
        depthwise: true,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 2,
        out_bits: 2,
    },
    Case {
        name: "conv1x1_24x24x32_32_a4i8",
        depthwise: false,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 1,
        stride: 1,
        pad: 0,
        bits: 4,
        out_bits: 8,
    },
    Case {
        name: "dw3x3_s1_24x24x32_a4i8",
        depthwise: true,
        in_place: false,
        input: [24, 24, 32],
        output: [24, 24, 32],
        kernel: 3,
        stride: 1,
        pad: 1,
        bits: 4,
        out_bits: 8,
    },
    Case {
        name: "dw3x3_s2_48x48x16_a4i8",
        depthwise: true,
        in_place: false,
        input: [48, 48, 16],
        output: [24, 24, 16],
        kernel: 3,
        stride: 2,
        pad: 0,
        bits: 4,
        out_bits: 8,
    },
];

/// xorshift32.
fn next(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

fn codes<'a>(x: &'a [i8], xr: Rect, y: &'a mut [i8], yr: Rect, bits: u32, out_bits: u32) -> (Codes<'a>, CodesMut<'a>) {
    (
        Codes {
            data: x,
            rect: xr,
            bits,
        },
        CodesMut {
            data: y,
            rect: yr,
            bits: out_bits,
        },
    )
}

/// Runs every case and prints its line.
pub fn run(out: &mut impl Write, now: fn() -> u64) {
    let b = BUFFERS.take();
    let mut s = 0x1234_5678u32;
    for v in b.input.iter_mut().chain(b.filter.iter_mut()) {
        *v = next(&mut s) as i8;
    }
    for i in 0..MAX_CH {
        let r = next(&mut s);
        b.bias[i] = (r as i32) >> 18;
        b.multiplier[i] = (1 << 30) + ((r >> 2) & 0x3fff_ffff) as i32 / 2;
        b.shift[i] = -8 - (r % 3) as i32;
    }
    for c in &CASES {
        let g = Geometry {
            input: c.input,
            output: c.output,
            kernel: [c.kernel; 2],
            stride: [c.stride; 2],
            dilation: [1, 1],
            pad: [c.pad; 2],
        };
        let oc = c.output[2];
        let taps = c.kernel * c.kernel;
        // Packed bytes of the input and output maps.
        let bytes = |d: &[usize; 3], bits: u32| (d.iter().product::<usize>() * bits as usize).div_ceil(8);
        let (in_len, out_len) = (bytes(&c.input, c.bits), bytes(&c.output, c.out_bits));
        let (offset, min, max) = if c.out_bits == 8 {
            (-3, -128, 127)
        } else {
            (1 << (c.out_bits - 1), 0, (1 << c.out_bits) - 1)
        };
        let stage = OutputStage {
            multiplier: &b.multiplier[..oc],
            shift: &b.shift[..oc],
            offset,
            min,
            max,
        };
        let (x, xr) = (&b.input[..in_len], Rect::full(c.input[0], c.input[1]));
        let yr = Rect::full(c.output[0], c.output[1]);
        let input_offset = if c.bits == 8 { 128 } else { -(1 << (c.bits - 1)) };
        let pixels = (c.output[0] * c.output[1]) as u64;
        let macs = pixels * (oc * taps) as u64 * if c.depthwise { 1 } else { c.input[2] as u64 };
        // The dispatching kernel (the `dsp` feature's DSP forms where they
        // exist) into `output`, then the portable one into `reference`.
        let mut ticks = [0u64; 2];
        for (portable, t) in [false, true].into_iter().zip(&mut ticks) {
            let y = if portable {
                &mut b.reference[..out_len]
            } else {
                &mut b.output[..out_len]
            };
            if c.in_place && !portable {
                y[..in_len].copy_from_slice(x);
            }
            let t0 = now();
            if c.depthwise {
                let p = DepthwiseConv2dParams {
                    geometry: g,
                    input_offset,
                    filter: &b.filter[..taps * oc],
                    bias: &b.bias[..oc],
                    output: stage,
                };
                if c.in_place && !portable {
                    let temp = &mut b.temp[..in_place_temp_len(&g)];
                    depthwise_conv2d_in_place(&p, y, temp);
                } else if c.bits == 8 && c.out_bits == 8 {
                    let k = if portable {
                        depthwise::depthwise_conv2d_portable
                    } else {
                        depthwise::depthwise_conv2d
                    };
                    k(&p, Window { data: x, rect: xr }, WindowMut { data: y, rect: yr });
                } else {
                    let k = if portable {
                        depthwise::depthwise_conv2d_lowbit_portable
                    } else {
                        depthwise::depthwise_conv2d_lowbit
                    };
                    let (x, y) = codes(x, xr, y, yr, c.bits, c.out_bits);
                    let _ = k(&p, x, y, None);
                }
            } else {
                let p = Conv2dParams {
                    geometry: g,
                    input_offset,
                    filter: &b.filter[..taps * oc * c.input[2]],
                    bias: &b.bias[..oc],
                    output: stage,
                };
                if c.bits == 8 && c.out_bits == 8 {
                    let k = if portable {
                        conv2d::conv2d_portable
                    } else {
                        conv2d::conv2d
                    };
                    k(
                        &p,
                        Window { data: x, rect: xr },
                        WindowMut { data: y, rect: yr },
                        &mut b.scratch[..oc],
                    );
                } else {
                    let k = if portable {
                        conv2d::conv2d_lowbit_portable
                    } else {
                        conv2d::conv2d_lowbit
                    };
                    let (x, y) = codes(x, xr, y, yr, c.bits, c.out_bits);
                    let _ = k(&p, x, y, None);
                }
            }
            *t = now() - t0;
        }
        let equal = b.output[..out_len] == b.reference[..out_len];
        let _ = writeln!(
            out,
            "kernel name={} macs={macs} ticks={} portable_ticks={} equal={}",
            c.name,
            ticks[0],
            ticks[1],
            u8::from(equal)
        );
    }
    recode_cases(b, out, now);
}

/// The int8-first recoding of a 24x24x32 map into 4-bit codes, one range
/// for the map and one per channel (every value clean): `macs` counts
/// values; the portable column is the per-value formula
/// ([`RecodeParams::code`]) with packing, the oracle its bytes are compared
/// with.
fn recode_cases(b: &mut Buffers, out: &mut impl Write, now: fn() -> u64) {
    const N: usize = 24 * 24 * 32;
    const C: usize = 32;
    let lo = [-128i32; C];
    let hi = [127i32; C];
    let mut scale = [0i32; C];
    let mut offset = [0i32; C];
    for (c, (m, a)) in scale.iter_mut().zip(offset.iter_mut()).enumerate() {
        *m = 300 + 17 * c as i32;
        *a = 8 << RECODE_SHIFT;
    }
    for (name, k) in [("recode4_per_tensor_24x24x32", 1), ("recode4_per_channel_24x24x32", C)] {
        let p = RecodeParams {
            lo: &lo[..k],
            hi: &hi[..k],
            scale: &scale[..k],
            offset: &offset[..k],
            bits: 4,
            max_code: 15,
        };
        b.output[..N].copy_from_slice(&b.input[..N]);
        let t0 = now();
        let clean = recode(&p, &mut b.output[..N], N, C);
        let ticks = now() - t0;
        let t0 = now();
        for j in 0..N / 2 {
            let code = |i: usize| p.code(i32::from(b.input[i]), i % C) as u8;
            b.reference[j] = (code(2 * j) | code(2 * j + 1) << 4) as i8;
        }
        let portable = now() - t0;
        let equal = clean && b.output[..N / 2] == b.reference[..N / 2];
        let _ = writeln!(
            out,
            "kernel name={name} macs={N} ticks={ticks} portable_ticks={portable} equal={}",
            u8::from(equal)
        );
    }
}

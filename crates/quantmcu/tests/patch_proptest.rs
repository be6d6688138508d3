//! Patch-based int8 equals layer-based int8, bit for bit, on random small
//! graphs built directly in the IR: chains of CONV_2D, DEPTHWISE_CONV_2D,
//! pools, spatial PAD and residual blocks (conv, conv, ADD), optionally
//! followed by a MEAN that runs after the patch stage. The layer-based plan
//! and every legal split point on random grids, with the input resident and
//! streamed, run through the runtime (`PlanRunner`) in an arena of the planned
//! size and must equal the reference executor.

use proptest::prelude::*;
use quantmcu::ir::{Activation, DType, Graph, Op, OpKind, Padding, Quant, Tensor, TensorId, Window};
use quantmcu::patch::arena::patch_memory;
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::ReferenceExecutor;

/// Per-tensor activation quantization.
#[derive(Clone, Copy, Debug)]
struct Q {
    scale: f32,
    zp: i32,
}

/// Sliding window options of a convolution.
#[derive(Clone, Copy, Debug)]
struct Win {
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
}

/// One link of the generated chain.
#[derive(Clone, Debug)]
enum Layer {
    Conv {
        win: Win,
        channels: usize,
        bias: bool,
        per_channel: bool,
        activation: Activation,
        out: Q,
    },
    Depthwise {
        win: Win,
        multiplier: usize,
        bias: bool,
        per_channel: bool,
        activation: Activation,
        out: Q,
    },
    Pool {
        max: bool,
        size: usize,
        stride: usize,
        padding: Padding,
        activation: Activation,
    },
    Pad {
        before: [usize; 2],
        after: [usize; 2],
    },
    /// conv 3x3 SAME -> conv 1x1 back to the block's channels -> ADD(block input, branch).
    Residual {
        mid_channels: usize,
        mid: Q,
        branch: Q,
        out: Q,
        activation: Activation,
    },
}

/// A generated test case: the graph description, the grids to try and the
/// seed of the weights and the input.
#[derive(Clone, Debug)]
struct Case {
    input: [usize; 3],
    input_q: Q,
    layers: Vec<Layer>,
    /// A MEAN over H and W after the chain: output quantization, keep_dims.
    mean: Option<(Q, bool)>,
    grids: Vec<[usize; 2]>,
    seed: u64,
}

/// SplitMix64: weights, biases, filter scales and input values.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// Uniform in `[lo, hi)`.
    fn real(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)
    }
}

/// Builds a graph op by op, with random constants.
struct Builder {
    tensors: Vec<Tensor>,
    ops: Vec<Op>,
    rng: Rng,
}

impl Builder {
    fn shape(&self, t: TensorId) -> [usize; 4] {
        let s = &self.tensors[t].shape;
        [s[0], s[1], s[2], s[3]]
    }

    fn quant(&self, t: TensorId) -> Q {
        let q = self.tensors[t].quant.as_ref().expect("activations are quantized");
        Q {
            scale: q.scale[0],
            zp: q.zero_point[0],
        }
    }

    fn add_tensor(&mut self, shape: Vec<usize>, dtype: DType, quant: Option<Quant>, data: Option<Vec<u8>>) -> TensorId {
        self.tensors.push(Tensor {
            name: format!("t{}", self.tensors.len()),
            shape,
            dtype,
            quant,
            data,
        });
        self.tensors.len() - 1
    }

    /// An int8 activation tensor.
    fn activation(&mut self, shape: Vec<usize>, q: Q) -> TensorId {
        self.add_tensor(shape, DType::I8, Some(Quant::per_tensor(q.scale, q.zp)), None)
    }

    /// A constant int32 tensor.
    fn ints(&mut self, shape: Vec<usize>, values: &[i32]) -> TensorId {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_tensor(shape, DType::I32, None, Some(data))
    }

    /// Random symmetric int8 weights, quantized per tensor or per slice of `axis`.
    fn filter(&mut self, shape: Vec<usize>, axis: usize, per_channel: bool) -> TensorId {
        let slices = if per_channel { shape[axis] } else { 1 };
        let quant = Quant {
            scale: (0..slices).map(|_| self.rng.real(0.001, 0.05)).collect(),
            zero_point: vec![0; slices],
            axis,
        };
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| self.rng.int(-127, 127) as i8 as u8).collect();
        self.add_tensor(shape, DType::I8, Some(quant), Some(data))
    }

    /// A random int32 bias of `n` elements, or none.
    fn bias(&mut self, n: usize, present: bool) -> Option<TensorId> {
        present.then(|| {
            let values: Vec<i32> = (0..n).map(|_| self.rng.int(-2000, 2000) as i32).collect();
            self.ints(vec![n], &values)
        })
    }

    fn op(&mut self, kind: OpKind, inputs: Vec<Option<TensorId>>, output: TensorId) -> TensorId {
        self.ops.push(Op {
            kind,
            inputs,
            outputs: vec![output],
        });
        output
    }

    /// Output height and width of `window` over `x`, `None` if a VALID window does not fit.
    fn out_hw(&self, x: TensorId, window: &Window) -> Option<[usize; 2]> {
        let [_, h, w, _] = self.shape(x);
        Some([window.output_size(h, 0)?, window.output_size(w, 1)?])
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: TensorId,
        win: Win,
        channels: usize,
        bias: bool,
        per_channel: bool,
        activation: Activation,
        out: Q,
    ) -> Option<TensorId> {
        let window = window(win);
        let [oh, ow] = self.out_hw(x, &window)?;
        let [_, _, _, c] = self.shape(x);
        let filter = self.filter(vec![channels, win.kernel[0], win.kernel[1], c], 0, per_channel);
        let bias = self.bias(channels, bias);
        let y = self.activation(vec![1, oh, ow, channels], out);
        Some(self.op(
            OpKind::Conv2d { window, activation },
            vec![Some(x), Some(filter), bias],
            y,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn depthwise(
        &mut self,
        x: TensorId,
        win: Win,
        multiplier: usize,
        bias: bool,
        per_channel: bool,
        activation: Activation,
        out: Q,
    ) -> Option<TensorId> {
        let window = window(win);
        let [oh, ow] = self.out_hw(x, &window)?;
        let channels = self.shape(x)[3] * multiplier;
        let filter = self.filter(vec![1, win.kernel[0], win.kernel[1], channels], 3, per_channel);
        let bias = self.bias(channels, bias);
        let y = self.activation(vec![1, oh, ow, channels], out);
        let kind = OpKind::DepthwiseConv2d {
            window,
            depth_multiplier: multiplier,
            activation,
        };
        Some(self.op(kind, vec![Some(x), Some(filter), bias], y))
    }

    fn pool(
        &mut self,
        x: TensorId,
        max: bool,
        size: usize,
        stride: usize,
        padding: Padding,
        activation: Activation,
    ) -> Option<TensorId> {
        let window = Window {
            kernel: [size; 2],
            stride: [stride; 2],
            dilation: [1; 2],
            padding,
        };
        let [oh, ow] = self.out_hw(x, &window)?;
        let c = self.shape(x)[3];
        let q = self.quant(x);
        let y = self.activation(vec![1, oh, ow, c], q);
        let kind = if max {
            OpKind::MaxPool2d { window, activation }
        } else {
            OpKind::AveragePool2d { window, activation }
        };
        Some(self.op(kind, vec![Some(x)], y))
    }

    fn pad(&mut self, x: TensorId, before: [usize; 2], after: [usize; 2]) -> TensorId {
        let [n, h, w, c] = self.shape(x);
        let p = |v: usize| v as i32;
        let paddings = self.ints(
            vec![4, 2],
            &[0, 0, p(before[0]), p(after[0]), p(before[1]), p(after[1]), 0, 0],
        );
        let q = self.quant(x);
        let y = self.activation(vec![n, h + before[0] + after[0], w + before[1] + after[1], c], q);
        self.op(OpKind::Pad, vec![Some(x), Some(paddings)], y)
    }

    fn residual(
        &mut self,
        x: TensorId,
        mid_channels: usize,
        mid: Q,
        branch: Q,
        out: Q,
        activation: Activation,
    ) -> TensorId {
        let same3 = Win {
            kernel: [3; 2],
            stride: [1; 2],
            dilation: [1; 2],
            padding: Padding::Same,
        };
        let one = Win {
            kernel: [1; 2],
            ..same3
        };
        let c = self.shape(x)[3];
        let a = self
            .conv(x, same3, mid_channels, true, true, Activation::Relu, mid)
            .expect("SAME fits");
        let b = self
            .conv(a, one, c, true, true, Activation::None, branch)
            .expect("1x1 fits");
        let y = self.activation(self.shape(x).to_vec(), out);
        self.op(OpKind::Add { activation }, vec![Some(x), Some(b)], y)
    }

    fn mean(&mut self, x: TensorId, out: Q, keep_dims: bool) -> TensorId {
        let [n, _, _, c] = self.shape(x);
        let axes = self.ints(vec![2], &[1, 2]);
        let shape = if keep_dims { vec![n, 1, 1, c] } else { vec![n, c] };
        let y = self.activation(shape, out);
        self.op(OpKind::Mean { keep_dims }, vec![Some(x), Some(axes)], y)
    }
}

fn window(w: Win) -> Window {
    Window {
        kernel: w.kernel,
        stride: w.stride,
        dilation: w.dilation,
        padding: w.padding,
    }
}

/// The graph of `case`; layers whose VALID window does not fit are left out
/// (a 1x1 convolution stands in when none is left).
fn build(case: &Case) -> Graph {
    let mut b = Builder {
        tensors: Vec::new(),
        ops: Vec::new(),
        rng: Rng(case.seed),
    };
    let [h, w, c] = case.input;
    let input = b.activation(vec![1, h, w, c], case.input_q);
    let mut x = input;
    for layer in &case.layers {
        let y = match *layer {
            Layer::Conv {
                win,
                channels,
                bias,
                per_channel,
                activation,
                out,
            } => b.conv(x, win, channels, bias, per_channel, activation, out),
            Layer::Depthwise {
                win,
                multiplier,
                bias,
                per_channel,
                activation,
                out,
            } => b.depthwise(x, win, multiplier, bias, per_channel, activation, out),
            Layer::Pool {
                max,
                size,
                stride,
                padding,
                activation,
            } => b.pool(x, max, size, stride, padding, activation),
            Layer::Pad { before, after } => Some(b.pad(x, before, after)),
            Layer::Residual {
                mid_channels,
                mid,
                branch,
                out,
                activation,
            } => Some(b.residual(x, mid_channels, mid, branch, out, activation)),
        };
        x = y.unwrap_or(x);
    }
    if b.ops.is_empty() {
        // Every layer was a VALID window too large for its input: keep one op.
        let one = Win {
            kernel: [1; 2],
            stride: [1; 2],
            dilation: [1; 2],
            padding: Padding::Same,
        };
        x = b
            .conv(x, one, c, true, false, Activation::None, case.input_q)
            .expect("1x1 fits");
    }
    if let Some((q, keep_dims)) = case.mean {
        x = b.mean(x, q, keep_dims);
    }
    Graph {
        name: "random".into(),
        tensors: b.tensors,
        ops: b.ops,
        inputs: vec![input],
        outputs: vec![x],
        model_sha256: [0; 32],
    }
}

fn activation_quant() -> impl Strategy<Value = Q> {
    (0.005f32..0.2, -20i32..=20).prop_map(|(scale, zp)| Q { scale, zp })
}

fn fused_activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(vec![Activation::None, Activation::Relu, Activation::Relu6])
}

fn padding() -> impl Strategy<Value = Padding> {
    prop::sample::select(vec![Padding::Same, Padding::Valid])
}

fn one_or_two() -> impl Strategy<Value = usize> {
    1usize..=2
}

/// A window with the given kernel sizes: square or mixed, strides and
/// dilations 1 or 2 per axis.
fn win(kernels: Vec<usize>) -> impl Strategy<Value = Win> {
    let k = prop::sample::select(kernels);
    (
        k.clone(),
        k,
        any::<bool>(),
        [one_or_two(), one_or_two()],
        [one_or_two(), one_or_two()],
        padding(),
    )
        .prop_map(|(kh, kw, square, stride, dilation, padding)| Win {
            kernel: [kh, if square { kh } else { kw }],
            stride,
            dilation,
            padding,
        })
}

fn layer() -> impl Strategy<Value = Layer> {
    let conv = (
        win(vec![1, 3, 5, 7]),
        1usize..=8,
        any::<bool>(),
        any::<bool>(),
        fused_activation(),
        activation_quant(),
    )
        .prop_map(|(win, channels, bias, per_channel, activation, out)| Layer::Conv {
            win,
            channels,
            bias,
            per_channel,
            activation,
            out,
        });
    let depthwise = (
        win(vec![3, 5]),
        one_or_two(),
        any::<bool>(),
        any::<bool>(),
        fused_activation(),
        activation_quant(),
    )
        .prop_map(
            |(win, multiplier, bias, per_channel, activation, out)| Layer::Depthwise {
                win,
                multiplier,
                bias,
                per_channel,
                activation,
                out,
            },
        );
    let pool = (any::<bool>(), 2usize..=3, one_or_two(), padding(), fused_activation()).prop_map(
        |(max, size, stride, padding, activation)| Layer::Pool {
            max,
            size,
            stride,
            padding,
            activation,
        },
    );
    let pad =
        ([0usize..=2, 0usize..=2], [0usize..=2, 0usize..=2]).prop_map(|(before, after)| Layer::Pad { before, after });
    let residual = (
        1usize..=8,
        activation_quant(),
        activation_quant(),
        activation_quant(),
        prop::sample::select(vec![Activation::None, Activation::Relu]),
    )
        .prop_map(|(mid_channels, mid, branch, out, activation)| Layer::Residual {
            mid_channels,
            mid,
            branch,
            out,
            activation,
        });
    prop_oneof![3 => conv, 3 => depthwise, 2 => pool, 1 => pad, 1 => residual]
}

fn case() -> impl Strategy<Value = Case> {
    (
        [5usize..=24, 5usize..=24, 1usize..=6],
        activation_quant(),
        prop::collection::vec(layer(), 1..=5),
        prop::option::of((activation_quant(), any::<bool>())),
        prop::collection::vec([1usize..=5, 1usize..=5], 2..=3),
        any::<u64>(),
    )
        .prop_map(|(input, input_q, layers, mean, grids, seed)| Case {
            input,
            input_q,
            layers,
            mean,
            grids,
            seed,
        })
}

/// Where two tensor values first differ, for failure messages.
fn first_difference(got: &Option<TensorData>, want: &Option<TensorData>) -> String {
    match (got, want) {
        (Some(TensorData::I8(g)), Some(TensorData::I8(w))) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .position(|(a, b)| a != b)
            .map_or("equal".into(), |i| format!("element {i}: got {}, want {}", g[i], w[i])),
        _ => format!("got {got:?}, want {want:?}"),
    }
}

/// The plan output and the graph outputs of a plan run equal the reference.
fn check_outputs(
    graph: &Graph,
    runner: &PlanRunner,
    got: &[Option<TensorData>],
    want: &[Option<TensorData>],
    what: &str,
) -> Result<(), TestCaseError> {
    for t in std::iter::once(runner.encoded().output).chain(graph.outputs.iter().copied()) {
        prop_assert!(
            got[t] == want[t],
            "{what}: tensor #{t} ({}) differs: {}",
            graph.ops[graph.producers()[t].expect("computed")].kind.name(),
            first_difference(&got[t], &want[t])
        );
    }
    Ok(())
}

fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let mut graph = build(case);
    graph
        .check()
        .map_err(|e| TestCaseError::fail(format!("generated graph is invalid: {e}")))?;
    let interp = ReferenceExecutor::new(&graph).map_err(|e| TestCaseError::fail(format!("prepare failed: {e}")))?;
    let stages = split_points(&graph);
    let windowed = graph.ops.first().is_some_and(|op| {
        matches!(
            op.kind,
            OpKind::Conv2d { .. }
                | OpKind::DepthwiseConv2d { .. }
                | OpKind::AveragePool2d { .. }
                | OpKind::MaxPool2d { .. }
                | OpKind::Pad
        )
    });
    prop_assert!(!windowed || !stages.is_empty(), "no split point");

    let mut rng = Rng(case.seed ^ 0x5EED);
    let n = graph.tensors[graph.inputs[0]].elements();
    let input = TensorData::I8((0..n).map(|_| rng.int(-128, 127) as i8).collect());
    let inputs = std::slice::from_ref(&input);
    let want = interp.run_all(inputs).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let fail = |e: quantmcu::Error| TestCaseError::fail(e.to_string());

    // The layer-based plan first, then every split point and grid.
    let runner = PlanRunner::new(&interp, None).map_err(fail)?;
    check_outputs(
        &graph,
        &runner,
        &runner.run_all(inputs).map_err(fail)?,
        &want,
        "layer-based",
    )?;
    for stage in &stages {
        let last = *stage.ops.last().expect("stage ops");
        for &grid in &case.grids {
            let Some(plan) = Tiling::new(&graph, stage, grid) else {
                continue;
            };
            for mode in [InputMode::Resident, InputMode::Streamed] {
                let what = format!(
                    "split after op {last} (tensor #{}), grid {}x{}, {mode:?}",
                    stage.split, grid[0], grid[1]
                );
                let runner = PlanRunner::new(&interp, Some((&plan, mode))).map_err(fail)?;
                let planned = patch_memory(&graph, &plan, mode).peak_bytes;
                prop_assert_eq!(runner.arena_bytes(), planned, "{}: arena size", what);
                check_outputs(&graph, &runner, &runner.run_all(inputs).map_err(fail)?, &want, &what)?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn patch_equals_layer_based_on_random_graphs(case in case()) {
        check_case(&case)?;
    }
}

/// Shrunk cases: a PAD tile that lies wholly in the padding, after a window
/// op, needs an empty window of that op's output.
fn check_pad_after(input: [usize; 3], layer: Layer, before: [usize; 2], after: [usize; 2], grid: [usize; 2]) {
    let case = Case {
        input,
        input_q: Q { scale: 0.005, zp: 0 },
        layers: vec![layer, Layer::Pad { before, after }],
        mean: None,
        grids: vec![grid],
        seed: 0,
    };
    check_case(&case).unwrap();
}

/// Split 5x7 after the PAD; tile 0 of the 1x4 grid, columns 0..2, is all left padding.
#[test]
fn pad_tile_in_the_left_padding_after_a_conv() {
    let conv = Layer::Conv {
        win: Win {
            kernel: [1; 2],
            stride: [1; 2],
            dilation: [1; 2],
            padding: Padding::Same,
        },
        channels: 1,
        bias: false,
        per_channel: false,
        activation: Activation::None,
        out: Q { scale: 0.005, zp: 0 },
    };
    check_pad_after([5, 5, 1], conv, [0, 2], [0, 0], [1, 4]);
}

/// Split 3x5 after the PAD; tile 2 of the 1x3 grid, column 4, is all right padding.
#[test]
fn pad_tile_in_the_right_padding_after_a_pool() {
    let pool = Layer::Pool {
        max: false,
        size: 2,
        stride: 2,
        padding: Padding::Same,
        activation: Activation::None,
    };
    check_pad_after([5, 7, 1], pool, [0, 0], [0, 1], [1, 3]);
}

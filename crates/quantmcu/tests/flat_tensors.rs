//! A flat tensor longer than the runtime's geometry limit (`MAX_DIM`) runs:
//! DEPTHWISE_CONV_2D with depth multiplier 8 on a 1-channel 180x180 input
//! (5x5, stride 2, VALID), AVERAGE_POOL_2D, CONV_2D, MEAN over height and
//! width, FULLY_CONNECTED. MEAN reads the 42x42x16 map as one flat window of
//! 28,224 values. The layer-based plan and a patch plan at every split point
//! (input resident and streamed) parse and equal the reference executor bit
//! for bit.

use quantmcu::ir::{Activation, DType, Graph, Op, OpKind, Padding, Quant, Tensor, TensorId, Window};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::ReferenceExecutor;
use quantmcu_rt::plan::{Plan, MAX_DIM};

/// Deterministic int8 values (a linear congruential sequence).
fn values(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((s >> 24) as i8).clamp(-127, 127) as u8
        })
        .collect()
}

struct Builder {
    tensors: Vec<Tensor>,
    ops: Vec<Op>,
}

impl Builder {
    fn tensor(&mut self, shape: Vec<usize>, dtype: DType, quant: Option<Quant>, data: Option<Vec<u8>>) -> TensorId {
        self.tensors.push(Tensor {
            name: format!("t{}", self.tensors.len()),
            shape,
            dtype,
            quant,
            data,
        });
        self.tensors.len() - 1
    }

    fn activation(&mut self, shape: Vec<usize>, scale: f32, zp: i32) -> TensorId {
        self.tensor(shape, DType::I8, Some(Quant::per_tensor(scale, zp)), None)
    }

    /// Int8 weights of `shape`, one scale per slice of `axis`.
    fn weights(&mut self, shape: Vec<usize>, axis: usize, seed: u32) -> TensorId {
        let slices = shape[axis];
        let quant = Quant {
            scale: (0..slices).map(|k| 0.004 + 0.001 * (k % 5) as f32).collect(),
            zero_point: vec![0; slices],
            axis,
        };
        let n = shape.iter().product();
        self.tensor(shape, DType::I8, Some(quant), Some(values(n, seed)))
    }

    fn bias(&mut self, n: usize) -> TensorId {
        let data = (0..n as i32).flat_map(|k| (37 * k - 200).to_le_bytes()).collect();
        self.tensor(vec![n], DType::I32, None, Some(data))
    }

    fn op(&mut self, kind: OpKind, inputs: Vec<Option<TensorId>>, output: TensorId) -> TensorId {
        self.ops.push(Op {
            kind,
            inputs,
            outputs: vec![output],
        });
        output
    }
}

fn window(kernel: usize, stride: usize) -> Window {
    Window {
        kernel: [kernel; 2],
        stride: [stride; 2],
        dilation: [1; 2],
        padding: Padding::Valid,
    }
}

fn graph() -> Graph {
    let mut b = Builder {
        tensors: Vec::new(),
        ops: Vec::new(),
    };
    let input = b.activation(vec![1, 180, 180, 1], 0.02, -3);
    let filter = b.weights(vec![1, 5, 5, 8], 3, 1);
    let bias = b.bias(8);
    let dw = b.activation(vec![1, 88, 88, 8], 0.05, 4);
    let kind = OpKind::DepthwiseConv2d {
        window: window(5, 2),
        depth_multiplier: 8,
        activation: Activation::Relu,
    };
    b.op(kind, vec![Some(input), Some(filter), Some(bias)], dw);
    let pooled = b.activation(vec![1, 44, 44, 8], 0.05, 4);
    let kind = OpKind::AveragePool2d {
        window: window(2, 2),
        activation: Activation::None,
    };
    b.op(kind, vec![Some(dw)], pooled);
    let filter = b.weights(vec![16, 3, 3, 8], 0, 2);
    let bias = b.bias(16);
    let conv = b.activation(vec![1, 42, 42, 16], 0.08, -10);
    let kind = OpKind::Conv2d {
        window: window(3, 1),
        activation: Activation::None,
    };
    b.op(kind, vec![Some(pooled), Some(filter), Some(bias)], conv);
    let axes = b.tensor(
        vec![2],
        DType::I32,
        None,
        Some([1i32, 2].iter().flat_map(|v| v.to_le_bytes()).collect()),
    );
    let mean = b.activation(vec![1, 16], 0.03, 2);
    b.op(OpKind::Mean { keep_dims: false }, vec![Some(conv), Some(axes)], mean);
    let filter = b.weights(vec![10, 16], 0, 3);
    let bias = b.bias(10);
    let out = b.activation(vec![1, 10], 0.1, 0);
    let kind = OpKind::FullyConnected {
        activation: Activation::None,
        keep_num_dims: false,
    };
    b.op(kind, vec![Some(mean), Some(filter), Some(bias)], out);
    Graph {
        name: "depthwise-x8".into(),
        tensors: b.tensors,
        ops: b.ops,
        inputs: vec![input],
        outputs: vec![out],
        model_sha256: [0; 32],
    }
}

/// Parses the runner's plan and checks its output against the reference.
fn check(runner: &PlanRunner, input: &TensorData, want: &[Option<TensorData>], graph: &Graph, what: &str) {
    if let Err(e) = Plan::parse(runner.encoded().bytes()) {
        panic!("{what}: the runtime rejects the plan: {e}");
    }
    let got = runner.run_all(std::slice::from_ref(input)).unwrap();
    for &t in &graph.outputs {
        assert!(got[t].is_some() && got[t] == want[t], "{what}: output differs");
    }
}

#[test]
fn a_mean_over_a_map_longer_than_max_dim_runs_in_every_schedule() {
    let mut graph = graph();
    graph.check().unwrap();
    let graph = graph;
    let mean_input = graph.ops[3].inputs[0].unwrap();
    assert!(
        graph.tensors[mean_input].elements() > MAX_DIM,
        "the MEAN input is a flat window longer than MAX_DIM"
    );
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let input = TensorData::I8(values(180 * 180, 9).into_iter().map(|v| v as i8).collect());
    let want = interp.run_all(std::slice::from_ref(&input)).unwrap();
    check(
        &PlanRunner::new(&interp, None).unwrap(),
        &input,
        &want,
        &graph,
        "layer-based",
    );
    let stages = split_points(&graph);
    assert!(!stages.is_empty(), "no split point");
    let mut patch_plans = 0;
    for stage in &stages {
        for grid in [[2, 2], [3, 2], [4, 4]] {
            let Some(tp) = Tiling::new(&graph, stage, grid) else {
                continue;
            };
            for mode in [InputMode::Resident, InputMode::Streamed] {
                let what = format!("split at tensor #{}, grid {grid:?}, {mode:?}", stage.split);
                check(
                    &PlanRunner::new(&interp, Some((&tp, mode))).unwrap(),
                    &input,
                    &want,
                    &graph,
                    &what,
                );
                patch_plans += 1;
            }
        }
    }
    assert!(patch_plans >= 4, "{patch_plans} patch plans");
}

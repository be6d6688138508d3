//! Bit-exactness against tflite-micro on the op zoo: small generated models
//! that together cover every supported op and option (kernel sizes, strides,
//! SAME/VALID, dilation, groups, depth multipliers, broadcasting, pools over
//! the border, PAD, MEAN over several axes, CONCATENATION, SOFTMAX,
//! QUANTIZE/DEQUANTIZE, a 180x180 input whose MEAN reads one flat window of
//! 28,224 values, int64 zero points that are not 8-byte aligned in the file).
//! The reference executor's value of every tensor an op writes, and the
//! runtime's values (layer-by-layer plans, and patch plans at every split
//! point with the input resident and streamed), are compared with
//! tflite-micro's for each stored input.
//! A model the runtime cannot run must be refused with the sentence listed in
//! [`REFUSED`]. Goldens: `goldens/zoo/` (its README has the regeneration
//! command).

use std::path::PathBuf;

use quantmcu::ir::OpKind;
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, npy, tflite, Graph, ReferenceExecutor};
use quantmcu_rt::plan::MAX_DIM;

/// Every zoo model, in `index.json` order.
const MODELS: [&str; 15] = [
    "conv_kernels",
    "conv_valid_dilated",
    "conv_grouped",
    "depthwise",
    "dense",
    "dense_3d",
    "add_broadcast",
    "pool",
    "pad_concat",
    "mean",
    "softmax",
    "conv_optional_bias",
    "mixed_float_in",
    "depthwise_mult8_180",
    "unaligned_zero_points",
];

/// Zoo models the runtime does not run, with the error compiling their
/// layer-by-layer plan gives.
const REFUSED: [(&str, &str); 7] = [
    (
        "conv_valid_dilated",
        "conv_valid_dilated.tflite: the model has 3 outputs, but the runtime runs models with one output",
    ),
    (
        "depthwise",
        "depthwise.tflite: the model has 2 outputs, but the runtime runs models with one output",
    ),
    (
        "add_broadcast",
        "add_broadcast.tflite: the model has 3 inputs, but the runtime runs models with one input",
    ),
    (
        "pool",
        "pool.tflite: the model has 6 outputs, but the runtime runs models with one output",
    ),
    (
        "pad_concat",
        "pad_concat.tflite: the model has 2 inputs, but the runtime runs models with one input",
    ),
    (
        "mean",
        "mean.tflite: the model has 6 outputs, but the runtime runs models with one output",
    ),
    (
        "softmax",
        "softmax.tflite: the model has 2 outputs, but the runtime runs models with one output",
    ),
];

/// Zoo models with split points: each runs patch plans at every split point
/// for every grid of [`GRIDS`] that tiles it, with the input resident and
/// streamed in turn.
const PATCHED: [&str; 6] = [
    "conv_kernels",
    "conv_grouped",
    "conv_optional_bias",
    "mixed_float_in",
    "depthwise_mult8_180",
    "unaligned_zero_points",
];

/// Patch grids (rows x columns) tried at every split point.
const GRIDS: [[usize; 2]; 3] = [[2, 2], [3, 2], [1, 3]];

/// A zoo model with its goldens.
struct Zoo {
    name: &'static str,
    graph: Graph,
    /// Per stored input: one tensor per graph input, in graph input order.
    feeds: Vec<Vec<TensorData>>,
    /// Tensor index and its golden values stacked over the stored inputs.
    goldens: Vec<(usize, npy::Array)>,
}

impl Zoo {
    fn load(name: &'static str) -> Zoo {
        let zoo = zoo_dir();
        let dir = zoo.join(name);
        let manifest = json(&dir.join("manifest.json"));
        let graph = tflite::load(&zoo.join(format!("{name}.tflite"))).unwrap_or_else(|e| panic!("{e}"));
        let k = manifest["inputs"].as_u64().unwrap() as usize;
        assert!(k >= 1, "{name}: no stored inputs");
        let files: Vec<(usize, npy::Array)> = manifest["input_files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["tensor"].as_u64().unwrap() as usize,
                    npy::read(&dir.join(f["file"].as_str().unwrap())).unwrap(),
                )
            })
            .collect();
        let feeds = (0..k)
            .map(|i| {
                graph
                    .inputs
                    .iter()
                    .map(|&t| {
                        let (_, a) = files
                            .iter()
                            .find(|(ft, _)| *ft == t)
                            .unwrap_or_else(|| panic!("{name}: no input file for graph input {t}"));
                        assert_eq!(a.shape[0], k, "{name}: input file of tensor {t}");
                        row(a, i)
                    })
                    .collect()
            })
            .collect();
        let goldens = manifest["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let t = t.as_u64().unwrap() as usize;
                let a = npy::read(&dir.join(format!("tensors/t{t:03}.npy"))).unwrap();
                assert_eq!(a.shape[0], k, "{name}: golden of tensor {t}");
                (t, a)
            })
            .collect();
        Zoo {
            name,
            graph,
            feeds,
            goldens,
        }
    }

    fn golden(&self, t: usize, i: usize) -> Option<TensorData> {
        self.goldens.iter().find(|(gt, _)| *gt == t).map(|(_, a)| row(a, i))
    }

    /// Asserts that every tensor `values` holds equals its golden for input
    /// `i`, and that the graph outputs are among them; returns how many
    /// values were compared.
    fn assert_exact(&self, values: &[Option<TensorData>], i: usize, what: &str) -> usize {
        let name = self.name;
        for &o in &self.graph.outputs {
            assert!(values[o].is_some(), "{name} ({what}): output tensor {o} not computed");
        }
        let mut compared = 0;
        for (t, v) in values.iter().enumerate() {
            let Some(v) = v else { continue };
            let golden = self
                .golden(t, i)
                .unwrap_or_else(|| panic!("{name} ({what}): tensor {t} has no golden"));
            assert_eq!(
                v, &golden,
                "{name} ({what}): tensor {t} ({}) of input {i} differs from tflite-micro",
                self.graph.tensors[t].name
            );
            compared += v.len();
        }
        compared
    }
}

fn zoo_dir() -> PathBuf {
    assets::repo_root().join("goldens/zoo")
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Row `i` of a stacked `[K, ...]` array.
fn row(a: &npy::Array, i: usize) -> TensorData {
    let n = a.data.len() / a.shape[0];
    let r = i * n..(i + 1) * n;
    match &a.data {
        TensorData::I8(v) => TensorData::I8(v[r].to_vec()),
        TensorData::U8(v) => TensorData::U8(v[r].to_vec()),
        TensorData::F32(v) => TensorData::F32(v[r].to_vec()),
        TensorData::I32(v) => TensorData::I32(v[r].to_vec()),
        TensorData::I64(v) => TensorData::I64(v[r].to_vec()),
    }
}

#[test]
fn index_lists_every_zoo_model() {
    let index = json(&zoo_dir().join("index.json"));
    let listed: Vec<&str> = index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(listed, MODELS);
}

#[test]
fn reference_executor_equals_tflite_micro_on_every_tensor() {
    for name in MODELS {
        let zoo = Zoo::load(name);
        let interp = ReferenceExecutor::new(&zoo.graph).unwrap_or_else(|e| panic!("{e}"));
        for (i, feed) in zoo.feeds.iter().enumerate() {
            let values = interp.run_all(feed).unwrap_or_else(|e| panic!("{e}"));
            for (t, _) in &zoo.goldens {
                assert!(values[*t].is_some(), "{name}: tensor {t} not computed");
            }
            zoo.assert_exact(&values, i, "reference executor");
        }
    }
}

/// Runs every stored input through `runner` and asserts its values exact.
fn run_plan(zoo: &Zoo, runner: &PlanRunner, what: &str) -> usize {
    let mut compared = 0;
    for (i, feed) in zoo.feeds.iter().enumerate() {
        let values = runner
            .run_all(feed)
            .unwrap_or_else(|e| panic!("{} ({what}): {e}", zoo.name));
        assert!(
            values[runner.encoded().output].is_some(),
            "{} ({what}): plan output not returned",
            zoo.name
        );
        compared += zoo.assert_exact(&values, i, what);
    }
    compared
}

#[test]
fn runtime_plans_equal_tflite_micro() {
    let mut layer_based = Vec::new();
    let mut patched = Vec::new();
    for name in MODELS {
        let zoo = Zoo::load(name);
        let interp = ReferenceExecutor::new(&zoo.graph).unwrap_or_else(|e| panic!("{e}"));
        let stages = split_points(&zoo.graph);
        let refused = REFUSED.iter().find(|(m, _)| *m == name).map(|(_, e)| *e);
        match (PlanRunner::new(&interp, None), refused) {
            (Err(e), Some(want)) => {
                assert_eq!(e.to_string(), want, "{name}: layer-by-layer plan");
                for stage in &stages {
                    for grid in GRIDS {
                        if let Some(tp) = Tiling::new(&zoo.graph, stage, grid) {
                            let e = PlanRunner::new(&interp, Some((&tp, InputMode::Streamed)))
                                .err()
                                .unwrap_or_else(|| panic!("{name}: a patch plan compiled, expected \"{want}\""));
                            assert_eq!(e.to_string(), want, "{name}: patch plan");
                        }
                    }
                }
                continue;
            }
            (Ok(_), Some(want)) => panic!("{name}: the layer-by-layer plan compiled, expected \"{want}\""),
            (Err(e), None) => panic!("{name}: layer-by-layer plan: {e}"),
            (Ok(runner), None) => {
                assert!(run_plan(&zoo, &runner, "layer by layer") > 0);
                layer_based.push(name);
            }
        }
        let mut modes = Vec::new();
        for (s, stage) in stages.iter().enumerate() {
            for (g, grid) in GRIDS.into_iter().enumerate() {
                let Some(tp) = Tiling::new(&zoo.graph, stage, grid) else {
                    continue;
                };
                let mode = if (s + g) % 2 == 0 {
                    InputMode::Streamed
                } else {
                    InputMode::Resident
                };
                let what = format!(
                    "patch plan split after op {:?}, grid {}x{}, {mode:?} input",
                    stage.ops.last(),
                    grid[0],
                    grid[1]
                );
                let runner = PlanRunner::new(&interp, Some((&tp, mode))).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(run_plan(&zoo, &runner, &what) > 0);
                modes.push(mode);
            }
        }
        if !modes.is_empty() {
            for mode in [InputMode::Resident, InputMode::Streamed] {
                assert!(modes.contains(&mode), "{name}: no patch plan with {mode:?} input");
            }
            patched.push(name);
        }
    }
    let runnable: Vec<&str> = MODELS
        .into_iter()
        .filter(|m| !REFUSED.iter().any(|(r, _)| r == m))
        .collect();
    assert_eq!(layer_based, runnable);
    assert_eq!(patched, PATCHED);
}

/// The runtime once capped every window at [`MAX_DIM`] values; the MEAN of
/// `depthwise_mult8_180` reads its whole 42x42x16 input as one flat window,
/// so the plans [`runtime_plans_equal_tflite_micro`] runs for it exercise a
/// window longer than that.
#[test]
fn depthwise_mult8_180_mean_reads_a_window_longer_than_max_dim() {
    let zoo = Zoo::load("depthwise_mult8_180");
    let means: Vec<usize> = zoo
        .graph
        .ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Mean { .. }))
        .map(|op| zoo.graph.tensors[op.inputs[0].unwrap()].elements())
        .collect();
    assert_eq!(means, [42 * 42 * 16]);
    assert!(means[0] > MAX_DIM, "{} values, MAX_DIM {MAX_DIM}", means[0]);
}

//! Patch-based int8 equals layer-based int8, bit for bit: on VWW and ResNet-8
//! for every legal split point and every grid 1x1..4x4 (tiles computed from
//! exactly their input windows), through the runtime's tile kernels.

use quantmcu::npy;
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, tflite, ReferenceExecutor};

fn golden_inputs(graph: &quantmcu::Graph, model: &str, n: usize) -> Vec<TensorData> {
    let pixels = npy::read(&assets::repo_root().join("goldens").join(model).join("pixels.npy")).unwrap();
    let TensorData::U8(px) = &pixels.data else {
        panic!("uint8 pixels")
    };
    let per = px.len() / pixels.shape[0];
    (0..n)
        .map(|i| input::pixels_to_input(graph, &px[i * per..(i + 1) * per]).unwrap())
        .collect()
}

fn check_every_split_and_grid(model: &str) {
    let graph = tflite::load(&assets::model(&format!("{model}.tflite")).unwrap()).unwrap();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let inputs = golden_inputs(&graph, model, 2);
    let expected: Vec<_> = inputs
        .iter()
        .map(|x| interp.run_all(std::slice::from_ref(x)).unwrap())
        .collect();
    let stages = split_points(&graph);
    assert!(!stages.is_empty(), "{model}: no split point");
    let mut plans = 0;
    for stage in &stages {
        for p in 1..=4 {
            for q in 1..=4 {
                let Some(plan) = Tiling::new(&graph, stage, [p, q]) else {
                    continue;
                };
                let mode = if (p + q) % 2 == 0 {
                    InputMode::Streamed
                } else {
                    InputMode::Resident
                };
                let runner = PlanRunner::new(&interp, Some((&plan, mode))).unwrap();
                assert_eq!(
                    runner.arena_bytes(),
                    quantmcu::patch::arena::patch_memory(&graph, &plan, mode).peak_bytes
                );
                for (x, want) in inputs.iter().zip(&expected) {
                    let got = runner.run_all(std::slice::from_ref(x)).unwrap();
                    let what = format!("{model}: split after op {} grid {p}x{q}", stage.ops.last().unwrap());
                    let plan_out = runner.encoded().output;
                    assert_eq!(got[plan_out], want[plan_out], "{what}: plan output");
                    for &o in &graph.outputs {
                        assert_eq!(got[o], want[o], "{what}: output");
                    }
                }
                plans += 1;
            }
        }
    }
    eprintln!("{model}: {} split points, {plans} plans, all exact", stages.len());
}

#[test]
fn layer_based_plans_equal_the_reference() {
    for model in ["vww_mobilenetv1", "resnet8_cifar10"] {
        let graph = tflite::load(&assets::model(&format!("{model}.tflite")).unwrap()).unwrap();
        let interp = ReferenceExecutor::new(&graph).unwrap();
        let runner = PlanRunner::new(&interp, None).unwrap();
        let layout = quantmcu::memory::plan_layer_based(&graph);
        assert_eq!(runner.arena_bytes(), layout.arena_bytes);
        if model == "vww_mobilenetv1" {
            assert!(
                layout.buffers.iter().any(|b| b.temp_of.is_some()),
                "depthwise layers run in place"
            );
        }
        for x in golden_inputs(&graph, model, 3) {
            let want = interp.run_all(std::slice::from_ref(&x)).unwrap();
            let got = runner.run_all(std::slice::from_ref(&x)).unwrap();
            for &o in &graph.outputs {
                assert_eq!(got[o], want[o], "{model}");
            }
        }
    }
}

#[test]
fn vww_patch_equals_layer_based() {
    check_every_split_and_grid("vww_mobilenetv1");
}

#[test]
fn resnet8_patch_equals_layer_based() {
    check_every_split_and_grid("resnet8_cifar10");
}

//! Patch-based int8 equals layer-based int8, bit for bit: on VWW and ResNet-8
//! for every legal split point and every grid 1x1..4x4 (tiles computed from
//! exactly their input windows), through the runtime's tile kernels.

use quantmcu::npy;
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, TilePlan};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, tflite, Interpreter};

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
    let interp = Interpreter::new(&graph).unwrap();
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
                let Some(plan) = TilePlan::new(&graph, stage, [p, q]) else {
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
                    let plan_out = runner.compiled().output;
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
        let interp = Interpreter::new(&graph).unwrap();
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

/// Mutated plan bytes (byte flips, huge words, truncation) are rejected by
/// `Plan::parse` or run to completion: the runtime never panics.
#[test]
fn mutated_plans_never_panic() {
    use quantmcu_rt::{interpreter, plan::Plan};
    let graph = tflite::load(&assets::model("vww_mobilenetv1.tflite").unwrap()).unwrap();
    let interp = Interpreter::new(&graph).unwrap();
    let stage = split_points(&graph).into_iter().nth(6).unwrap();
    let plan = TilePlan::new(&graph, &stage, [2, 3]).unwrap();
    let runner = PlanRunner::new(&interp, Some((&plan, InputMode::Streamed))).unwrap();
    let original = runner.compiled().words.clone();
    let input = vec![3i8; graph.tensors[runner.compiled().input].elements()];
    let mut state = 0x9e37_79b9_u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let (mut rejected, mut ran) = (0, 0);
    for _ in 0..800 {
        let mut words = original.clone();
        match next() % 3 {
            0 => {
                let i = next() as usize % words.len();
                words[i] ^= 1 << (next() % 32);
            }
            1 => {
                let i = next() as usize % words.len();
                words[i] = [u32::MAX, 0x8000_0000, 1 << 20, 0][next() as usize % 4];
            }
            _ => words.truncate(next() as usize % words.len()),
        }
        let bytes: &[u8] = bytemuck::cast_slice(&words);
        match Plan::parse(bytes) {
            Err(_) => rejected += 1,
            Ok(p) => {
                let mut arena = vec![0i8; p.arena_bytes().min(1 << 20)];
                let mut out = vec![0i8; p.output_len().min(1 << 20)];
                let _ = interpreter::run(&p, &mut arena, &mut [], &input, &mut out);
                ran += 1;
            }
        }
    }
    assert!(rejected > 150 && ran > 50, "rejected {rejected}, ran {ran}");
}

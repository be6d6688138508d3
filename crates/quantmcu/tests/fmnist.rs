//! The project's reference model (MobileNetV2-style, Fashion-MNIST, int8;
//! `models/fmnist_mobilenetv2_int8.tflite`, trained by `tools/train/`): every
//! output byte of the first 1000 test images equals tflite-micro's
//! (`goldens/fmnist_mobilenetv2/`, made by `tools/goldens/make_fmnist_goldens.py`),
//! so the top-1 accuracy is the same; patch plans over its residual blocks
//! equal the layer-based output.

use quantmcu::dataset::{Dataset, Split};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, npy, tflite, ReferenceExecutor};

fn model() -> quantmcu::Graph {
    let path = assets::repo_root().join("models/fmnist_mobilenetv2_int8.tflite");
    tflite::load(&path).unwrap_or_else(|e| panic!("{e}: the model is committed; train it with tools/train/"))
}

fn test_set(n: usize) -> Dataset {
    let dir = assets::ensure("fashion-mnist").unwrap();
    Dataset::open(&dir.join("fashion-mnist/t10k-images-idx3-ubyte.gz"))
        .unwrap()
        .subset(&Split::first(n))
}

#[test]
fn first_1000_test_images_equal_tflite_micro() {
    let graph = model();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let golden = assets::repo_root().join("goldens/fmnist_mobilenetv2");
    let outputs = npy::read(&golden.join("outputs.npy")).unwrap();
    let TensorData::I8(expected) = outputs.data else {
        panic!("int8 outputs")
    };
    let classes = outputs.shape[1];
    let data = test_set(outputs.shape[0]);
    assert_eq!(data.len(), 1000);
    let (mut ours, mut theirs) = (0, 0);
    for i in 0..data.len() {
        let image = data.get(i).unwrap();
        let out = interp.run(&[image.to_input(&graph).unwrap()]).unwrap();
        let got = out[0].as_i8();
        let want = &expected[i * classes..(i + 1) * classes];
        assert_eq!(got, want, "test image {i}");
        let argmax = |v: &[i8]| (0..v.len()).max_by_key(|&k| (v[k], std::cmp::Reverse(k))).unwrap();
        ours += usize::from(argmax(got) == image.label);
        theirs += usize::from(argmax(want) == image.label);
    }
    assert_eq!(ours, theirs);
    assert!(ours >= 900, "top-1 {ours}/1000 is below 90 %");
}

#[test]
fn patch_plans_over_residual_blocks_equal_layer_based() {
    let graph = model();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let data = test_set(2);
    let inputs: Vec<TensorData> = (0..2).map(|i| data.get(i).unwrap().to_input(&graph).unwrap()).collect();
    let stages = split_points(&graph);
    let (mut plans, mut residual_plans) = (0, 0);
    for stage in &stages {
        let residual = stage.ops.iter().any(|&i| graph.ops[i].kind.name() == "ADD");
        for grid in [[2, 2], [3, 3], [2, 5]] {
            let Some(plan) = Tiling::new(&graph, stage, grid) else {
                continue;
            };
            plans += 1;
            residual_plans += usize::from(residual);
            let runner = PlanRunner::new(&interp, Some((&plan, InputMode::Streamed))).unwrap();
            for x in &inputs {
                let want = interp.run(std::slice::from_ref(x)).unwrap();
                let got = runner.run_all(std::slice::from_ref(x)).unwrap();
                assert_eq!(
                    got[graph.outputs[0]].as_ref(),
                    Some(&want[0]),
                    "split after op {} grid {grid:?}",
                    stage.ops.last().unwrap()
                );
            }
        }
    }
    eprintln!(
        "{} split points, {plans} plans ({residual_plans} over residual blocks), all exact",
        stages.len()
    );
    assert!(
        residual_plans > 0 && plans > residual_plans,
        "{plans} plans ran, {residual_plans} of them over residual blocks: expected plans with and without an ADD inside the stage"
    );
}

//! Bit-exactness against tflite-micro: every output byte of the 40 golden
//! images (20 CIFAR-10 on ResNet-8, 20 ImageNet at 96x96 on VWW) and every
//! intermediate tensor of ResNet-8. Goldens: `goldens/` (see its README for the
//! script and command that produced them).

use std::path::PathBuf;

use quantmcu::npy;
use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, tflite, ReferenceExecutor};

fn golden_dir(model: &str) -> PathBuf {
    assets::repo_root().join("goldens").join(model)
}

/// Row `i` of a stacked `[N, ...]` array.
fn row(a: &npy::Array, i: usize) -> TensorData {
    let n = a.data.len() / a.shape[0];
    match &a.data {
        TensorData::I8(v) => TensorData::I8(v[i * n..(i + 1) * n].to_vec()),
        TensorData::U8(v) => TensorData::U8(v[i * n..(i + 1) * n].to_vec()),
        TensorData::F32(v) => TensorData::F32(v[i * n..(i + 1) * n].to_vec()),
        TensorData::I32(v) => TensorData::I32(v[i * n..(i + 1) * n].to_vec()),
        TensorData::I64(v) => TensorData::I64(v[i * n..(i + 1) * n].to_vec()),
    }
}

fn check_model(name: &str) -> usize {
    let dir = golden_dir(name);
    let graph = tflite::load(&assets::model(&format!("{name}.tflite")).unwrap()).unwrap();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let pixels = npy::read(&dir.join("pixels.npy")).unwrap();
    let outputs = npy::read(&dir.join("outputs.npy")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let intermediates: Vec<(usize, npy::Array)> = manifest["intermediates"]["tensors"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let t = t.as_u64().unwrap() as usize;
                    (t, npy::read(&dir.join(format!("tensors/t{t:03}.npy"))).unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    let n = pixels.shape[0];
    assert_eq!(n, 20, "{name}: expected 20 golden images");
    let mut compared = 0;
    for i in 0..n {
        let TensorData::U8(px) = row(&pixels, i) else {
            panic!("pixels are uint8")
        };
        let x = input::pixels_to_input(&graph, &px).unwrap();
        let values = interp.run_all(&[x]).unwrap();
        let got = values[graph.outputs[0]].as_ref().unwrap();
        assert_eq!(
            got,
            &row(&outputs, i),
            "{name}: output of image {i} differs from tflite-micro"
        );
        compared += got.len();
        for (t, golden) in &intermediates {
            let got = values[*t].as_ref().unwrap();
            assert_eq!(
                got,
                &row(golden, i),
                "{name}: tensor {t} of image {i} differs from tflite-micro"
            );
            compared += got.len();
        }
    }
    compared
}

#[test]
fn resnet8_every_tensor_equals_tflite_micro() {
    let n = check_model("resnet8_cifar10");
    assert!(n > 20 * 10, "compared {n} values");
}

#[test]
fn vww_outputs_equal_tflite_micro() {
    check_model("vww_mobilenetv1");
}

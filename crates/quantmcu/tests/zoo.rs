//! Bit-exactness against tflite-micro on the op zoo: small generated models
//! that together cover every supported op and option (kernel sizes, strides,
//! SAME/VALID, dilation, groups, depth multipliers, broadcasting, pools over
//! the border, PAD, MEAN over several axes, CONCATENATION, SOFTMAX,
//! QUANTIZE/DEQUANTIZE). Every tensor an op writes is compared for 3 inputs.
//! Goldens: `goldens/zoo/` (its README has the regeneration command).

use quantmcu::npy;
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, Interpreter};

fn slice(a: &npy::Array, i: usize) -> TensorData {
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
fn every_zoo_tensor_equals_tflite_micro() {
    let zoo = assets::repo_root().join("goldens/zoo");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(zoo.join("index.json")).unwrap()).unwrap();
    let models: Vec<&str> = index["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(models.len() >= 10);
    let mut compared = 0usize;
    for name in models {
        let dir = zoo.join(name);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
        let graph = tflite::load(&zoo.join(format!("{name}.tflite"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        let interp = Interpreter::new(&graph).unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs: Vec<(usize, npy::Array)> = manifest["input_files"]
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
        let k = manifest["inputs"].as_u64().unwrap() as usize;
        let tensors: Vec<(usize, npy::Array)> = manifest["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let t = t.as_u64().unwrap() as usize;
                (t, npy::read(&dir.join(format!("tensors/t{t:03}.npy"))).unwrap())
            })
            .collect();
        for i in 0..k {
            let feed: Vec<TensorData> = graph
                .inputs
                .iter()
                .map(|&t| {
                    slice(
                        &inputs
                            .iter()
                            .find(|(it, _)| *it == t)
                            .expect("an input file per graph input")
                            .1,
                        i,
                    )
                })
                .collect();
            let values = interp.run_all(&feed).unwrap();
            for (t, golden) in &tensors {
                let got = values[*t]
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: tensor {t} not computed"));
                assert_eq!(
                    got,
                    &slice(golden, i),
                    "{name}: tensor {t} ({}) of input {i}",
                    graph.tensors[*t].name
                );
                compared += got.len();
            }
        }
    }
    eprintln!("compared {compared} values");
}

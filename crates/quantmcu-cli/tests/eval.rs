//! `quantmcu eval` end to end: the accuracy on the foolbox CIFAR-10 images
//! equals tflite-micro's (from the golden outputs), IDX data runs through the
//! same path, and bad data gives clear errors.

use std::process::{Command, Output};

use quantmcu::{assets, npy};

fn quantmcu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantmcu"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// tflite-micro's top-1 on the golden images: argmax of its outputs (ties to
/// the lowest index) against the manifest labels.
fn tflite_micro_top1(model: &str) -> (usize, usize) {
    let golden = assets::repo_root().join("goldens").join(model);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden.join("manifest.json")).unwrap()).unwrap();
    let labels: Vec<u64> = manifest["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_u64().unwrap())
        .collect();
    let outputs = npy::read(&golden.join("outputs.npy")).unwrap();
    let values = outputs.data.to_f64();
    let rows: Vec<&[f64]> = values.chunks(values.len() / outputs.shape[0]).collect();
    assert_eq!(rows.len(), labels.len());
    let correct = rows
        .iter()
        .zip(&labels)
        .filter(|(row, &label)| {
            let best = (0..row.len()).fold(0, |b, c| if row[c] > row[b] { c } else { b });
            best as u64 == label
        })
        .count();
    (correct, labels.len())
}

#[test]
fn eval_json_equals_tflite_micro_top1_on_cifar10() {
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let data = assets::ensure("foolbox").unwrap().join("foolbox");
    let out = quantmcu(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--set",
        "cifar10",
        "--json",
    ]);
    let json = json_of(&out);
    let (correct, images) = tflite_micro_top1("resnet8_cifar10");
    assert_eq!(json["images"], images);
    assert_eq!(json["top1"].as_f64().unwrap(), correct as f64 / images as f64);
    let top5 = json["top5"].as_f64().unwrap();
    assert!(top5 >= json["top1"].as_f64().unwrap() && top5 <= 1.0);
    assert!(json["images_per_second"].as_f64().unwrap() > 0.0);
    let per_class = json["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    let counted: u64 = per_class.iter().map(|c| c["images"].as_u64().unwrap()).sum();
    assert_eq!(counted, images as u64);
    assert!(per_class.iter().enumerate().all(|(i, c)| c["class"] == i));
    let confusion = json["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let diagonal: u64 = confusion.iter().enumerate().map(|(i, r)| r[i].as_u64().unwrap()).sum();
    assert_eq!(diagonal, correct as u64);
}

#[test]
fn eval_prints_accuracy_tables_and_throughput() {
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let data = assets::ensure("foolbox").unwrap().join("foolbox");
    let out = quantmcu(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--set",
        "cifar10",
        "--limit",
        "10",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "10 images",
        "top-1",
        "top-5",
        "confusion matrix",
        "images/s",
        "set cifar10",
    ] {
        assert!(text.contains(needle), "missing '{needle}' in:\n{text}");
    }
}

/// A folder of two sets: `eval` without `--set` evaluates both, set by set
/// (and the comparison path, `--mirror`, per set); `--set` narrows it.
#[test]
fn eval_uses_every_set_unless_set_narrows() {
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let m = model.to_str().unwrap();
    let foolbox = assets::ensure("foolbox").unwrap().join("foolbox");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&foolbox).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(rest) = name.strip_prefix("cifar10_") {
            std::os::unix::fs::symlink(foolbox.join(&name), dir.path().join(&name)).unwrap();
            std::os::unix::fs::symlink(foolbox.join(&name), dir.path().join(format!("again_{rest}"))).unwrap();
        }
    }
    let data = dir.path().to_str().unwrap();
    let (correct, images) = tflite_micro_top1("resnet8_cifar10");
    let both = json_of(&quantmcu(&["eval", m, "--data", data, "--json"]));
    assert_eq!(both["images"], 2 * images);
    assert_eq!(both["top1"].as_f64().unwrap(), correct as f64 / images as f64);
    let one = json_of(&quantmcu(&["eval", m, "--data", data, "--set", "again", "--json"]));
    assert_eq!(one["images"], images);
    let text = String::from_utf8(quantmcu(&["eval", m, "--data", data]).stdout).unwrap();
    assert!(text.contains("sets again, cifar10"), "{text}");
    // The comparison path reads the first N images of each set.
    let mirrored = json_of(&quantmcu(&[
        "eval", m, "--data", data, "--mirror", "--limit", "3", "--json",
    ]));
    assert_eq!(mirrored["images"], 2 * 2 * 3);
}

#[test]
fn eval_reads_fashion_mnist_idx() {
    // 28x28 grayscale through ResNet-8's 32x32x3 input: the data path runs
    // (the accuracy of a CIFAR-10 model on clothes is meaningless).
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let data = assets::ensure("fashion-mnist")
        .unwrap()
        .join("fashion-mnist/t10k-images-idx3-ubyte.gz");
    let out = quantmcu(&[
        "eval",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--limit",
        "64",
        "--json",
    ]);
    let json = json_of(&out);
    assert_eq!(json["images"], 64);
    let confusion: u64 = json["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(confusion, 64);
}

#[test]
fn eval_bad_data_gives_clear_errors() {
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let model = model.to_str().unwrap();
    let data = assets::ensure("foolbox").unwrap().join("foolbox");
    let data = data.to_str().unwrap();
    let check = |args: &[&str], expect: &[&str]| {
        let out = quantmcu(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{err}");
        for e in expect {
            assert!(err.contains(e), "missing '{e}' in: {err}");
        }
    };
    check(
        &["eval", model, "--data", data, "--set", "cifar100"],
        &["cifar100_00_49.png", "label 49", "10 classes"],
    );
    // Without --set every set is evaluated: CIFAR-100's labels do not fit.
    check(&["eval", model, "--data", data], &["cifar100_00_49.png", "label 49"]);
    check(&["eval", model, "--data", data, "--set", "svhn"], &["no set 'svhn'"]);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("x-images-idx3-ubyte");
    std::fs::write(&bad, [0u8, 0, 8, 3, 0, 0, 0, 1]).unwrap();
    std::fs::write(dir.path().join("x-labels-idx1-ubyte"), [0u8, 0, 8, 1, 0, 0, 0, 1, 0]).unwrap();
    check(
        &["eval", model, "--data", bad.to_str().unwrap()],
        &["x-images-idx3-ubyte", "truncated IDX header"],
    );
}

//! Data set loaders: IDX round trips (raw and gzip) and hostile headers,
//! class folders, the foolbox-style folder against the golden pixels and
//! labels, Fashion-MNIST's test set, reproducible splits, and preprocessing
//! through the one input path.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use quantmcu::dataset::{self, Dataset, Kind, Split};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, npy, tflite, ReferenceExecutor};

/// Bytes of an IDX file of unsigned bytes.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Five 3-row x 4-column images with pixel `(i * 31 + k) % 256` and label `i % 3`.
fn sample() -> (Vec<u8>, Vec<u8>) {
    let pixels = (0..5 * 12).map(|k| ((k / 12) * 31 + k % 12) as u8).collect();
    let labels = (0..5).map(|i| (i % 3) as u8).collect();
    (pixels, labels)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn check_sample(d: &Dataset) {
    let (pixels, labels) = sample();
    assert_eq!(d.kind(), Kind::Idx);
    assert_eq!(d.len(), 5);
    for (i, img) in d.iter().enumerate() {
        let img = img.unwrap();
        assert_eq!((img.width, img.height, img.channels), (4, 3, 1));
        assert_eq!(img.pixels, &pixels[i * 12..(i + 1) * 12]);
        assert_eq!(img.label, usize::from(labels[i]));
        assert_eq!(d.label(i), img.label);
        assert!(img.name.ends_with(&format!("#{i}")), "{}", img.name);
    }
}

#[test]
fn idx_round_trip_raw_and_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let (pixels, labels) = sample();
    let images = idx_bytes(&[5, 3, 4], &pixels);
    let labels = idx_bytes(&[5], &labels);

    // Raw.
    let raw = dir.path().join("raw-images-idx3-ubyte");
    write(&raw, &images);
    write(&dir.path().join("raw-labels-idx1-ubyte"), &labels);
    check_sample(&Dataset::open(&raw).unwrap());

    // Gzip, both files.
    let gz = dir.path().join("gz-images-idx3-ubyte.gz");
    write(&gz, &gzip(&images));
    write(&dir.path().join("gz-labels-idx1-ubyte.gz"), &gzip(&labels));
    check_sample(&Dataset::open(&gz).unwrap());

    // Compressed images beside raw labels: the `.gz`-less name is found too.
    let mixed = dir.path().join("mixed-images-idx3-ubyte.gz");
    write(&mixed, &gzip(&images));
    write(&dir.path().join("mixed-labels-idx1-ubyte"), &labels);
    assert_eq!(
        dataset::idx_labels_path(&mixed).unwrap(),
        dir.path().join("mixed-labels-idx1-ubyte")
    );
    check_sample(&Dataset::open(&mixed).unwrap());

    // Gzip detected from the content, whatever the name says.
    let misnamed = dir.path().join("misnamed-images-idx3-ubyte");
    write(&misnamed, &gzip(&images));
    write(&dir.path().join("misnamed-labels-idx1-ubyte"), &labels);
    check_sample(&Dataset::open(&misnamed).unwrap());

    // Splits are views in the chosen order.
    let d = Dataset::open(&raw).unwrap();
    let s = d.subset(&Split::range(1, 2));
    assert_eq!(s.len(), 2);
    assert_eq!(s.get(0).unwrap(), d.get(1).unwrap());
    assert_eq!(s.name(1), d.name(2));
}

/// Writes `images` (raw or gzip) beside valid labels for 5 images and returns
/// the error message of opening it.
fn open_err(dir: &Path, tag: &str, images: &[u8], labels: &[u8]) -> String {
    let path = dir.join(format!("{tag}-images-idx3-ubyte"));
    write(&path, images);
    write(&dir.join(format!("{tag}-labels-idx1-ubyte")), labels);
    let err = Dataset::open(&path).expect_err(tag).to_string();
    assert!(err.contains(tag), "{tag}: the error does not name the file: {err}");
    err
}

#[test]
fn hostile_idx_headers_give_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (pixels, labels) = sample();
    let good_labels = idx_bytes(&[5], &labels);
    let good = idx_bytes(&[5, 3, 4], &pixels);

    let mut bad_magic = good.clone();
    bad_magic[0] = 0x50;
    assert!(open_err(d, "magic", &bad_magic, &good_labels).contains("not an IDX file"));
    let mut float = good.clone();
    float[2] = 0x0d;
    assert!(open_err(d, "float", &float, &good_labels).contains("data type 0x0d"));
    let two_dims = idx_bytes(&[5, 12], &pixels);
    assert!(open_err(d, "dims", &two_dims, &good_labels).contains("2 dimensions, expected 3"));
    assert!(open_err(d, "truncated", &good[..10], &good_labels).contains("truncated IDX header"));
    assert!(open_err(d, "empty", &[], &good_labels).contains("truncated IDX header"));

    // Declared sizes that the data does not back: raw files are checked
    // against their length before reading, compressed ones while reading.
    let huge = idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &pixels);
    assert!(open_err(d, "huge", &huge, &good_labels).contains("limit"));
    assert!(open_err(d, "hugegz", &gzip(&huge), &good_labels).contains("limit"));
    let big = idx_bytes(&[60_000, 28, 28], &pixels);
    assert!(open_err(d, "big", &big, &good_labels).contains("but the file holds 60"));
    assert!(open_err(d, "biggz", &gzip(&big), &good_labels).contains("but the file holds 60"));
    let mut long = good.clone();
    long.push(0);
    assert!(open_err(d, "long", &long, &good_labels).contains("but the file holds 61"));
    assert!(open_err(d, "longgz", &gzip(&long), &good_labels).contains("holds more"));
    let zero = idx_bytes(&[5, 0, 4], &[]);
    assert!(open_err(d, "zero", &zero, &good_labels).contains("0 x 4 pixels"));
    assert!(open_err(d, "corruptgz", &gzip(&good)[..30], &good_labels).contains("IDX"));

    // Labels: wrong count, wrong rank, missing, or given instead of images.
    let four_labels = idx_bytes(&[4], &labels[..4]);
    assert!(open_err(d, "count", &good, &four_labels).contains("holds 4 labels"));
    assert!(open_err(d, "rank", &good, &idx_bytes(&[5, 1], &labels)).contains("2 dimensions, expected 1"));
    let lonely = d.join("lonely-images-idx3-ubyte");
    write(&lonely, &good);
    let err = Dataset::open(&lonely).unwrap_err().to_string();
    assert!(
        err.contains("lonely-labels-idx1-ubyte") && err.contains("not found"),
        "{err}"
    );
    let err = Dataset::open(&d.join("count-labels-idx1-ubyte"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is an IDX labels file"), "{err}");
    let plain = d.join("plain.bin");
    write(&plain, &good);
    let err = Dataset::open(&plain).unwrap_err().to_string();
    assert!(err.contains("plain.bin") && err.contains("-labels-idx1-"), "{err}");
    assert!(Dataset::open(&d.join("missing-images-idx3-ubyte")).is_err());
    // A set name only applies to foolbox-style folders.
    let err = Dataset::open_set(&d.join("magic-images-idx3-ubyte"), Some("cifar10")).unwrap_err();
    assert!(err.to_string().contains("applies only"), "{err}");
    // A folder of IDX files names the images files to choose from.
    let err = Dataset::open(d).unwrap_err().to_string();
    assert!(
        err.contains("folder of IDX files") && err.contains("magic-images-idx3-ubyte"),
        "{err}"
    );
}

fn png(path: &Path, w: u32, h: u32, value: u8) {
    image::GrayImage::from_pixel(w, h, image::Luma([value]))
        .save(path)
        .unwrap();
}

#[test]
fn class_folder_indexes_sorted_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    for (class, files) in [("dog", vec!["b.png", "a.png"]), ("cat", vec!["x.png"]), ("emu", vec![])] {
        let sub = dir.path().join(class);
        std::fs::create_dir(&sub).unwrap();
        for (k, f) in files.iter().enumerate() {
            png(&sub.join(f), 5, 4, 10 * k as u8);
        }
        std::fs::write(sub.join("notes.txt"), "not an image").unwrap();
    }
    std::fs::create_dir(dir.path().join(".hidden")).unwrap();
    let rgb = dir.path().join("cat/y.jpg");
    image::RgbImage::from_pixel(6, 2, image::Rgb([200, 10, 10]))
        .save(&rgb)
        .unwrap();

    let d = Dataset::open(dir.path()).unwrap();
    assert_eq!(d.kind(), Kind::ClassFolder);
    assert_eq!(d.class_names().unwrap(), ["cat", "dog", "emu"]);
    let items: Vec<(String, usize)> = d.iter().map(|i| i.unwrap()).map(|i| (i.name, i.label)).collect();
    assert_eq!(
        items,
        [
            ("cat/x.png".to_string(), 0),
            ("cat/y.jpg".to_string(), 0),
            ("dog/a.png".to_string(), 1),
            ("dog/b.png".to_string(), 1)
        ]
    );
    let gray = d.get(0).unwrap();
    assert_eq!(
        (gray.width, gray.height, gray.channels, gray.pixels.len()),
        (5, 4, 1, 20)
    );
    let color = d.get(1).unwrap();
    assert_eq!((color.width, color.height, color.channels), (6, 2, 3));
    assert!(Dataset::open_set(dir.path(), Some("cat")).is_err());
}

fn resnet8() -> (PathBuf, quantmcu::Graph) {
    let path = assets::model("resnet8_cifar10.tflite").unwrap();
    let graph = tflite::load(&path).unwrap();
    (path, graph)
}

#[test]
fn foolbox_folder_matches_the_golden_pixels_and_labels() {
    let dir = assets::ensure("foolbox").unwrap().join("foolbox");
    let golden = assets::repo_root().join("goldens/resnet8_cifar10");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(golden.join("manifest.json")).unwrap()).unwrap();
    let expected: Vec<(String, usize)> = manifest["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["file"].as_str().unwrap().to_owned(),
                i["label"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let pixels = npy::read(&golden.join("pixels.npy")).unwrap();
    let TensorData::U8(px) = &pixels.data else {
        panic!("uint8 pixels")
    };

    let d = Dataset::open_set(&dir, Some("cifar10")).unwrap();
    assert_eq!((d.kind(), d.sets()), (Kind::Foolbox, &["cifar10".to_string()][..]));
    assert_eq!(d.len(), 20);
    let (_, graph) = resnet8();
    for (i, img) in d.iter().enumerate() {
        let img = img.unwrap();
        assert_eq!((img.name.clone(), img.label), expected[i]);
        assert_eq!((img.width, img.height, img.channels), (32, 32, 3));
        assert_eq!(img.pixels, &px[i * 3072..(i + 1) * 3072], "{}", img.name);
        // The data set path and `quantmcu run`'s image path agree.
        let via_run = input::load(&graph, &dir.join(&img.name)).unwrap();
        assert_eq!(img.to_input(&graph).unwrap(), via_run);
    }

    // `cifar10` does not take `cifar100`; without a set name, every set,
    // set by set in name order.
    let cifar100 = Dataset::open_set(&dir, Some("cifar100")).unwrap();
    assert_eq!(cifar100.len(), 20);
    let all = Dataset::open(&dir).unwrap();
    let sets: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .map(|n| n[..n.rfind('_').unwrap()].rsplit_once('_').unwrap().0.to_string())
        .collect();
    assert!(sets.len() > 2, "{sets:?}");
    assert_eq!(all.sets(), sets.iter().cloned().collect::<Vec<_>>());
    assert_eq!(all.len(), std::fs::read_dir(&dir).unwrap().count());
    assert_eq!(
        (0..20).map(|i| all.name(i)).collect::<Vec<_>>(),
        (0..20).map(|i| d.name(i)).collect::<Vec<_>>()
    );
    assert_eq!(all.name(20), cifar100.name(0));
    let err = Dataset::open_set(&dir, Some("cifar")).unwrap_err().to_string();
    assert!(err.contains("no set 'cifar'"), "{err}");
}

#[test]
fn evaluate_rejects_labels_outside_the_model_classes() {
    let dir = assets::ensure("foolbox").unwrap().join("foolbox");
    let (_, graph) = resnet8();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let d = Dataset::open_set(&dir, Some("cifar100")).unwrap();
    let err = dataset::evaluate(&graph, &d, |x| interp.run(x), &|| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("cifar100_00_49.png") && err.contains("label 49"), "{err}");

    // In range: the library evaluation gives tflite-micro's 18 of 20.
    let d = Dataset::open_set(&dir, Some("cifar10")).unwrap();
    let count = std::sync::atomic::AtomicUsize::new(0);
    let ev = dataset::evaluate(&graph, &d, |x| interp.run(x), &|| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!((ev.images, ev.top1_correct, ev.classes), (20, 18, 10));
    assert_eq!(count.into_inner(), 20);
    assert_eq!(ev.confusion.iter().flatten().sum::<usize>(), 20);
    assert_eq!(ev.per_class().iter().map(|c| c.correct).sum::<usize>(), 18);
}

#[test]
fn fashion_mnist_test_set_loads() {
    let path = assets::ensure("fashion-mnist")
        .unwrap()
        .join("fashion-mnist/t10k-images-idx3-ubyte.gz");
    let d = Dataset::open(&path).unwrap();
    assert_eq!(d.len(), 10_000);
    let mut per_class = [0usize; 10];
    for i in 0..d.len() {
        per_class[d.label(i)] += 1;
    }
    assert_eq!(per_class, [1000; 10]);
    let img = d.get(9_999).unwrap();
    assert_eq!(
        (img.width, img.height, img.channels, img.pixels.len()),
        (28, 28, 1, 784)
    );
    assert_eq!(img.name, "t10k-images-idx3-ubyte.gz#9999");
}

#[test]
fn grayscale_images_go_through_the_one_input_path() {
    // 28x28 luma into resnet8's 32x32x3 input: converted and resized exactly
    // as an image file would be.
    let (_, graph) = resnet8();
    let pixels: Vec<u8> = (0..28 * 28).map(|k| (k * 7 % 256) as u8).collect();
    let img = image::GrayImage::from_raw(28, 28, pixels.clone()).unwrap();
    let expected = input::from_image(&graph, &image::DynamicImage::ImageLuma8(img)).unwrap();
    assert_eq!(input::from_pixels(&graph, &pixels, 28, 28, 1).unwrap(), expected);
    assert_eq!(expected.len(), 32 * 32 * 3);
    assert!(input::from_pixels(&graph, &pixels, 28, 27, 1).is_err());
    assert!(input::from_pixels(&graph, &pixels, 28, 14, 2).is_ok());
    assert!(input::from_pixels(&graph, &pixels, 14, 14, 5).is_err());
}

#[test]
fn splits_are_reproducible() {
    assert_eq!(Split::first(3).indices(10), [0, 1, 2]);
    assert_eq!(Split::first(30).indices(10).len(), 10);
    assert_eq!(Split::range(8, 5).indices(10), [8, 9]);
    assert!(Split::range(12, 5).indices(10).is_empty());
    assert_eq!(Split::all().indices(4), [0, 1, 2, 3]);
    // The documented permutation, pinned: recorded results depend on it.
    let p = Split::all().shuffled(1).indices(10);
    assert_eq!(p, PINNED_SEED1_LEN10);
    let mut sorted = p.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    assert_ne!(Split::all().shuffled(2).indices(10), p);
    // Disjoint ranges of one permutation are disjoint subsets.
    let a = Split::range(0, 400).shuffled(7).indices(1000);
    let b = Split::range(400, 600).shuffled(7).indices(1000);
    assert!(a.iter().all(|i| !b.contains(i)));
    assert_eq!(a.len() + b.len(), 1000);
}

/// Computed independently (Python) from the algorithm documented on `Split`.
const PINNED_SEED1_LEN10: [usize; 10] = [2, 5, 1, 8, 0, 3, 4, 7, 6, 9];

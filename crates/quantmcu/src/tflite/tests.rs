//! The reader on scalar vectors whose elements are not aligned to their size,
//! and its error sentences.

use flatbuffers::{Follow, Vector, Verifiable, Verifier, VerifierOptions};

use super::schema::{self, Scalars};
use super::{load, parse};
use crate::assets;

fn zoo_model(name: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = assets::repo_root().join("goldens/zoo").join(name);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// A 4-byte aligned length prefix (2) followed by two int64 values, which so
/// start 4 bytes past an 8-byte boundary.
fn unaligned_i64_vector() -> Vec<u8> {
    let mut buf = 2u32.to_le_bytes().to_vec();
    buf.extend((-3i64).to_le_bytes());
    buf.extend(i64::MAX.to_le_bytes());
    buf
}

#[test]
fn scalars_read_int64_elements_at_4_mod_8() {
    let buf = unaligned_i64_vector();
    let opts = VerifierOptions::default();
    assert!(Scalars::<i64>::run_verifier(&mut Verifier::new(&opts, &buf), 0).is_ok());
    // The flatbuffers crate's own vector verifier wants 8-byte aligned elements.
    let err = Vector::<i64>::run_verifier(&mut Verifier::new(&opts, &buf), 0).unwrap_err();
    assert!(
        err.to_string().starts_with("Type `i64` at position 4 is unaligned."),
        "{err}"
    );
    // SAFETY: verified just above.
    let v = unsafe { Scalars::<i64>::follow(&buf, 0) };
    assert_eq!(v.len(), 2);
    assert_eq!(v.iter().collect::<Vec<_>>(), [-3, i64::MAX]);
}

#[test]
fn scalars_past_the_end_fail_verification() {
    let mut buf = unaligned_i64_vector();
    buf[0] = 3; // one element more than the buffer holds
    let opts = VerifierOptions::default();
    let err = Scalars::<i64>::run_verifier(&mut Verifier::new(&opts, &buf), 0).unwrap_err();
    assert!(err.to_string().starts_with("Range [4, 28) is out of bounds."), "{err}");
    // A length prefix that is not 4-byte aligned is refused as before.
    let mut shifted = vec![0u8; 2];
    shifted.extend(unaligned_i64_vector());
    let err = Scalars::<i64>::run_verifier(&mut Verifier::new(&opts, &shifted), 2).unwrap_err();
    assert!(
        err.to_string().starts_with("Type `u32` at position 2 is unaligned."),
        "{err}"
    );
}

#[test]
fn zero_points_at_4_mod_8_load() {
    let (path, bytes) = zoo_model("unaligned_zero_points.tflite");
    let model = schema::model_root(&bytes).unwrap();
    let base = bytes.as_ptr() as usize;
    let mut positions = Vec::new();
    for t in model.subgraphs().unwrap().get(0).tensors().unwrap().iter() {
        if let Some(z) = t.quantization().and_then(|q| q.zero_point()).filter(|z| !z.is_empty()) {
            positions.push(z.bytes().as_ptr() as usize - base);
        }
    }
    assert_eq!(positions.len(), 11, "zero_point vectors in the model");
    assert!(positions.iter().all(|p| p % 8 == 4), "{positions:?}");
    let graph = load(&path).unwrap();
    let per_channel: Vec<usize> = graph
        .tensors
        .iter()
        .filter_map(|t| t.quant.as_ref())
        .map(|q| q.zero_point.len())
        .filter(|&n| n > 1)
        .collect();
    assert_eq!(
        per_channel,
        [8, 8, 4, 4],
        "per-channel zero points: depthwise and conv filters and biases"
    );
}

#[test]
fn a_bad_file_identifier_is_shown_escaped() {
    let (_, mut bytes) = zoo_model("dense.tflite");
    bytes[4..8].copy_from_slice(b"\x00\xffT\n");
    let err = parse(&bytes, "dense.tflite").unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"dense.tflite: not a valid TFLite flatbuffer: the file identifier (bytes 4..8) is "\x00\xffT\n", expected "TFL3"; is this a .tflite file?"#
    );
}

#[test]
fn verifier_errors_are_one_sentence() {
    let (_, bytes) = zoo_model("dense.tflite");
    let err = parse(&bytes[..bytes.len() / 2], "dense.tflite")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("dense.tflite: not a valid TFLite flatbuffer: "),
        "{err}"
    );
    assert!(!err.contains('\n') && !err.contains('\t'), "{err:?}");
    assert!(err.contains("while verifying"), "{err}");
}

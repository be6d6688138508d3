//! Minimal `.npy` (NumPy array file, format versions 1-3) reading and writing
//! for little-endian `float32`, `int8`, `uint8`, `int32` and `int64` arrays in
//! C order.

use std::io::Write;
use std::path::Path;

use crate::ir::DType;
use crate::tensor::TensorData;
use crate::{Error, Result};

/// Largest array accepted, in bytes.
const MAX_BYTES: usize = 1 << 30;

/// An array read from a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// Reads the `.npy` file at `path`.
pub fn read(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Parses the bytes of a `.npy` file.
pub fn parse(bytes: &[u8]) -> std::result::Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (header_len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(&bytes[start..end]).map_err(|_| "header is not text")?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or(format!("header has no '{key}'"))?;
        let rest = header[at + key.len() + 2..].trim_start();
        Ok(rest.strip_prefix(':').ok_or(format!("malformed '{key}'"))?.trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .get(1..)
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed descr")?;
    let dtype = match descr {
        "<f4" => DType::F32,
        "|i1" | "<i1" | "i1" => DType::I8,
        "|u1" | "<u1" | "u1" => DType::U8,
        "<i4" => DType::I32,
        "<i8" => DType::I64,
        d => {
            return Err(format!(
                "dtype '{d}' is not supported (float32, int8, uint8, int32, int64 are)"
            ))
        }
    };
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    let shape_text = field("shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad dimension '{s}'")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n.saturating_mul(dtype.size()) <= MAX_BYTES);
    let n = n.ok_or(format!("shape {shape:?} is too large"))?;
    let body = &bytes[end..];
    if body.len() != n * dtype.size() {
        return Err(format!(
            "shape {shape:?} of {} needs {} data bytes, file has {}",
            dtype.name(),
            n * dtype.size(),
            body.len()
        ));
    }
    Ok(Array {
        shape,
        data: TensorData::from_le_bytes(dtype, body),
    })
}

/// The bytes of a version-1 `.npy` file holding `data` with `shape`.
pub fn to_bytes(shape: &[usize], data: &TensorData) -> Vec<u8> {
    let descr = match data.dtype() {
        DType::F32 => "<f4",
        DType::I8 => "|i1",
        DType::U8 => "|u1",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
    };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match data {
        TensorData::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I8(v) => out.extend(v.iter().map(|&x| x as u8)),
        TensorData::U8(v) => out.extend_from_slice(v),
        TensorData::I32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// Writes `data` with `shape` as a `.npy` file.
pub fn write(path: &Path, shape: &[usize], data: &TensorData) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(&to_bytes(shape, data)))
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        let cases = [
            TensorData::F32(vec![1.5, -2.0, 0.25, 7.0, 8.0, 9.0]),
            TensorData::I8(vec![-128, 127, 0, 1, 2, 3]),
            TensorData::U8(vec![0, 255, 1, 2, 3, 4]),
            TensorData::I32(vec![i32::MIN, i32::MAX, 0, 1, 2, 3]),
            TensorData::I64(vec![i64::MIN, 5, 0, 1, 2, 3]),
        ];
        for data in cases {
            let a = parse(&to_bytes(&[2, 3], &data)).unwrap();
            assert_eq!(
                a,
                Array {
                    shape: vec![2, 3],
                    data
                }
            );
        }
    }

    #[test]
    fn rejects_bad_files() {
        assert!(parse(b"hello").is_err());
        let mut b = to_bytes(&[4], &TensorData::I8(vec![1, 2, 3, 4]));
        b.pop();
        assert!(parse(&b).unwrap_err().contains("data bytes"));
        let huge = to_bytes(&[4], &TensorData::I8(vec![1, 2, 3, 4]));
        let text = String::from_utf8_lossy(&huge).replace("(4,)", "(99999999999999,)");
        assert!(parse(text.as_bytes()).is_err());
    }
}

//! IDX files (the MNIST layout): a big-endian header `00 00 08 ndims`, `ndims`
//! big-endian u32 sizes, then the unsigned bytes in C order. Images are
//! `N x rows x cols` (`*-images-idx3-ubyte`), labels `N` (`*-labels-idx1-ubyte`),
//! each raw or gzip-compressed (detected from the content, not the name).
//!
//! Hostile headers cannot cause large allocations: a raw file's declared size
//! must equal its length before anything is read, and a compressed file is
//! read incrementally, at most one byte past its declared size (itself capped
//! at [`MAX_BYTES`]).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Largest data section accepted in an IDX file (1 GiB; Fashion-MNIST's
/// training images are 47 MB).
pub const MAX_BYTES: u64 = 1 << 30;

/// The data type code of unsigned bytes, the only one accepted.
const UBYTE: u8 = 0x08;

/// A parsed IDX file.
pub(crate) struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

fn err(path: &Path, detail: impl std::fmt::Display) -> Error {
    Error::Input(format!("{}: {detail}", path.display()))
}

/// Reads an IDX file of unsigned bytes with exactly `ndims` dimensions.
pub(crate) fn read(path: &Path, ndims: usize) -> Result<Idx> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut reader = BufReader::new(file);
    let gz = {
        use std::io::BufRead;
        reader.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b])
    };
    if gz {
        let mut dec = flate2::read::MultiGzDecoder::new(reader);
        parse(path, &mut dec, ndims, None)
    } else {
        parse(path, &mut reader, ndims, Some(file_len))
    }
}

/// Parses the header and data from `r`; `file_len` is the exact length of an
/// uncompressed source.
fn parse(path: &Path, r: &mut dyn Read, ndims: usize, file_len: Option<u64>) -> Result<Idx> {
    let read_err = |e: std::io::Error| err(path, format!("cannot read IDX data: {e}"));
    let mut magic = [0u8; 4];
    read_header(path, r, &mut magic)?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(err(
            path,
            format!(
                "not an IDX file (magic {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 {ndims:02x})",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != UBYTE {
        return Err(err(
            path,
            format!("IDX data type 0x{:02x} is not unsigned bytes (0x08)", magic[2]),
        ));
    }
    if usize::from(magic[3]) != ndims {
        return Err(err(
            path,
            format!("IDX file has {} dimensions, expected {ndims}", magic[3]),
        ));
    }
    let mut dims = Vec::with_capacity(ndims);
    let mut declared: u64 = 1;
    for _ in 0..ndims {
        let mut d = [0u8; 4];
        read_header(path, r, &mut d)?;
        let d = u32::from_be_bytes(d);
        dims.push(d as usize);
        declared = declared.saturating_mul(u64::from(d));
    }
    let header = 4 + 4 * ndims as u64;
    let shape = dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(" x ");
    if declared > MAX_BYTES {
        return Err(err(
            path,
            format!("IDX header declares {shape} = {declared} bytes, over the {MAX_BYTES}-byte limit"),
        ));
    }
    if let Some(len) = file_len {
        if header + declared != len {
            return Err(err(
                path,
                format!(
                    "IDX header declares {shape} = {declared} data bytes, but the file holds {}",
                    len.saturating_sub(header)
                ),
            ));
        }
    }
    // Grows with the data really present, never to a size only the header claims.
    let mut data = Vec::with_capacity(declared.min(1 << 24) as usize);
    r.take(declared + 1).read_to_end(&mut data).map_err(read_err)?;
    if data.len() as u64 != declared {
        let held = if data.len() as u64 > declared {
            "more".to_string()
        } else {
            data.len().to_string()
        };
        return Err(err(
            path,
            format!("IDX header declares {shape} = {declared} data bytes, but the file holds {held}"),
        ));
    }
    Ok(Idx { dims, data })
}

fn read_header(path: &Path, r: &mut dyn Read, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            err(path, "truncated IDX header")
        } else {
            err(path, format!("cannot read IDX header: {e}"))
        }
    })
}

/// The labels file beside an images file: `-images-idx3-` replaced by
/// `-labels-idx1-` in the file name. When that exact file is missing, the same
/// name with `.gz` added or removed is tried.
pub fn labels_path(images: &Path) -> Result<PathBuf> {
    let name = images
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(images, "not a file name"))?;
    if !name.contains("-images-idx3-") {
        return Err(err(
            images,
            "cannot locate the labels: an IDX images file is named *-images-idx3-ubyte[.gz] \
             and its labels *-labels-idx1-ubyte[.gz] beside it",
        ));
    }
    let labels = name.replace("-images-idx3-", "-labels-idx1-");
    let exact = images.with_file_name(&labels);
    if exact.is_file() {
        return Ok(exact);
    }
    let other = match labels.strip_suffix(".gz") {
        Some(raw) => images.with_file_name(raw),
        None => images.with_file_name(format!("{labels}.gz")),
    };
    if other.is_file() {
        return Ok(other);
    }
    Err(err(
        images,
        format!("labels file {} (or {}) not found", exact.display(), other.display()),
    ))
}

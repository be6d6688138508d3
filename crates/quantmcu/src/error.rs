//! The library's error type: every message names the file, op or tensor at fault.

use std::path::PathBuf;

/// Errors of the quantmcu host library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{model}: not a valid TFLite flatbuffer: {detail}")]
    Flatbuffer { model: String, detail: String },
    #[error("{model}: {detail}")]
    Model { model: String, detail: String },
    #[error("{model}: operator #{index} ({op}) is not supported: {detail}")]
    Unsupported {
        model: String,
        index: usize,
        op: String,
        detail: String,
    },
    #[error("{model}: operator #{index} ({op}): {detail}")]
    Op {
        model: String,
        index: usize,
        op: String,
        detail: String,
    },
    #[error("{model}: tensor #{index} ({name}): {detail}")]
    Tensor {
        model: String,
        index: usize,
        name: String,
        detail: String,
    },
    #[error("{0}")]
    Input(String),
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

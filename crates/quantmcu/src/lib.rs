//! quantmcu host library: reads int8 `.tflite` models into a checked graph IR,
//! runs them bit-exactly like tflite-micro's reference kernels, and plans their
//! memory.
//!
//! Layers, bottom up: [`tflite`] (format reader) -> [`ir`] (graph, shapes,
//! costs) -> [`reference`] (int8 oracle executor) and [`memory`] (arena
//! planning); [`input`] and [`npy`] turn files into model inputs.

pub mod assets;
pub mod compare;
pub mod dataset;
pub mod encode;
pub mod error;
pub mod export;
pub mod input;
pub mod ir;
pub mod memory;
pub mod mixed;
pub mod npy;
pub mod patch;
pub mod pipeline;
pub mod reference;
pub mod tensor;
pub mod tflite;

pub use error::{Error, Result};
pub use ir::Graph;
pub use reference::ReferenceExecutor;
pub use tensor::TensorData;

//! Graph IR: tensors with checked shapes and quantization, and the operators
//! quantmcu executes, in execution order.
//!
//! A [`Graph`] is built by the `.tflite` reader ([`crate::tflite`]) and checked
//! by [`Graph::check`] (shapes inferred from each op's inputs and options must
//! equal the declared ones). Costs (MACs, parameters) live in [`cost`].

pub mod check;
pub mod cost;

use serde::Serialize;

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    I8,
    U8,
    I32,
    I64,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::F32 | DType::I32 => 4,
            DType::I64 => 8,
        }
    }

    /// The name numpy and TFLite use for this type (`int8`, `float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I32 => "int32",
            DType::I64 => "int64",
        }
    }
}

/// Affine quantization `real = scale * (q - zero_point)`: one entry per tensor,
/// or one per slice along `axis` (per-channel weights).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Quant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub axis: usize,
}

impl Quant {
    /// Per-tensor quantization.
    pub fn per_tensor(scale: f32, zero_point: i32) -> Self {
        Quant {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        }
    }

    /// True when a single scale and zero point cover the whole tensor.
    pub fn is_per_tensor(&self) -> bool {
        self.scale.len() == 1
    }
}

/// A tensor: an activation (no data) or a constant (weights, bias, shapes).
#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub quant: Option<Quant>,
    /// Little-endian bytes of a constant tensor.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    /// Number of elements (1 for a scalar).
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.elements() * self.dtype.size()
    }

    /// True for tensors whose values are stored in the model.
    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }
}

/// Spatial padding scheme of convolutions and pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    Same,
    Valid,
}

/// Activation fused into an op's output clamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    None,
    Relu,
    Relu6,
    ReluN1To1,
}

/// The sliding window of a convolution or pool over the H and W axes
/// (index 0 = height, 1 = width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub padding: Padding,
}

impl Window {
    /// Extent of the dilated kernel along `axis`.
    pub fn effective_kernel(&self, axis: usize) -> usize {
        (self.kernel[axis] - 1) * self.dilation[axis] + 1
    }

    /// Output size along `axis` for an input of `input` elements, as TFLite
    /// computes it (`None` when a VALID window does not fit).
    pub fn output_size(&self, input: usize, axis: usize) -> Option<usize> {
        let stride = self.stride[axis];
        match self.padding {
            Padding::Same => Some(input.div_ceil(stride)),
            Padding::Valid => {
                let k = self.effective_kernel(axis);
                (input >= k).then(|| (input - k) / stride + 1)
            }
        }
    }

    /// Padding before the first element along `axis` (TFLite puts the odd extra
    /// element after the last one).
    pub fn pad_before(&self, input: usize, output: usize, axis: usize) -> usize {
        let needed = (output.saturating_sub(1)) * self.stride[axis] + self.effective_kernel(axis);
        needed.saturating_sub(input) / 2
    }
}

/// What an operator computes, with its options.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpKind {
    /// Inputs: input [N,H,W,Ci], filter [Co,Kh,Kw,Ci/groups], optional bias [Co].
    Conv2d {
        window: Window,
        activation: Activation,
    },
    /// Inputs: input [N,H,W,C], filter [1,Kh,Kw,C*m], optional bias [C*m].
    DepthwiseConv2d {
        window: Window,
        depth_multiplier: usize,
        activation: Activation,
    },
    /// Inputs: input [.., D], filter [U, D], optional bias [U].
    FullyConnected {
        activation: Activation,
        keep_num_dims: bool,
    },
    /// Elementwise sum with broadcasting.
    Add {
        activation: Activation,
    },
    AveragePool2d {
        window: Window,
        activation: Activation,
    },
    MaxPool2d {
        window: Window,
        activation: Activation,
    },
    Reshape,
    /// Softmax over the last axis.
    Softmax {
        beta: f32,
    },
    /// Inputs: input, paddings [rank, 2] (constant).
    Pad,
    /// Inputs: input, axes (constant int32).
    Mean {
        keep_dims: bool,
    },
    Concatenation {
        axis: usize,
        activation: Activation,
    },
    Quantize,
    Dequantize,
}

impl OpKind {
    /// The TFLite builtin name of the op.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Conv2d { .. } => "CONV_2D",
            OpKind::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            OpKind::FullyConnected { .. } => "FULLY_CONNECTED",
            OpKind::Add { .. } => "ADD",
            OpKind::AveragePool2d { .. } => "AVERAGE_POOL_2D",
            OpKind::MaxPool2d { .. } => "MAX_POOL_2D",
            OpKind::Reshape => "RESHAPE",
            OpKind::Softmax { .. } => "SOFTMAX",
            OpKind::Pad => "PAD",
            OpKind::Mean { .. } => "MEAN",
            OpKind::Concatenation { .. } => "CONCATENATION",
            OpKind::Quantize => "QUANTIZE",
            OpKind::Dequantize => "DEQUANTIZE",
        }
    }
}

/// An operator of the graph.
#[derive(Clone, Debug)]
pub struct Op {
    pub kind: OpKind,
    /// Input tensors; `None` for an omitted optional input (e.g. no bias).
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
}

impl Op {
    /// The `i`-th input, if present.
    pub fn input(&self, i: usize) -> Option<TensorId> {
        self.inputs.get(i).copied().flatten()
    }

    /// The single output tensor (every supported op has exactly one).
    pub fn output(&self) -> TensorId {
        self.outputs[0]
    }
}

/// A checked model graph (TFLite subgraph 0).
#[derive(Clone, Debug)]
pub struct Graph {
    /// A name for messages, usually the model's file name.
    pub name: String,
    pub tensors: Vec<Tensor>,
    /// Operators in execution order; `ops[i]` is operator #i of the model.
    pub ops: Vec<Op>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
    /// SHA-256 of the bytes of the model file the graph was read from (all
    /// zero for a graph built in memory); plan files are bound to it.
    pub model_sha256: [u8; 32],
}

impl Graph {
    /// The tensor with id `id`.
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id]
    }

    /// Error about operator `index` of this graph.
    pub fn op_error(&self, index: usize, detail: impl Into<String>) -> crate::Error {
        crate::Error::Op {
            model: self.name.clone(),
            index,
            op: self.ops[index].kind.name().to_string(),
            detail: detail.into(),
        }
    }

    /// Error about tensor `id` of this graph.
    pub fn tensor_error(&self, id: TensorId, detail: impl Into<String>) -> crate::Error {
        crate::Error::Tensor {
            model: self.name.clone(),
            index: id,
            name: self.tensors[id].name.clone(),
            detail: detail.into(),
        }
    }

    /// The non-constant inputs of `op` (activations), in order.
    pub fn activation_inputs(&self, op: &Op) -> Vec<TensorId> {
        op.inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&t| !self.tensors[t].is_constant())
            .collect()
    }

    /// For each tensor, the index of the op that produces it (`None` for graph
    /// inputs and constants).
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.tensors.len()];
        for (i, op) in self.ops.iter().enumerate() {
            for &o in &op.outputs {
                p[o] = Some(i);
            }
        }
        p
    }

    /// The integer part of the graph: its first int8 input, after the leading
    /// float-to-int8 QUANTIZE when the model has float I/O. Memory accounting
    /// starts here (`docs/design.md`, "Float I/O and memory accounting").
    pub fn int_input(&self) -> TensorId {
        let input = self.inputs[0];
        if self.tensors[input].dtype == DType::F32 {
            for op in &self.ops {
                if op.kind == OpKind::Quantize && op.input(0) == Some(input) {
                    return op.output();
                }
            }
        }
        input
    }
}

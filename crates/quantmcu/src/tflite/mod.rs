//! `.tflite` reader: verifies the flatbuffer, then builds a checked [`Graph`]
//! from subgraph 0. Vectors of scalars need only a 4-byte aligned length
//! prefix, not elements aligned to their size (an int64 zero-point vector at
//! 4 mod 8 reads like an aligned one), as in tflite-micro and LiteRT.
//!
//! Supported operators: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD,
//! AVERAGE_POOL_2D, MAX_POOL_2D, RESHAPE, SOFTMAX, PAD, MEAN, CONCATENATION,
//! QUANTIZE, DEQUANTIZE, with fused NONE/RELU/RELU_N1_TO_1/RELU6. Anything else
//! is an [`Error::Unsupported`] naming the op, its index and the model.

mod schema;
#[cfg(test)]
mod tests;

use std::path::Path;

use crate::ir::{Activation, DType, Graph, Op, OpKind, Padding, Quant, Tensor, Window};
use crate::{Error, Result};
use schema::options_type as opt;

/// Largest tensor quantmcu accepts (elements); far above any MCU model.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 26;
/// Largest rank accepted.
pub const MAX_RANK: usize = 6;

/// Reads and checks the model at `path`.
pub fn load(path: &Path) -> Result<Graph> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    parse(&bytes, &name)
}

/// Builds a checked graph from the bytes of a `.tflite` file; `name` is used in
/// messages.
pub fn parse(bytes: &[u8], name: &str) -> Result<Graph> {
    let fb_err = |detail: String| Error::Flatbuffer {
        model: name.to_string(),
        detail,
    };
    let model_err = |detail: String| Error::Model {
        model: name.to_string(),
        detail,
    };
    if bytes.len() < 8 {
        return Err(fb_err(format!(
            "the file is {} bytes long, too short for a model",
            bytes.len()
        )));
    }
    if &bytes[4..8] != b"TFL3" {
        return Err(fb_err(format!(
            "the file identifier (bytes 4..8) is \"{}\", expected \"TFL3\"; is this a .tflite file?",
            bytes[4..8].escape_ascii()
        )));
    }
    let model = schema::model_root(bytes).map_err(|e| fb_err(verifier_sentence(&e)))?;
    let version = model.version();
    if version != 3 {
        return Err(model_err(format!(
            "schema version {version} is not supported; quantmcu reads version 3"
        )));
    }
    let subgraphs = model
        .subgraphs()
        .ok_or_else(|| model_err("the model has no subgraphs".into()))?;
    if subgraphs.is_empty() {
        return Err(model_err("the model has no subgraphs".into()));
    }
    let sg = subgraphs.get(0);
    let codes = model.operator_codes();
    let buffers = model.buffers();

    // Tensors.
    let fb_tensors = sg
        .tensors()
        .ok_or_else(|| model_err("subgraph 0 has no tensors".into()))?;
    let mut tensors = Vec::with_capacity(fb_tensors.len());
    for (i, t) in fb_tensors.iter().enumerate() {
        let tname = t.name().unwrap_or("").to_string();
        let terr = |detail: String| Error::Tensor {
            model: name.to_string(),
            index: i,
            name: tname.clone(),
            detail,
        };
        let dtype = match t.tensor_type() {
            0 => DType::F32,
            2 => DType::I32,
            3 => DType::U8,
            4 => DType::I64,
            9 => DType::I8,
            other => {
                return Err(terr(format!(
                    "tensor type {} is not supported; int8, uint8, int32, int64 and float32 are",
                    type_name(other)
                )))
            }
        };
        if t.is_variable() {
            return Err(terr("variable tensors are not supported".into()));
        }
        let shape = match t.shape() {
            None => Vec::new(),
            Some(s) => {
                if s.len() > MAX_RANK {
                    return Err(terr(format!(
                        "its shape has rank {}, above the supported maximum {MAX_RANK}",
                        s.len()
                    )));
                }
                s.iter()
                    .map(|d| {
                        usize::try_from(d)
                            .ok()
                            .filter(|&d| d > 0)
                            .ok_or_else(|| terr(format!("shape dimension {d} is not positive")))
                    })
                    .collect::<Result<Vec<_>>>()?
            }
        };
        let elements = shape.iter().try_fold(1usize, |acc, &d| {
            acc.checked_mul(d).filter(|&n| n <= MAX_TENSOR_ELEMENTS)
        });
        if elements.is_none() {
            return Err(terr(format!(
                "shape {shape:?} has more than {MAX_TENSOR_ELEMENTS} elements"
            )));
        }
        let quant = match t.quantization() {
            None => None,
            Some(q) => {
                if q.details_type() != 0 {
                    return Err(terr(
                        "custom quantization details (quantization.details) are not supported".into(),
                    ));
                }
                match (q.scale(), q.zero_point()) {
                    (Some(s), Some(z)) if !s.is_empty() => {
                        if s.len() != z.len() {
                            return Err(terr(format!(
                                "quantization has {} scales but {} zero points",
                                s.len(),
                                z.len()
                            )));
                        }
                        let scale: Vec<f32> = s.iter().collect();
                        if let Some((c, s)) = scale.iter().enumerate().find(|(_, s)| !(s.is_finite() && **s > 0.0)) {
                            return Err(terr(format!(
                                "quantization scale {c} is {s}, expected a finite positive number"
                            )));
                        }
                        let zero_point = z
                            .iter()
                            .enumerate()
                            .map(|(c, z)| {
                                i32::try_from(z).map_err(|_| {
                                    terr(format!("quantization zero point {c} is {z}, outside the int32 range"))
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        let axis = usize::try_from(q.quantized_dimension())
                            .ok()
                            .filter(|&a| a < shape.len().max(1));
                        let axis = axis.ok_or_else(|| {
                            terr(format!(
                                "quantized dimension {} is outside shape {shape:?}",
                                q.quantized_dimension()
                            ))
                        })?;
                        if scale.len() > 1 && shape.get(axis) != Some(&scale.len()) {
                            return Err(terr(format!(
                                "it has {} per-channel scales for dimension {axis} of shape {shape:?}",
                                scale.len()
                            )));
                        }
                        Some(Quant {
                            scale,
                            zero_point,
                            axis,
                        })
                    }
                    _ => None,
                }
            }
        };
        let mut tensor = Tensor {
            name: tname.clone(),
            shape,
            dtype,
            quant,
            data: None,
        };
        let buffer_index = t.buffer() as usize;
        if buffer_index != 0 {
            let buffer = buffers
                .filter(|b| buffer_index < b.len())
                .map(|b| b.get(buffer_index))
                .ok_or_else(|| {
                    terr(format!(
                        "buffer index {buffer_index} is out of range; the model has {} buffers",
                        buffers.map_or(0, |b| b.len())
                    ))
                })?;
            let data: Option<&[u8]> = if buffer.offset() > 1 {
                let start = usize::try_from(buffer.offset()).ok();
                let end = start.and_then(|s| usize::try_from(buffer.size()).ok().and_then(|n| s.checked_add(n)));
                match (start, end) {
                    (Some(s), Some(e)) if e <= bytes.len() => Some(&bytes[s..e]),
                    _ => {
                        return Err(terr(format!(
                            "buffer {buffer_index} (offset {}, size {}) lies outside the {}-byte file",
                            buffer.offset(),
                            buffer.size(),
                            bytes.len()
                        )))
                    }
                }
            } else {
                buffer.data().map(|d| d.bytes()).filter(|d| !d.is_empty())
            };
            if let Some(data) = data {
                if data.len() != tensor.bytes() {
                    return Err(terr(format!(
                        "buffer {buffer_index} holds {} bytes, but shape {:?} of {} needs {}",
                        data.len(),
                        tensor.shape,
                        dtype.name(),
                        tensor.bytes()
                    )));
                }
                tensor.data = Some(data.to_vec());
            }
        }
        tensors.push(tensor);
    }

    let index_list = |v: Option<schema::Scalars<'_, i32>>, what: &str, optional: bool| -> Result<Vec<Option<usize>>> {
        v.map(|v| v.iter().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .map(|i| match i {
                -1 if optional => Ok(None),
                i => usize::try_from(i)
                    .ok()
                    .filter(|&i| i < tensors.len())
                    .map(Some)
                    .ok_or_else(|| {
                        model_err(format!(
                            "{what} refer to tensor {i}, but subgraph 0 has {} tensors",
                            tensors.len()
                        ))
                    }),
            })
            .collect()
    };

    let inputs: Vec<usize> = index_list(sg.inputs(), "subgraph inputs", false)?
        .into_iter()
        .flatten()
        .collect();
    let outputs: Vec<usize> = index_list(sg.outputs(), "subgraph outputs", false)?
        .into_iter()
        .flatten()
        .collect();
    if inputs.is_empty() || outputs.is_empty() {
        return Err(model_err("subgraph 0 declares no inputs or no outputs".into()));
    }

    // Operators.
    let fb_ops = sg.operators().map(|o| o.iter().collect::<Vec<_>>()).unwrap_or_default();
    let mut ops = Vec::with_capacity(fb_ops.len());
    for (index, fop) in fb_ops.into_iter().enumerate() {
        let code_index = fop.opcode_index() as usize;
        let code = codes
            .filter(|c| code_index < c.len())
            .map(|c| c.get(code_index))
            .ok_or_else(|| {
                model_err(format!(
                    "operator #{index} uses operator code {code_index}, which does not exist"
                ))
            })?;
        let builtin = code.builtin_code().max(i32::from(code.deprecated_builtin_code()));
        let unsupported = |op: String, detail: String| Error::Unsupported {
            model: name.to_string(),
            index,
            op,
            detail,
        };
        let op_name = builtin_name(builtin, code.custom_code());
        let bad_option = |detail: String| unsupported(op_name.clone(), detail);
        let options_missing = || bad_option("its options table is missing".into());

        let op_inputs = index_list(fop.inputs(), &format!("operator #{index} inputs"), true)?;
        let op_outputs: Vec<usize> = index_list(fop.outputs(), &format!("operator #{index} outputs"), false)?
            .into_iter()
            .flatten()
            .collect();
        if op_outputs.len() != 1 {
            return Err(bad_option(format!("it has {} outputs, expected 1", op_outputs.len())));
        }
        let kind = match builtin {
            0 => {
                let o = fop
                    .options::<schema::AddOptions>(opt::ADD)
                    .ok_or_else(options_missing)?;
                OpKind::Add {
                    activation: activation(o.fused_activation_function()).map_err(bad_option)?,
                }
            }
            1 | 17 => {
                let o = fop
                    .options::<schema::Pool2DOptions>(opt::POOL_2D)
                    .ok_or_else(options_missing)?;
                let window = window(
                    o.padding(),
                    [o.filter_height(), o.filter_width()],
                    [o.stride_h(), o.stride_w()],
                    [1, 1],
                )
                .map_err(bad_option)?;
                let activation = activation(o.fused_activation_function()).map_err(bad_option)?;
                if builtin == 1 {
                    OpKind::AveragePool2d { window, activation }
                } else {
                    OpKind::MaxPool2d { window, activation }
                }
            }
            2 => {
                let o = fop
                    .options::<schema::ConcatenationOptions>(opt::CONCATENATION)
                    .ok_or_else(options_missing)?;
                let activation = activation(o.fused_activation_function()).map_err(bad_option)?;
                let rank = op_outputs.first().map_or(0, |&t| tensors[t].shape.len()) as i64;
                let axis = i64::from(o.axis());
                let axis = if axis < 0 { axis + rank } else { axis };
                if !(0..rank).contains(&axis) {
                    return Err(bad_option(format!("axis {} is out of range for rank {rank}", o.axis())));
                }
                let axis = axis as usize;
                OpKind::Concatenation { axis, activation }
            }
            3 => {
                let o = fop
                    .options::<schema::Conv2DOptions>(opt::CONV_2D)
                    .ok_or_else(options_missing)?;
                if o.quantized_bias_type() != 0 && o.quantized_bias_type() != 2 {
                    return Err(bad_option(format!(
                        "quantized bias type {} (only int32 bias is supported)",
                        type_name(o.quantized_bias_type())
                    )));
                }
                OpKind::Conv2d {
                    window: window(
                        o.padding(),
                        [1, 1],
                        [o.stride_h(), o.stride_w()],
                        [o.dilation_h_factor(), o.dilation_w_factor()],
                    )
                    .map_err(bad_option)?,
                    activation: activation(o.fused_activation_function()).map_err(bad_option)?,
                }
            }
            4 => {
                let o = fop
                    .options::<schema::DepthwiseConv2DOptions>(opt::DEPTHWISE_CONV_2D)
                    .ok_or_else(options_missing)?;
                OpKind::DepthwiseConv2d {
                    window: window(
                        o.padding(),
                        [1, 1],
                        [o.stride_h(), o.stride_w()],
                        [o.dilation_h_factor(), o.dilation_w_factor()],
                    )
                    .map_err(bad_option)?,
                    // Derived from the filter in `Graph::check` (the option is
                    // redundant and unreliable in old converters).
                    depth_multiplier: 0,
                    activation: activation(o.fused_activation_function()).map_err(bad_option)?,
                }
            }
            6 => OpKind::Dequantize,
            9 => {
                let o = fop
                    .options::<schema::FullyConnectedOptions>(opt::FULLY_CONNECTED)
                    .ok_or_else(options_missing)?;
                if o.weights_format() != 0 {
                    return Err(bad_option("shuffled weights format is not supported".into()));
                }
                if o.asymmetric_quantize_inputs() {
                    return Err(bad_option(
                        "hybrid (asymmetric_quantize_inputs) mode is not supported".into(),
                    ));
                }
                if o.quantized_bias_type() != 0 && o.quantized_bias_type() != 2 {
                    return Err(bad_option(format!(
                        "quantized bias type {} (only int32 bias is supported)",
                        type_name(o.quantized_bias_type())
                    )));
                }
                OpKind::FullyConnected {
                    activation: activation(o.fused_activation_function()).map_err(bad_option)?,
                    keep_num_dims: o.keep_num_dims(),
                }
            }
            22 => OpKind::Reshape,
            25 => {
                let beta = fop
                    .options::<schema::SoftmaxOptions>(opt::SOFTMAX)
                    .map_or(1.0, |o| o.beta());
                if !(beta.is_finite() && beta > 0.0) {
                    return Err(bad_option(format!("softmax beta {beta} must be finite and positive")));
                }
                OpKind::Softmax { beta }
            }
            34 => OpKind::Pad,
            40 => OpKind::Mean {
                keep_dims: fop
                    .options::<schema::ReducerOptions>(opt::REDUCER)
                    .is_some_and(|o| o.keep_dims()),
            },
            114 => OpKind::Quantize,
            _ => return Err(unsupported(
                op_name,
                "quantmcu supports CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, AVERAGE_POOL_2D, MAX_POOL_2D, \
                     RESHAPE, SOFTMAX, PAD, MEAN, CONCATENATION, QUANTIZE and DEQUANTIZE"
                    .into(),
            )),
        };
        if fop.builtin_options_2_type() != 0 {
            return Err(bad_option("builtin_options_2 is set".into()));
        }
        if fop.intermediates().is_some_and(|v| !v.is_empty()) {
            return Err(bad_option("intermediate tensors are not supported".into()));
        }
        ops.push(Op {
            kind,
            inputs: op_inputs,
            outputs: op_outputs,
        });
    }

    let mut graph = Graph {
        name: name.to_string(),
        tensors,
        ops,
        inputs,
        outputs,
        model_sha256: <sha2::Sha256 as sha2::Digest>::digest(bytes).into(),
    };
    graph.check()?;
    Ok(graph)
}

/// One sentence from a verifier error: its message, then where it was found
/// (innermost table field or vector element first), without line breaks.
fn verifier_sentence(e: &flatbuffers::InvalidFlatbuffer) -> String {
    let text = e.to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let head = lines.next().unwrap_or("verification failed").trim_end_matches('.');
    let mut head = head.chars();
    let mut sentence: String = head
        .next()
        .map(|c| c.to_ascii_lowercase())
        .into_iter()
        .chain(head)
        .collect();
    for place in lines {
        sentence.push_str(", ");
        sentence.push_str(place);
    }
    sentence
}

fn activation(code: i8) -> std::result::Result<Activation, String> {
    Ok(match code {
        0 => Activation::None,
        1 => Activation::Relu,
        2 => Activation::ReluN1To1,
        3 => Activation::Relu6,
        4 => return Err("fused TANH activation is not supported".into()),
        5 => return Err("fused SIGN_BIT activation is not supported".into()),
        c => return Err(format!("unknown fused activation code {c}")),
    })
}

fn window(padding: i8, kernel: [i32; 2], stride: [i32; 2], dilation: [i32; 2]) -> std::result::Result<Window, String> {
    let padding = match padding {
        0 => Padding::Same,
        1 => Padding::Valid,
        p => return Err(format!("unknown padding code {p}")),
    };
    let positive = |v: [i32; 2], what: &str| -> std::result::Result<[usize; 2], String> {
        let ok = |x: i32| usize::try_from(x).ok().filter(|&x| (1..=4096).contains(&x));
        match (ok(v[0]), ok(v[1])) {
            (Some(a), Some(b)) => Ok([a, b]),
            _ => Err(format!("{what} {v:?} must be in 1..=4096")),
        }
    };
    Ok(Window {
        kernel: positive(kernel, "kernel size")?,
        stride: positive(stride, "stride")?,
        dilation: positive(dilation, "dilation")?,
        padding,
    })
}

fn type_name(code: i8) -> String {
    const NAMES: [&str; 18] = [
        "FLOAT32",
        "FLOAT16",
        "INT32",
        "UINT8",
        "INT64",
        "STRING",
        "BOOL",
        "INT16",
        "COMPLEX64",
        "INT8",
        "FLOAT64",
        "COMPLEX128",
        "UINT64",
        "RESOURCE",
        "VARIANT",
        "UINT32",
        "UINT16",
        "INT4",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|c| NAMES.get(c))
        .map_or_else(|| format!("code {code}"), |n| n.to_string())
}

fn builtin_name(code: i32, custom: Option<&str>) -> String {
    const NAMES: &[(i32, &str)] = &[
        (0, "ADD"),
        (1, "AVERAGE_POOL_2D"),
        (2, "CONCATENATION"),
        (3, "CONV_2D"),
        (4, "DEPTHWISE_CONV_2D"),
        (5, "DEPTH_TO_SPACE"),
        (6, "DEQUANTIZE"),
        (8, "FLOOR"),
        (9, "FULLY_CONNECTED"),
        (11, "L2_NORMALIZATION"),
        (12, "L2_POOL_2D"),
        (14, "LOGISTIC"),
        (16, "LSTM"),
        (17, "MAX_POOL_2D"),
        (18, "MUL"),
        (19, "RELU"),
        (20, "RELU_N1_TO_1"),
        (21, "RELU6"),
        (22, "RESHAPE"),
        (23, "RESIZE_BILINEAR"),
        (25, "SOFTMAX"),
        (26, "SPACE_TO_DEPTH"),
        (28, "TANH"),
        (34, "PAD"),
        (36, "GATHER"),
        (39, "TRANSPOSE"),
        (40, "MEAN"),
        (41, "SUB"),
        (42, "DIV"),
        (43, "SQUEEZE"),
        (45, "STRIDED_SLICE"),
        (47, "EXP"),
        (49, "SPLIT"),
        (53, "CAST"),
        (54, "PRELU"),
        (55, "MAXIMUM"),
        (57, "MINIMUM"),
        (60, "PADV2"),
        (65, "SLICE"),
        (67, "TRANSPOSE_CONV"),
        (70, "EXPAND_DIMS"),
        (74, "SUM"),
        (83, "PACK"),
        (88, "UNPACK"),
        (97, "RESIZE_NEAREST_NEIGHBOR"),
        (98, "LEAKY_RELU"),
        (102, "SPLIT_V"),
        (114, "QUANTIZE"),
        (117, "HARD_SWISH"),
        (126, "BATCH_MATMUL"),
    ];
    if code == 32 {
        return format!("CUSTOM({})", custom.unwrap_or("?"));
    }
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| format!("builtin operator {code}"), |(_, n)| n.to_string())
}

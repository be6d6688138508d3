//! Shape and type checking of a [`Graph`]: each op's output shape is inferred
//! from its inputs and options and must equal the declared one; operand types,
//! quantization and constant inputs are what the int8 kernels need.

use super::{DType, Graph, OpKind, TensorId};
use crate::Result;

/// Upper bound on the MACs of one model (keeps hostile files from hanging a run).
pub const MAX_MACS: u64 = 1 << 32;
/// Upper bound on the summed size of all activation tensors, in bytes.
pub const MAX_ACTIVATION_BYTES: usize = 256 << 20;

impl Graph {
    /// Checks every op (see the module docs) and derives the options that are
    /// implied by shapes (depthwise multiplier). Errors name the op and model.
    pub fn check(&mut self) -> Result<()> {
        for &t in self.inputs.iter().chain(&self.outputs) {
            if self.tensors[t].is_constant() {
                return Err(self.tensor_error(t, "a graph input or output must not be a constant"));
            }
        }
        let mut defined: Vec<bool> = self.tensors.iter().map(|t| t.is_constant()).collect();
        for &t in &self.inputs {
            defined[t] = true;
        }
        for index in 0..self.ops.len() {
            for (slot, input) in self.ops[index].inputs.iter().enumerate() {
                if let Some(t) = *input {
                    if !defined[t] {
                        return Err(self.op_error(
                            index,
                            format!("input {slot} (tensor #{t}) is not computed before this op"),
                        ));
                    }
                }
            }
            let out = self.ops[index].output();
            if defined[out] {
                return Err(self.op_error(index, format!("output tensor #{out} is already defined")));
            }
            self.check_op(index)?;
            defined[out] = true;
        }
        for &t in &self.outputs {
            if !defined[t] {
                return Err(self.tensor_error(t, "graph output is never computed"));
            }
        }
        let activations: usize = self
            .tensors
            .iter()
            .filter(|t| !t.is_constant())
            .map(|t| t.bytes())
            .sum();
        if activations > MAX_ACTIVATION_BYTES {
            return Err(crate::Error::Model {
                model: self.name.clone(),
                detail: format!(
                    "{activations} bytes of activations exceed the supported maximum {MAX_ACTIVATION_BYTES}"
                ),
            });
        }
        let macs = self.ops.iter().enumerate().map(|(i, _)| self.op_macs(i)).sum::<u64>();
        if macs > MAX_MACS {
            return Err(crate::Error::Model {
                model: self.name.clone(),
                detail: format!("{macs} MACs exceed the supported maximum {MAX_MACS}"),
            });
        }
        Ok(())
    }

    fn check_op(&mut self, index: usize) -> Result<()> {
        let op = &self.ops[index];
        let err = |d: String| self.op_error(index, d);
        let input = |slot: usize| -> Result<TensorId> {
            op.input(slot)
                .ok_or_else(|| self.op_error(index, format!("input {slot} is missing")))
        };
        let shape = |t: TensorId| self.tensors[t].shape.as_slice();
        let out = op.output();
        let out_shape = shape(out).to_vec();
        let expect_shape = |inferred: &[usize]| -> Result<()> {
            if inferred != out_shape.as_slice() {
                return Err(self.op_error(
                    index,
                    format!("output tensor #{out} has shape {out_shape:?}, the inputs and options give {inferred:?}"),
                ));
            }
            Ok(())
        };
        let need_dtype = |t: TensorId, dtypes: &[DType], what: &str| -> Result<()> {
            let d = self.tensors[t].dtype;
            if !dtypes.contains(&d) {
                let want: Vec<_> = dtypes.iter().map(|d| d.name()).collect();
                return Err(self.op_error(
                    index,
                    format!("{what} (tensor #{t}) is {}, expected {}", d.name(), want.join(" or ")),
                ));
            }
            Ok(())
        };
        let need_quant = |t: TensorId, what: &str| -> Result<()> {
            match &self.tensors[t].quant {
                Some(q)
                    if self.tensors[t].dtype == DType::I8 && q.zero_point.iter().any(|z| !(-128..=127).contains(z)) =>
                {
                    Err(self.op_error(
                        index,
                        format!("{what} (tensor #{t}) has an int8 zero point outside -128..=127"),
                    ))
                }
                Some(q) if q.is_per_tensor() || what == "filter" => Ok(()),
                Some(_) => Err(self.op_error(index, format!("{what} (tensor #{t}) must be quantized per tensor"))),
                None => Err(self.op_error(index, format!("{what} (tensor #{t}) has no quantization parameters"))),
            }
        };
        let need_const = |t: TensorId, what: &str| -> Result<()> {
            if self.tensors[t].is_constant() {
                Ok(())
            } else {
                Err(self.op_error(index, format!("{what} (tensor #{t}) must be a constant")))
            }
        };
        let need_rank = |t: TensorId, rank: usize, what: &str| -> Result<()> {
            if shape(t).len() != rank {
                return Err(self.op_error(
                    index,
                    format!("{what} (tensor #{t}) has shape {:?}, expected rank {rank}", shape(t)),
                ));
            }
            Ok(())
        };
        // Filter and bias of the three weighted ops.
        let check_weights = |filter: TensorId, channels: usize, channel_axis: usize| -> Result<()> {
            need_dtype(filter, &[DType::I8], "filter")?;
            need_const(filter, "filter")?;
            need_quant(filter, "filter")?;
            let q = self.tensors[filter].quant.as_ref().expect("checked above");
            if !(q.is_per_tensor() || (q.axis == channel_axis && q.scale.len() == channels)) {
                return Err(err(format!(
                    "filter (tensor #{filter}) has {} scales along axis {}, expected 1 or {channels} along axis {channel_axis}",
                    q.scale.len(),
                    q.axis
                )));
            }
            if q.zero_point.iter().any(|&z| z != 0) {
                return Err(err(format!(
                    "filter (tensor #{filter}) must be symmetric (zero point 0)"
                )));
            }
            if let Some(bias) = op.input(2) {
                need_dtype(bias, &[DType::I32], "bias")?;
                need_const(bias, "bias")?;
                if self.tensors[bias].elements() != channels {
                    return Err(err(format!(
                        "bias (tensor #{bias}) has {} elements, expected {channels}",
                        self.tensors[bias].elements()
                    )));
                }
            }
            Ok(())
        };
        let int8_io = |x: TensorId| -> Result<()> {
            need_dtype(x, &[DType::I8], "input")?;
            need_quant(x, "input")?;
            need_dtype(out, &[DType::I8], "output")?;
            need_quant(out, "output")
        };

        let mut depth_multiplier = None;
        match &op.kind {
            OpKind::Conv2d { window, .. } | OpKind::DepthwiseConv2d { window, .. } => {
                let x = input(0)?;
                let filter = input(1)?;
                int8_io(x)?;
                need_rank(x, 4, "input")?;
                need_rank(filter, 4, "filter")?;
                let (xs, fs) = (shape(x), shape(filter));
                let depthwise = matches!(op.kind, OpKind::DepthwiseConv2d { .. });
                let channels = fs[if depthwise { 3 } else { 0 }];
                if depthwise {
                    if fs[0] != 1 || channels % xs[3] != 0 {
                        return Err(err(format!(
                            "filter shape {fs:?} does not fit input shape {xs:?} (expected [1, kh, kw, C*m])"
                        )));
                    }
                    depth_multiplier = Some(channels / xs[3]);
                } else if xs[3] % fs[3] != 0 {
                    return Err(err(format!(
                        "filter depth {} does not divide input depth {}",
                        fs[3], xs[3]
                    )));
                }
                check_weights(filter, channels, if depthwise { 3 } else { 0 })?;
                let mut w = *window;
                w.kernel = [fs[1], fs[2]];
                let oh = w.output_size(xs[1], 0);
                let ow = w.output_size(xs[2], 1);
                let (Some(oh), Some(ow)) = (oh, ow) else {
                    return Err(err(format!(
                        "a {}x{} kernel does not fit the {}x{} input",
                        fs[1], fs[2], xs[1], xs[2]
                    )));
                };
                expect_shape(&[xs[0], oh, ow, channels])?;
            }
            OpKind::FullyConnected { keep_num_dims, .. } => {
                let x = input(0)?;
                let filter = input(1)?;
                int8_io(x)?;
                need_rank(filter, 2, "filter")?;
                let (units, depth) = (shape(filter)[0], shape(filter)[1]);
                check_weights(filter, units, 0)?;
                let n = self.tensors[x].elements();
                if !n.is_multiple_of(depth) {
                    return Err(err(format!(
                        "input has {n} elements, not a multiple of the filter depth {depth}"
                    )));
                }
                let batches = n / depth;
                if *keep_num_dims {
                    let mut s = shape(x).to_vec();
                    *s.last_mut().expect("input has elements") = units;
                    expect_shape(&s)?;
                } else if out_shape.iter().product::<usize>() != batches * units || out_shape.last() != Some(&units) {
                    return Err(err(format!("output shape {out_shape:?} is not [{batches}, {units}]")));
                }
            }
            OpKind::Add { .. } => {
                let (a, b) = (input(0)?, input(1)?);
                int8_io(a)?;
                int8_io(b)?;
                let s = broadcast_shape(shape(a), shape(b)).ok_or_else(|| {
                    err(format!(
                        "input shapes {:?} and {:?} do not broadcast",
                        shape(a),
                        shape(b)
                    ))
                })?;
                expect_shape(&s)?;
            }
            OpKind::AveragePool2d { window, .. } | OpKind::MaxPool2d { window, .. } => {
                let x = input(0)?;
                int8_io(x)?;
                need_rank(x, 4, "input")?;
                let xs = shape(x);
                let (Some(oh), Some(ow)) = (window.output_size(xs[1], 0), window.output_size(xs[2], 1)) else {
                    return Err(err(format!(
                        "the pool window does not fit the {}x{} input",
                        xs[1], xs[2]
                    )));
                };
                expect_shape(&[xs[0], oh, ow, xs[3]])?;
                // tflite-micro's pooling Prepare: same zero point, scales within 1e-6.
                let ((si, zi), (so, zo)) = (self.scale_zp(x), self.scale_zp(out));
                if zi != zo || (f64::from(si) - f64::from(so)).abs() > 1e-6 {
                    return Err(err("int8 pooling needs equal input and output quantization".into()));
                }
            }
            OpKind::Reshape => {
                let x = input(0)?;
                need_dtype(out, &[self.tensors[x].dtype], "output")?;
                if self.tensors[x].elements() != self.tensors[out].elements() {
                    return Err(err(format!("cannot reshape {:?} into {out_shape:?}", shape(x))));
                }
                if self.tensors[x].dtype == DType::I8 && self.tensors[x].quant != self.tensors[out].quant {
                    return Err(err("input and output quantization must be equal".into()));
                }
            }
            OpKind::Softmax { .. } => {
                let x = input(0)?;
                int8_io(x)?;
                expect_shape(shape(x))?;
                let q = self.tensors[out].quant.as_ref().expect("checked");
                if q.zero_point[0] != -128 || q.scale[0] != 1.0 / 256.0 {
                    return Err(err(format!(
                        "int8 softmax output must have scale 1/256 and zero point -128, it has {} and {}",
                        q.scale[0], q.zero_point[0]
                    )));
                }
            }
            OpKind::Pad => {
                let x = input(0)?;
                let pads = input(1)?;
                int8_io(x)?;
                need_const(pads, "paddings")?;
                need_dtype(pads, &[DType::I32, DType::I64], "paddings")?;
                let rank = shape(x).len();
                if shape(pads) != [rank, 2] {
                    return Err(err(format!(
                        "paddings have shape {:?}, expected [{rank}, 2]",
                        shape(pads)
                    )));
                }
                let p = self.const_ints(pads);
                let mut s = Vec::with_capacity(rank);
                for (d, &n) in shape(x).iter().enumerate() {
                    let (lo, hi) = (p[2 * d], p[2 * d + 1]);
                    if !(0..=4096).contains(&lo) || !(0..=4096).contains(&hi) {
                        return Err(err(format!(
                            "padding ({lo}, {hi}) of axis {d} is out of range 0..=4096"
                        )));
                    }
                    s.push(n + lo as usize + hi as usize);
                }
                expect_shape(&s)?;
                if self.tensors[x].quant != self.tensors[out].quant {
                    return Err(err("input and output quantization must be equal".into()));
                }
            }
            OpKind::Mean { keep_dims } => {
                let x = input(0)?;
                let axes = input(1)?;
                int8_io(x)?;
                need_const(axes, "axes")?;
                need_dtype(axes, &[DType::I32, DType::I64], "axes")?;
                let rank = shape(x).len() as i64;
                let mut reduced = vec![false; shape(x).len()];
                for a in self.const_ints(axes) {
                    let a = if a < 0 { a + rank } else { a };
                    if !(0..rank).contains(&a) {
                        return Err(err(format!("axis {a} is out of range for rank {rank}")));
                    }
                    reduced[a as usize] = true;
                }
                let s: Vec<usize> = shape(x)
                    .iter()
                    .zip(&reduced)
                    .filter_map(|(&n, &r)| match (r, keep_dims) {
                        (false, _) => Some(n),
                        (true, true) => Some(1),
                        (true, false) => None,
                    })
                    .collect();
                expect_shape(&s)?;
            }
            OpKind::Concatenation { axis, activation } => {
                if *activation != super::Activation::None {
                    return Err(err("a fused activation on CONCATENATION is not supported".into()));
                }
                need_dtype(out, &[DType::I8], "output")?;
                need_quant(out, "output")?;
                let mut s = out_shape.clone();
                s[*axis] = 0;
                for (slot, t) in op.inputs.iter().enumerate() {
                    let t = t.ok_or_else(|| err(format!("input {slot} is missing")))?;
                    need_dtype(t, &[DType::I8], "input")?;
                    need_quant(t, "input")?;
                    let ts = shape(t);
                    if ts.len() != out_shape.len()
                        || ts.iter().enumerate().any(|(d, &n)| d != *axis && n != out_shape[d])
                    {
                        return Err(err(format!(
                            "input {slot} has shape {ts:?}, incompatible with output {out_shape:?}"
                        )));
                    }
                    s[*axis] += ts[*axis];
                    if self.tensors[t].quant != self.tensors[out].quant {
                        return Err(err(format!(
                            "input {slot} has other quantization parameters than the output"
                        )));
                    }
                }
                expect_shape(&s)?;
            }
            OpKind::Quantize => {
                let x = input(0)?;
                need_dtype(x, &[DType::F32, DType::I8], "input")?;
                need_dtype(out, &[DType::I8], "output")?;
                need_quant(out, "output")?;
                if self.tensors[x].dtype == DType::I8 {
                    need_quant(x, "input")?;
                }
                expect_shape(shape(x))?;
            }
            OpKind::Dequantize => {
                let x = input(0)?;
                need_dtype(x, &[DType::I8], "input")?;
                need_quant(x, "input")?;
                need_dtype(out, &[DType::F32], "output")?;
                expect_shape(shape(x))?;
            }
        }
        if let (Some(m), OpKind::DepthwiseConv2d { depth_multiplier, .. }) =
            (depth_multiplier, &mut self.ops[index].kind)
        {
            *depth_multiplier = m;
        }
        let filter_hw = match self.ops[index].kind {
            OpKind::Conv2d { .. } | OpKind::DepthwiseConv2d { .. } => self.ops[index]
                .input(1)
                .map(|f| &self.tensors[f].shape)
                .map(|s| [s[1], s[2]]),
            _ => None,
        };
        if let (Some(hw), OpKind::Conv2d { window, .. } | OpKind::DepthwiseConv2d { window, .. }) =
            (filter_hw, &mut self.ops[index].kind)
        {
            window.kernel = hw;
        }
        Ok(())
    }

    /// Scale and zero point of a per-tensor quantized tensor (`(0.0, 0)` if it
    /// has none; ops check quantization before using this).
    pub fn scale_zp(&self, t: TensorId) -> (f32, i32) {
        self.tensors[t]
            .quant
            .as_ref()
            .map_or((0.0, 0), |q| (q.scale[0], q.zero_point[0]))
    }

    /// Values of a constant int32/int64 tensor, widened to i64.
    pub fn const_ints(&self, t: TensorId) -> Vec<i64> {
        let tensor = &self.tensors[t];
        match crate::TensorData::from_le_bytes(tensor.dtype, tensor.data.as_deref().unwrap_or(&[])) {
            crate::TensorData::I64(v) => v,
            crate::TensorData::I32(v) => v.into_iter().map(i64::from).collect(),
            _ => Vec::new(),
        }
    }
}

/// NumPy-style broadcast of two shapes (`None` if they are incompatible).
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

//! The int8 reference executor: runs a checked [`Graph`] op by op on the host,
//! bit-exact with tflite-micro's reference kernels. It is the oracle every
//! optimized or patch-based schedule is tested against.
//!
//! Kernels are prepared once ([`ReferenceExecutor::new`]: requantization multipliers,
//! clamp ranges, typed weights) and then run on any number of inputs.

/// Runs `$call` compiled for the best instruction set the CPU offers (AVX2
/// on x86-64 when available, the baseline otherwise). The arithmetic is the
/// same integer code either way; only the vectorization differs.
macro_rules! with_best_isa {
    ($call:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { avx2(|| $call) };
            }
        }
        $call
    }};
}

pub(crate) mod add;
mod concatenation;
pub(crate) mod conv2d;
pub(crate) mod depthwise_conv2d;
pub(crate) mod fully_connected;
mod index;
pub(crate) mod mean;
pub(crate) mod pad;
pub(crate) mod pool;
pub(crate) mod quantize;
pub(crate) mod requant;

use crate::ir::{DType, Graph, OpKind, TensorId};
use crate::tensor::TensorData;
use crate::{Error, Result};
pub(crate) use requant::Requant;

/// A prepared op: its kernel and the parameters tflite-micro's Prepare derives.
#[derive(Clone)]
pub(crate) enum Kernel {
    Conv2d(conv2d::Conv2d),
    DepthwiseConv2d(depthwise_conv2d::DepthwiseConv2d),
    FullyConnected(fully_connected::FullyConnected),
    Add(add::Add),
    Pool2d(pool::Pool2d),
    Pad(pad::Pad),
    Mean(mean::Mean),
    Concatenation(concatenation::Concatenation),
    Softmax(quantmcu_rt::softmax::SoftmaxParams, usize),
    Copy,
    QuantizeF32(f32, i32),
    Requantize(quantize::Requantize),
    Dequantize(f32, i32),
}

/// A graph with prepared kernels, ready to run.
pub struct ReferenceExecutor<'g> {
    graph: &'g Graph,
    kernels: Vec<Kernel>,
    /// Values of the constant tensors that ops read as data (not weights).
    constants: Vec<Option<TensorData>>,
}

impl<'g> ReferenceExecutor<'g> {
    /// Prepares every op of `graph` (which [`Graph::check`] has accepted);
    /// fails where tflite-micro's Prepare would reject the op.
    pub fn new(graph: &'g Graph) -> Result<Self> {
        let kernels = (0..graph.ops.len())
            .map(|i| prepare(graph, i).map_err(|e| graph.op_error(i, e)))
            .collect::<Result<_>>()?;
        let constants = graph
            .tensors
            .iter()
            .map(|t| t.data.as_ref().map(|d| TensorData::from_le_bytes(t.dtype, d)))
            .collect();
        Ok(ReferenceExecutor {
            graph,
            kernels,
            constants,
        })
    }

    /// The prepared kernel of op `index` (the runtime reuses its parameters).
    pub(crate) fn kernel(&self, index: usize) -> &Kernel {
        &self.kernels[index]
    }

    /// The graph this interpreter runs.
    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Runs the graph on `inputs` (one per graph input, in order) and returns
    /// the graph outputs.
    pub fn run(&self, inputs: &[TensorData]) -> Result<Vec<TensorData>> {
        let mut values = self.run_all(inputs)?;
        Ok(self
            .graph
            .outputs
            .iter()
            .map(|&t| values[t].take().expect("outputs are computed"))
            .collect())
    }

    /// Runs the graph and returns the value of every non-constant tensor
    /// (`None` for constants), indexed by tensor id.
    pub fn run_all(&self, inputs: &[TensorData]) -> Result<Vec<Option<TensorData>>> {
        let mut values = self.feed(inputs)?;
        self.run_ops(&mut values, 0..self.graph.ops.len());
        Ok(values)
    }

    /// Checks `inputs` against the graph inputs and returns the tensor value
    /// table with only them set.
    pub fn feed(&self, inputs: &[TensorData]) -> Result<Vec<Option<TensorData>>> {
        let g = self.graph;
        if inputs.len() != g.inputs.len() {
            return Err(Error::Input(format!(
                "{}: expected {} input tensors, got {}",
                g.name,
                g.inputs.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<TensorData>> = vec![None; g.tensors.len()];
        for (&t, data) in g.inputs.iter().zip(inputs) {
            let tensor = &g.tensors[t];
            if data.dtype() != tensor.dtype || data.len() != tensor.elements() {
                return Err(Error::Input(format!(
                    "{}: input '{}' must be {} with shape {:?} ({} elements), got {} with {} elements",
                    g.name,
                    tensor.name,
                    tensor.dtype.name(),
                    tensor.shape,
                    tensor.elements(),
                    data.dtype().name(),
                    data.len()
                )));
            }
            values[t] = Some(data.clone());
        }
        Ok(values)
    }

    /// Runs ops `ops` (graph indices, in order) on the value table, whose
    /// entries for their inputs must be set.
    pub fn run_ops(&self, values: &mut [Option<TensorData>], ops: std::ops::Range<usize>) {
        for i in ops {
            let out = self.eval(i, &self.kernels[i], values);
            values[self.graph.ops[i].output()] = Some(out);
        }
    }

    fn eval(&self, index: usize, kernel: &Kernel, values: &[Option<TensorData>]) -> TensorData {
        let g = self.graph;
        let op = &g.ops[index];
        let value = |t: TensorId| {
            values[t]
                .as_ref()
                .or(self.constants[t].as_ref())
                .expect("inputs are computed before use")
        };
        let i8_in = |slot: usize| value(op.inputs[slot].expect("checked")).as_i8();
        let out_tensor = &g.tensors[op.output()];
        let n = out_tensor.elements();
        let int8 = |f: &dyn Fn(&mut [i8])| {
            let mut y = vec![0i8; n];
            f(&mut y);
            TensorData::I8(y)
        };
        match kernel {
            Kernel::Conv2d(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::DepthwiseConv2d(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::FullyConnected(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::Add(k) => int8(&|y| k.eval(i8_in(0), i8_in(1), y)),
            Kernel::Pool2d(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::Pad(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::Mean(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::Concatenation(k) => {
                let xs: Vec<&[i8]> = (0..op.inputs.len()).map(i8_in).collect();
                int8(&|y| k.eval(&xs, y))
            }
            Kernel::Softmax(p, depth) => int8(&|y| {
                for (x, y) in i8_in(0).chunks_exact(*depth).zip(y.chunks_exact_mut(*depth)) {
                    quantmcu_rt::softmax::softmax_int8(p, x, y);
                }
            }),
            Kernel::Copy => value(op.inputs[0].expect("checked")).clone(),
            Kernel::QuantizeF32(scale, zp) => {
                int8(&|y| quantize::quantize_f32(value(op.inputs[0].expect("checked")).as_f32(), *scale, *zp, y))
            }
            Kernel::Requantize(k) => int8(&|y| k.eval(i8_in(0), y)),
            Kernel::Dequantize(scale, zp) => {
                let mut y = vec![0f32; n];
                quantize::dequantize(i8_in(0), *scale, *zp, &mut y);
                TensorData::F32(y)
            }
        }
    }
}

fn prepare(g: &Graph, i: usize) -> std::result::Result<Kernel, String> {
    let op = &g.ops[i];
    Ok(match &op.kind {
        OpKind::Conv2d { .. } => Kernel::Conv2d(conv2d::Conv2d::prepare(g, i)?),
        OpKind::DepthwiseConv2d { .. } => Kernel::DepthwiseConv2d(depthwise_conv2d::DepthwiseConv2d::prepare(g, i)?),
        OpKind::FullyConnected { .. } => Kernel::FullyConnected(fully_connected::FullyConnected::prepare(g, i)?),
        OpKind::Add { .. } => Kernel::Add(add::Add::prepare(g, i)?),
        OpKind::AveragePool2d { .. } | OpKind::MaxPool2d { .. } => Kernel::Pool2d(pool::Pool2d::prepare(g, i)),
        OpKind::Pad => Kernel::Pad(pad::Pad::prepare(g, i)),
        OpKind::Mean { .. } => Kernel::Mean(mean::Mean::prepare(g, i)?),
        OpKind::Concatenation { .. } => Kernel::Concatenation(concatenation::Concatenation::prepare(g, i)),
        OpKind::Softmax { beta } => {
            let (scale, _) = requant::scale_zp(g, op.inputs[0].expect("checked"));
            let depth = *g.tensors[op.output()].shape.last().unwrap_or(&1);
            let params = quantmcu_rt::softmax::try_softmax_params(*beta, scale)
                .ok_or_else(|| format!("beta {beta} with input scale {scale} gives no valid softmax multiplier"))?;
            Kernel::Softmax(params, depth)
        }
        OpKind::Reshape => Kernel::Copy,
        OpKind::Quantize => {
            let (scale, zp) = requant::scale_zp(g, op.output());
            if g.tensors[op.inputs[0].expect("checked")].dtype == DType::F32 {
                Kernel::QuantizeF32(scale, zp)
            } else {
                Kernel::Requantize(quantize::Requantize::prepare(g, i)?)
            }
        }
        OpKind::Dequantize => {
            let (scale, zp) = requant::scale_zp(g, op.inputs[0].expect("checked"));
            Kernel::Dequantize(scale, zp)
        }
    })
}

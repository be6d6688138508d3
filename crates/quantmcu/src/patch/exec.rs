//! Runs an encoded plan on the host through the runtime (`quantmcu-rt`): the
//! same plan bytes and interpreter a microcontroller runs, in an arena of
//! exactly the planned size. Every buffer is a sub-slice of that arena at its
//! planned offset, so a buffer placed outside it fails the run, and two live
//! buffers that overlap change the output (tests compare it with the
//! reference executor). Float boundary ops (a leading QUANTIZE, a trailing
//! DEQUANTIZE) run on the host with the reference executor, as a firmware
//! converts while it reads and writes.

use quantmcu_rt::interpreter;
use quantmcu_rt::plan::Plan;

use super::arena::InputMode;
use super::tiling::Tiling;
use crate::encode::{encode, EncodedPlan};
use crate::mixed::bitops::{self, BitOps};
use crate::mixed::MixedPrecision;
use crate::reference::ReferenceExecutor;
use crate::tensor::TensorData;
use crate::{Error, Result};

/// An encoded schedule bound to a prepared reference executor of the same graph.
pub struct PlanRunner<'a, 'g> {
    interp: &'a ReferenceExecutor<'g>,
    encoded: EncodedPlan,
    tiles: Option<Tiling>,
    mixed: Option<MixedPrecision>,
}

/// One run's output values, the width each tile stored each map at
/// (`tiles x maps`, empty without mixed precision) and its BitOPs.
pub struct RunStats {
    pub values: Vec<Option<TensorData>>,
    pub widths: Vec<u8>,
    pub bitops: BitOps,
}

impl<'a, 'g> PlanRunner<'a, 'g> {
    /// Encodes the layer-by-layer schedule (`patch: None`) or a patch plan.
    pub fn new(interp: &'a ReferenceExecutor<'g>, patch: Option<(&Tiling, InputMode)>) -> Result<Self> {
        Self::with_mixed(interp, patch, None)
    }

    /// Encodes a patch plan with mixed precision in its stage.
    pub fn with_mixed(
        interp: &'a ReferenceExecutor<'g>,
        patch: Option<(&Tiling, InputMode)>,
        mixed: Option<&MixedPrecision>,
    ) -> Result<Self> {
        Ok(PlanRunner {
            interp,
            encoded: encode(interp.graph(), interp, patch, mixed)?,
            tiles: patch.map(|(tp, _)| tp.clone()),
            mixed: mixed.cloned(),
        })
    }

    /// The encoded plan.
    pub fn encoded(&self) -> &EncodedPlan {
        &self.encoded
    }

    /// The patch plan, if any.
    pub fn tiles(&self) -> Option<&Tiling> {
        self.tiles.as_ref()
    }

    /// Size of the arena the plan runs in (its peak SRAM).
    pub fn arena_bytes(&self) -> usize {
        self.encoded.arena_bytes
    }

    /// Runs the graph and returns the tensor value table with the graph
    /// inputs, the host boundary ops' values and the plan's int8 output set.
    pub fn run_all(&self, inputs: &[TensorData]) -> Result<Vec<Option<TensorData>>> {
        Ok(self.run_stats(inputs)?.values)
    }

    /// [`Self::run_all`] with the runtime's statistics and the BitOPs they
    /// give.
    pub fn run_stats(&self, inputs: &[TensorData]) -> Result<RunStats> {
        self.run_observed(inputs, &mut ())
    }

    /// [`Self::run_stats`], showing `observer` every map a tile writes.
    pub fn run_observed(&self, inputs: &[TensorData], observer: &mut dyn interpreter::Observer) -> Result<RunStats> {
        let c = &self.encoded;
        let graph = self.interp.graph();
        let plan = Plan::parse(c.bytes())
            .map_err(|e| Error::Input(format!("{}: the compiled plan is invalid: {e}", graph.name)))?;
        let mut values = self.interp.feed(inputs)?;
        self.interp.run_ops(&mut values, c.host_ops_before.clone());
        let input = values[c.input].as_ref().expect("plan input computed").as_i8();
        let mut arena = vec![0i8; c.arena_bytes];
        let mut scratch = vec![0i32; plan.scratch_words()];
        let mut output = vec![0i8; plan.output_len()];
        let mut widths = vec![0u8; plan.n_tiles() * plan.n_maps()];
        interpreter::run_observed(
            &plan,
            &mut arena,
            &mut scratch,
            input,
            &mut output,
            &mut widths,
            observer,
        )
        .map_err(|e| Error::Input(format!("{}: the plan did not run: {e}", graph.name)))?;
        values[c.output] = Some(TensorData::I8(output));
        self.interp.run_ops(&mut values, c.host_ops_after.clone());
        let bitops = bitops::count(graph, self.tiles.as_ref(), self.mixed.as_ref(), &widths);
        Ok(RunStats { values, widths, bitops })
    }
}

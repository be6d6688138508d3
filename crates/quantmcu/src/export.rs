//! Export of a compiled plan for a firmware: the plan bytes, a few int8 test
//! inputs with the host runtime's outputs for them, and the sizes a firmware
//! declares its buffers with.
//!
//! [`FirmwareExport::write`] fills a directory with
//!
//! - `plan.qmcu` — the plan bytes ([`crate::encode::EncodedPlan::bytes`]),
//!   read in place by `quantmcu_rt::plan::Plan::parse` (keep them 4-byte aligned);
//! - `inputs.bin` — `N_INPUTS` int8 plan inputs back to back (the int8 tensor
//!   the plan reads: after a float model's leading QUANTIZE);
//! - `expected.bin` — the host runtime's int8 plan output for each of them;
//! - `widths.bin` — per input, the width each tile stored each mixed map at
//!   (`STATS_LEN` bytes each, as `quantmcu_rt::interpreter::run_with_stats`
//!   reports them; empty without mixed precision);
//! - `consts.rs` — `ARENA_BYTES`, `SCRATCH_WORDS`, `INPUT_LEN`, `OUTPUT_LEN`,
//!   `N_INPUTS`, `STATS_LEN` and the input/output quantization, as Rust
//!   constants for `include!`;
//! - `export.json` — the same sizes and the executed MACs, for tools.
//!
//! [`FirmwareExport::write_c`] writes the same plan, sizes and test cases
//! for C firmware: `quantmcu_plan.h` (macros, declarations) and
//! `quantmcu_plan.c` (`const` arrays, so in flash).

use std::path::Path;

use quantmcu_rt::plan::Plan;
use serde::Serialize;

use crate::ir::Graph;
use crate::patch::{PlanRunner, Tiling};
use crate::tensor::TensorData;
use crate::{Error, Result};

/// One test input: the int8 plan input, the host runtime's int8 output and
/// the widths each tile stored each mixed map at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub input: Vec<i8>,
    pub expected: Vec<i8>,
    pub widths: Vec<u8>,
}

/// Quantization and shape of the plan's int8 input or output tensor.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub scale: f32,
    pub zero_point: i32,
}

/// Everything a firmware needs to run a plan and check it.
#[derive(Clone, Debug, Serialize)]
pub struct FirmwareExport {
    pub model: String,
    #[serde(skip)]
    pub plan: Vec<u8>,
    pub plan_bytes: usize,
    pub arena_bytes: usize,
    pub scratch_words: usize,
    pub input_len: usize,
    pub output_len: usize,
    pub n_tiles: usize,
    pub n_maps: usize,
    /// Entries of `run_with_stats`' statistics (`n_tiles * n_maps`).
    pub stats_len: usize,
    /// MACs one inference executes (halo recomputation included).
    pub macs: u64,
    pub input: TensorSpec,
    pub output: TensorSpec,
    pub n_inputs: usize,
    #[serde(skip)]
    pub cases: Vec<Case>,
    /// What each op record of the plan computes (`"conv 1x1"`, `"depthwise
    /// (mixed)"`, ...), by op index.
    #[serde(skip)]
    pub op_labels: Vec<String>,
}

/// MACs of the whole network with `tiles`' patch stage (halos included), or
/// layer by layer.
pub fn executed_macs(graph: &Graph, tiles: Option<&Tiling>) -> u64 {
    let all = graph.macs();
    match tiles {
        None => all,
        Some(t) => {
            let stage: u64 = t.stage.ops.iter().map(|&i| graph.op_macs(i)).sum();
            all - stage + t.macs(graph)
        }
    }
}

fn spec(graph: &Graph, t: usize) -> TensorSpec {
    let (scale, zero_point) = graph.scale_zp(t);
    TensorSpec {
        name: graph.tensors[t].name.clone(),
        shape: graph.tensors[t].shape.clone(),
        scale,
        zero_point,
    }
}

impl FirmwareExport {
    /// Runs `runner` (compiled for `graph`) on each of `inputs` (one tensor
    /// per graph input, as for [`PlanRunner::run_all`]) and records the int8
    /// plan inputs and outputs. `tiles` is the runner's patch plan (for the
    /// MAC count).
    pub fn new(graph: &Graph, runner: &PlanRunner, tiles: Option<&Tiling>, inputs: &[Vec<TensorData>]) -> Result<Self> {
        let compiled = runner.encoded();
        // Parsed from the compiled words: a byte copy need not be aligned.
        let plan = Plan::parse(compiled.bytes())
            .map_err(|e| Error::Input(format!("{}: the compiled plan is invalid: {e}", graph.name)))?;
        if inputs.is_empty() {
            return Err(Error::Input(format!(
                "{}: a firmware export needs at least one test input",
                graph.name
            )));
        }
        let mut cases = Vec::with_capacity(inputs.len());
        for x in inputs {
            let mut run = runner.run_stats(x)?;
            let take = |v: &mut Vec<Option<TensorData>>, t: usize| match v[t].take() {
                Some(TensorData::I8(d)) => Ok(d),
                _ => Err(Error::Input(format!(
                    "{}: tensor '{}' is not an int8 plan tensor",
                    graph.name, graph.tensors[t].name
                ))),
            };
            cases.push(Case {
                input: take(&mut run.values, compiled.input)?,
                expected: take(&mut run.values, compiled.output)?,
                widths: run.widths,
            });
        }
        Ok(FirmwareExport {
            model: graph.name.clone(),
            plan_bytes: compiled.bytes().len(),
            plan: compiled.bytes().to_vec(),
            arena_bytes: plan.arena_bytes(),
            scratch_words: plan.scratch_words(),
            input_len: plan.input_len(),
            output_len: plan.output_len(),
            n_tiles: plan.n_tiles(),
            n_maps: plan.n_maps(),
            stats_len: plan.n_tiles() * plan.n_maps(),
            macs: executed_macs(graph, tiles),
            input: spec(graph, compiled.input),
            output: spec(graph, compiled.output),
            n_inputs: cases.len(),
            cases,
            op_labels: (0..plan.n_ops())
                .map(|i| match plan.op_label(i) {
                    Some((kind, false)) => kind.to_string(),
                    Some((kind, true)) => format!("{kind} (mixed)"),
                    None => "?".to_string(),
                })
                .collect(),
        })
    }

    /// The `consts.rs` a firmware includes.
    pub fn consts_rs(&self) -> String {
        let shape = |s: &[usize]| s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
        format!(
            "// Generated by `quantmcu export` for {model}; do not edit.\n\
             /// Bytes of the arena the plan runs in (its peak SRAM).\n\
             pub const ARENA_BYTES: usize = {arena};\n\
             /// i32 words of kernel scratch (`Plan::scratch_words`).\n\
             pub const SCRATCH_WORDS: usize = {scratch};\n\
             /// Bytes of the int8 input the plan reads, and of its int8 output.\n\
             pub const INPUT_LEN: usize = {input_len};\n\
             pub const OUTPUT_LEN: usize = {output_len};\n\
             /// Test inputs in `inputs.bin` (and outputs in `expected.bin`).\n\
             pub const N_INPUTS: usize = {n};\n\
             /// Entries of `run_with_stats`' statistics: tiles x mixed maps.\n\
             pub const STATS_LEN: usize = {stats};\n\
             /// The int8 input tensor '{in_name}': real = scale * (q - zero point).\n\
             pub const INPUT_SHAPE: &[usize] = &[{in_shape}];\n\
             pub const INPUT_SCALE: f32 = {in_scale:?};\n\
             pub const INPUT_ZERO_POINT: i32 = {in_zp};\n\
             /// The int8 output tensor '{out_name}'.\n\
             pub const OUTPUT_SHAPE: &[usize] = &[{out_shape}];\n\
             pub const OUTPUT_SCALE: f32 = {out_scale:?};\n\
             pub const OUTPUT_ZERO_POINT: i32 = {out_zp};\n",
            model = self.model,
            arena = self.arena_bytes,
            scratch = self.scratch_words,
            input_len = self.input_len,
            output_len = self.output_len,
            n = self.n_inputs,
            stats = self.stats_len,
            in_name = self.input.name.replace('\n', " "),
            in_shape = shape(&self.input.shape),
            in_scale = self.input.scale,
            in_zp = self.input.zero_point,
            out_name = self.output.name.replace('\n', " "),
            out_shape = shape(&self.output.shape),
            out_scale = self.output.scale,
            out_zp = self.output.zero_point,
        )
    }

    /// `quantmcu_plan.h` for C firmware: the buffer sizes as macros and
    /// the declarations of the arrays [`FirmwareExport::c_source`] defines.
    pub fn c_header(&self) -> String {
        let widths = if self.stats_len > 0 {
            "/* Per test input, the bits each tile stored each mixed map at\n   \
             (QUANTMCU_STATS_LEN bytes each, as qmcu_run's widths). */\n\
             extern const uint8_t quantmcu_test_widths[QUANTMCU_N_INPUTS * QUANTMCU_STATS_LEN];\n"
        } else {
            "/* No mixed-precision maps: qmcu_run takes widths = NULL, 0. */\n"
        };
        format!(
            "/* Generated by `quantmcu export --c` for {model}; do not edit. */\n\
             #ifndef QUANTMCU_PLAN_H\n\
             #define QUANTMCU_PLAN_H\n\n\
             #include <stdint.h>\n\n\
             /* Bytes of the plan (quantmcu_plan_data, a whole number of words). */\n\
             #define QUANTMCU_PLAN_BYTES {plan}u\n\
             /* Bytes of the arena the plan runs in (its peak SRAM). */\n\
             #define QUANTMCU_ARENA_BYTES {arena}u\n\
             /* int32_t words of kernel scratch. */\n\
             #define QUANTMCU_SCRATCH_WORDS {scratch}u\n\
             /* Bytes of the int8 input the plan reads, and of its int8 output. */\n\
             #define QUANTMCU_INPUT_LEN {input_len}u\n\
             #define QUANTMCU_OUTPUT_LEN {output_len}u\n\
             /* Tiles and mixed maps; QUANTMCU_STATS_LEN = their product. */\n\
             #define QUANTMCU_N_TILES {tiles}u\n\
             #define QUANTMCU_N_MAPS {maps}u\n\
             #define QUANTMCU_STATS_LEN {stats}u\n\
             /* MACs one inference executes. */\n\
             #define QUANTMCU_MACS {macs}ull\n\
             /* Test inputs (and host outputs) in the arrays below. */\n\
             #define QUANTMCU_N_INPUTS {n}u\n\
             /* Input '{in_name}' and output '{out_name}': real = scale * (q - zero point). */\n\
             #define QUANTMCU_INPUT_SCALE {in_scale:?}f\n\
             #define QUANTMCU_INPUT_ZERO_POINT {in_zp}\n\
             #define QUANTMCU_OUTPUT_SCALE {out_scale:?}f\n\
             #define QUANTMCU_OUTPUT_ZERO_POINT {out_zp}\n\n\
             /* The plan, as little-endian 32-bit words (4-byte aligned, const: in flash);\n   \
             pass (const uint8_t *)quantmcu_plan_data and QUANTMCU_PLAN_BYTES. */\n\
             extern const uint32_t quantmcu_plan_data[QUANTMCU_PLAN_BYTES / 4];\n\
             /* QUANTMCU_N_INPUTS int8 plan inputs back to back. */\n\
             extern const int8_t quantmcu_test_inputs[QUANTMCU_N_INPUTS * QUANTMCU_INPUT_LEN];\n\
             /* The host runtime's int8 output for each of them. */\n\
             extern const int8_t quantmcu_test_expected[QUANTMCU_N_INPUTS * QUANTMCU_OUTPUT_LEN];\n\
             {widths}\n\
             #endif /* QUANTMCU_PLAN_H */\n",
            model = self.model.replace("*/", "* /"),
            plan = self.plan_bytes,
            arena = self.arena_bytes,
            scratch = self.scratch_words,
            input_len = self.input_len,
            output_len = self.output_len,
            tiles = self.n_tiles,
            maps = self.n_maps,
            stats = self.stats_len,
            macs = self.macs,
            n = self.n_inputs,
            in_name = self.input.name.replace(['\n', '*'], " "),
            out_name = self.output.name.replace(['\n', '*'], " "),
            in_scale = self.input.scale,
            in_zp = self.input.zero_point,
            out_scale = self.output.scale,
            out_zp = self.output.zero_point,
        )
    }

    /// `quantmcu_plan.c`: the plan words and the test cases as `const`
    /// arrays (declared by [`FirmwareExport::c_header`]).
    pub fn c_source(&self) -> String {
        fn array<T: std::fmt::Display>(decl: &str, values: impl Iterator<Item = T>) -> String {
            let values: Vec<String> = values.map(|v| v.to_string()).collect();
            let lines: Vec<String> = values.chunks(16).map(|c| format!("    {},", c.join(", "))).collect();
            format!("const {decl} = {{\n{}\n}};\n", lines.join("\n"))
        }
        let words = self
            .plan
            .chunks_exact(4)
            .map(|w| format!("0x{:08x}u", u32::from_le_bytes([w[0], w[1], w[2], w[3]])));
        let cat = |f: fn(&Case) -> &[i8]| self.cases.iter().flat_map(f).copied().collect::<Vec<i8>>();
        let mut out = format!(
            "/* Generated by `quantmcu export --c` for {}; do not edit. */\n#include \"quantmcu_plan.h\"\n\n",
            self.model.replace("*/", "* /")
        );
        out += &array("uint32_t quantmcu_plan_data[QUANTMCU_PLAN_BYTES / 4]", words);
        out += &array(
            "int8_t quantmcu_test_inputs[QUANTMCU_N_INPUTS * QUANTMCU_INPUT_LEN]",
            cat(|c| &c.input).into_iter(),
        );
        out += &array(
            "int8_t quantmcu_test_expected[QUANTMCU_N_INPUTS * QUANTMCU_OUTPUT_LEN]",
            cat(|c| &c.expected).into_iter(),
        );
        if self.stats_len > 0 {
            out += &array(
                "uint8_t quantmcu_test_widths[QUANTMCU_N_INPUTS * QUANTMCU_STATS_LEN]",
                self.cases.iter().flat_map(|c| c.widths.iter().copied()),
            );
        }
        out
    }

    /// Writes `quantmcu_plan.h` and `quantmcu_plan.c` into `dir` (created if
    /// needed).
    pub fn write_c(&self, dir: &Path) -> Result<()> {
        write_files(
            dir,
            [
                ("quantmcu_plan.h", self.c_header().into_bytes()),
                ("quantmcu_plan.c", self.c_source().into_bytes()),
            ],
        )
    }

    /// Writes the export into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let cat = |f: fn(&Case) -> &[u8]| self.cases.iter().flat_map(f).copied().collect::<Vec<u8>>();
        let json = serde_json::to_string_pretty(self).expect("serializable") + "\n";
        let files: [(&str, Vec<u8>); 6] = [
            ("plan.qmcu", self.plan.clone()),
            ("inputs.bin", cat(|c| bytemuck::cast_slice(&c.input))),
            ("expected.bin", cat(|c| bytemuck::cast_slice(&c.expected))),
            ("widths.bin", cat(|c| &c.widths)),
            ("consts.rs", self.consts_rs().into_bytes()),
            ("export.json", json.into_bytes()),
        ];
        write_files(dir, files)
    }
}

/// Writes each `(name, bytes)` into `dir` (created if needed); unchanged
/// files keep their timestamps (no firmware rebuild).
fn write_files<const N: usize>(dir: &Path, files: [(&str, Vec<u8>); N]) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

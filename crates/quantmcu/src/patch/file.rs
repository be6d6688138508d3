//! The plan file `quantmcu plan -o` writes and `quantmcu run --plan` reads: the
//! schedule decisions (split op, grid, input accounting) for one model,
//! bound to it by the SHA-256 of the model file's bytes, plus the
//! mixed-precision decisions when there are any (maps, formats, clean ranges,
//! rule). Windows, weights and requantization are re-derived from the model
//! when the plan is loaded, after every field has been checked against it.

use serde::{Deserialize, Serialize};

use super::arena::InputMode;
use super::stage::{hwc, split_points};
use super::tiling::Tiling;
use crate::ir::Graph;
use crate::mixed::MixedPrecision;
use crate::{Error, Result};

/// A saved patch schedule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// [`FORMAT`].
    pub format: String,
    /// File name of the model the plan was made for (messages only).
    pub model: String,
    /// SHA-256 of that model file's bytes, 64 lower-case hex digits.
    pub model_sha256: String,
    /// Index of the last op of the patch stage.
    pub split_op: usize,
    /// Rows and columns of split-tensor tiles.
    pub grid: [usize; 2],
    pub input: InputMode,
    /// Value-driven mixed precision of the patch stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed: Option<MixedPrecision>,
}

/// A plan file rebuilt for its model.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub tiles: Tiling,
    pub input: InputMode,
    pub mixed: Option<MixedPrecision>,
}

/// The plan format this library writes and reads.
pub const FORMAT: &str = "quantmcu-plan/3";
/// Earlier plan formats, refused with a hint to regenerate the plan.
const OLD_FORMATS: &[&str] = &["quantmcu-plan/1", "quantmcu-plan/2"];
/// Largest plan file read (bytes); real plans are a few hundred KiB at most.
pub const MAX_PLAN_BYTES: u64 = 16 << 20;

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl PlanFile {
    /// The plan file for `graph` split after `split_op` on `grid`.
    pub fn new(graph: &Graph, split_op: usize, grid: [usize; 2], input: InputMode) -> Self {
        PlanFile {
            format: FORMAT.into(),
            model: graph.name.clone(),
            model_sha256: hex(&graph.model_sha256),
            split_op,
            grid,
            input,
            mixed: None,
        }
    }

    /// Reads a plan file and rebuilds its tiling for `graph` ([`Self::parse`]).
    pub fn load(path: &std::path::Path, graph: &Graph) -> Result<Schedule> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_PLAN_BYTES {
            return Err(Error::Input(format!(
                "{}: is {size} bytes long, more than any plan file (at most {MAX_PLAN_BYTES} bytes)",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, &path.display().to_string(), graph)
    }

    /// Parses the text of a plan file (`source` names it in messages), checks
    /// every field against `graph` and rebuilds its tiling. Errors are
    /// sentences naming the JSON path of the field at fault and what it
    /// should hold.
    pub fn parse(text: &str, source: &str, graph: &Graph) -> Result<Schedule> {
        Self::parse_checked(text, graph).map_err(|d| Error::Input(format!("{source}: {d}")))
    }

    fn parse_checked(text: &str, graph: &Graph) -> std::result::Result<Schedule, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("is not a JSON plan file: {e}"))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(old) if OLD_FORMATS.contains(&old) => {
                return Err(format!(
                    "field `format` is '{old}', an older plan format than '{FORMAT}' (which binds a plan \
                     to the model file's SHA-256); regenerate the plan with `quantmcu plan MODEL --sram BYTES -o PLAN`"
                ))
            }
            Some(other) => return Err(format!("field `format` is '{other}', expected '{FORMAT}'")),
            None if value.is_object() => {
                return Err(format!(
                    "field `format` is missing or not a string, expected '{FORMAT}'"
                ))
            }
            None => return Err("is not a plan file: expected a JSON object".into()),
        }
        let file: PlanFile = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                format!("{}", e.inner())
            } else {
                format!("field `{path}`: {}", e.inner())
            }
        })?;
        file.check(graph)
    }

    /// Checks every field against `graph` and rebuilds the tiling.
    fn check(self, graph: &Graph) -> std::result::Result<Schedule, String> {
        let sha = hex(&graph.model_sha256);
        if self.model_sha256 != sha {
            return Err(format!(
                "field `model_sha256` is '{}' (the plan was made for '{}'), but {} has SHA-256 {sha}; \
                 make a plan for this model with `quantmcu plan`",
                self.model_sha256, self.model, graph.name
            ));
        }
        let stages = split_points(graph);
        let Some(stage) = stages.iter().find(|s| s.ops.last() == Some(&self.split_op)) else {
            let legal: Vec<String> = stages
                .iter()
                .filter_map(|s| s.ops.last().map(|o| o.to_string()))
                .collect();
            return Err(format!(
                "field `split_op` is {}, expected a legal split point of {} (one of the ops {})",
                self.split_op,
                graph.name,
                legal.join(", ")
            ));
        };
        let [h, w, _] = hwc(graph, stage.split).ok_or("the split tensor is not a [1, H, W, C] map")?;
        let tiles = Tiling::new(graph, stage, self.grid).ok_or_else(|| {
            format!(
                "field `grid` is [{}, {}], expected 1..={h} rows and 1..={w} columns (the split tensor '{}' is {h}x{w})",
                self.grid[0], self.grid[1], graph.tensors[stage.split].name
            )
        })?;
        if let Some(m) = &self.mixed {
            m.check(graph, &tiles, "mixed")?;
        }
        Ok(Schedule {
            tiles,
            input: self.input,
            mixed: self.mixed,
        })
    }
}

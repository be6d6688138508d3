//! The plan file `quantmcu plan -o` writes and `quantmcu run --plan` reads: the
//! schedule decisions (split op, grid, input accounting) for one model,
//! identified by its size and a hash of its bytes, plus the mixed-precision
//! decisions when there are any (maps, formats, clean ranges, rule). Windows,
//! weights and requantization are re-derived from the model when the plan is
//! loaded.

use serde::{Deserialize, Serialize};

use super::arena::InputMode;
use super::stage::split_points;
use super::tiling::TilePlan;
use crate::ir::Graph;
use crate::mixed::{mixed_maps, MixedPlan};
use crate::{Error, Result};

/// A saved patch schedule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlanFile {
    pub format: String,
    pub model: String,
    /// Number of ops and tensors of the model the plan was made for.
    pub model_ops: usize,
    pub model_tensors: usize,
    /// Index of the last op of the patch stage.
    pub split_op: usize,
    pub grid: [usize; 2],
    pub input: InputMode,
    /// Value-driven mixed precision of the patch stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed: Option<MixedPlan>,
}

/// A plan file rebuilt for its model.
#[derive(Clone, Debug)]
pub struct LoadedPlan {
    pub tiles: TilePlan,
    pub input: InputMode,
    pub mixed: Option<MixedPlan>,
}

const FORMAT: &str = "quantmcu-plan/1";

impl PlanFile {
    /// The plan file for `graph` split after `split_op` on `grid`.
    pub fn new(graph: &Graph, split_op: usize, grid: [usize; 2], input: InputMode) -> Self {
        PlanFile {
            format: FORMAT.into(),
            model: graph.name.clone(),
            model_ops: graph.ops.len(),
            model_tensors: graph.tensors.len(),
            split_op,
            grid,
            input,
            mixed: None,
        }
    }

    /// Reads a plan file and rebuilds its tiling for `graph`.
    pub fn load(path: &std::path::Path, graph: &Graph) -> Result<LoadedPlan> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |d: String| Error::Input(format!("{}: {d}", path.display()));
        let file: PlanFile = serde_json::from_str(&text).map_err(|e| bad(format!("not a quantmcu plan: {e}")))?;
        if file.format != FORMAT {
            return Err(bad(format!("plan format '{}' is not '{FORMAT}'", file.format)));
        }
        if file.model_ops != graph.ops.len() || file.model_tensors != graph.tensors.len() {
            return Err(bad(format!(
                "the plan was made for '{}', not for {}",
                file.model, graph.name
            )));
        }
        let stage = split_points(graph)
            .into_iter()
            .find(|s| s.ops.last() == Some(&file.split_op))
            .ok_or_else(|| {
                bad(format!(
                    "op {} is not a legal split point of {}",
                    file.split_op, graph.name
                ))
            })?;
        let plan = TilePlan::new(graph, &stage, file.grid)
            .ok_or_else(|| bad(format!("grid {:?} does not fit the split tensor", file.grid)))?;
        if let Some(m) = &file.mixed {
            let maps = mixed_maps(graph, &plan, m.scope, m.layer_in_place);
            for spec in &m.maps {
                let channels = crate::patch::stage::hwc(graph, spec.tensor).map_or(0, |s| s[2]);
                let f = &spec.format;
                let ok = maps.contains(&spec.tensor)
                    && (1..=8).contains(&f.bits)
                    && (f.scale.len() == 1 || f.scale.len() == channels)
                    && f.scale.iter().all(|s| s.is_finite() && *s > 0.0)
                    && (spec.clean.len() == 1 || spec.clean.len() == channels)
                    && (f.zero_point >= f.code_range().0 && f.zero_point <= f.code_range().1);
                if !ok {
                    return Err(bad(format!(
                        "mixed-precision entry for tensor {} ('{}') does not fit the patch stage of {}",
                        spec.tensor, spec.name, graph.name
                    )));
                }
            }
        }
        Ok(LoadedPlan {
            tiles: plan,
            input: file.input,
            mixed: file.mixed,
        })
    }
}

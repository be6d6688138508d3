//! Patch-based inference (MCUNetV2): the first layers run tile by tile.
//!
//! - [`stage`]: which prefixes of a graph can form a patch stage (split points).
//! - [`tiling`]: the per-tile, per-tensor windows of a stage for a p x q grid,
//!   and the MACs they execute (halo recomputation included).
//! - [`arena`]: the SRAM a patch schedule needs (input resident or streamed).
//! - [`search`]: the split and grid with the fewest MACs that fit a budget.

pub mod arena;
pub mod exec;
pub mod file;
pub mod search;
pub mod stage;
pub mod tiling;

pub use exec::PlanRunner;
pub use file::PlanFile;
pub use stage::{split_points, Stage};
pub use tiling::{Tile, Tiling};

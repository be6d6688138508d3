//! SVG plots (plotters, no external assets).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use quantmcu::patch::search::Search;

/// Peak SRAM versus executed MACs of every candidate schedule, with the
/// Pareto frontier, the layer-by-layer schedule, the budget and the choice
/// (peak SRAM bytes, MACs).
pub fn frontier(path: &Path, model: &str, s: &Search, budget: usize, chosen: (usize, u64)) -> Result<()> {
    let err = |e: &dyn std::fmt::Display| anyhow!("plotting {}: {e}", path.display());
    let kb = |b: usize| b as f64 / 1000.0;
    let mm = |m: u64| m as f64 / 1e6;
    // Schedules costing more than twice the layer-by-layer MACs are left out:
    // deep splits with fine grids would squash the interesting region.
    let cap = 2.0 * mm(s.layer_based_macs);
    let pts: Vec<(f64, f64)> = s
        .candidates
        .iter()
        .map(|c| (kb(c.peak_sram_bytes), mm(c.macs)))
        .filter(|p| p.1 <= cap)
        .collect();
    let mut frontier: Vec<(f64, f64)> = Vec::new();
    let mut sorted = pts.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for p in sorted {
        if frontier.last().is_none_or(|l| p.1 < l.1) {
            frontier.push(p);
        }
    }
    let layer = (kb(s.layer_based_peak_sram_bytes), mm(s.layer_based_macs));
    let x_max = pts.iter().map(|p| p.0).fold(layer.0, f64::max) * 1.05;
    let y_min = pts.iter().map(|p| p.1).fold(layer.1, f64::min) * 0.97;
    let y_max = pts.iter().map(|p| p.1).fold(layer.1, f64::max) * 1.03;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{model}: patch schedules (MACs <= 2x layer by layer)"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, y_min..y_max)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("peak SRAM (KB, arena incl. input accounting)")
        .y_desc("executed MACs (millions, halo included)")
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(pts.iter().map(|&p| Circle::new(p, 2, BLUE.mix(0.35).filled())))
        .map_err(|e| err(&e))?
        .label("split point x grid")
        .legend(|(x, y)| Circle::new((x, y), 3, BLUE.filled()));
    chart
        .draw_series(LineSeries::new(frontier.clone(), RED.stroke_width(2)))
        .map_err(|e| err(&e))?
        .label("Pareto frontier")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], RED.stroke_width(2)));
    chart
        .draw_series(std::iter::once(TriangleMarker::new(layer, 7, BLACK.filled())))
        .map_err(|e| err(&e))?
        .label("layer by layer")
        .legend(|(x, y)| TriangleMarker::new((x, y), 5, BLACK.filled()));
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(kb(budget), y_min), (kb(budget), y_max)],
            GREEN.stroke_width(2),
        )))
        .map_err(|e| err(&e))?
        .label("SRAM budget")
        .legend(|(x, y)| PathElement::new(vec![(x - 8, y), (x + 8, y)], GREEN.stroke_width(2)));
    chart
        .draw_series(std::iter::once(Circle::new(
            (kb(chosen.0), mm(chosen.1)),
            6,
            GREEN.filled(),
        )))
        .map_err(|e| err(&e))?
        .label("chosen")
        .legend(|(x, y)| Circle::new((x, y), 4, GREEN.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

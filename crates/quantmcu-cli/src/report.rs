//! `DIR/report.html`: one self-contained page (inline SVG from plotters, no
//! external assets) built from `report.json` — the four-plan table, memory
//! and BitOPs per layer, the lambda sweep's Pareto curve, the outlier heat
//! map, the chosen widths and the search trajectory. `quantmcu report DIR`
//! rebuilds it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;
use quantmcu::pipeline::Report;

const W: u32 = 900;
const H: u32 = 380;
const COLORS: [RGBColor; 4] = [
    RGBColor(90, 90, 90),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];

type Plot<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn svg(draw: impl FnOnce(&Plot) -> Result<()>) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(out)
}

/// One or more series over graph op indices.
fn per_op_lines(series: &[(&str, Vec<f64>)], y_desc: &str, hline: Option<(&str, f64)>) -> Result<String> {
    let n = series.iter().map(|s| s.1.len()).max().unwrap_or(1).max(1);
    let y_max = series
        .iter()
        .flat_map(|s| s.1.iter().copied())
        .chain(hline.map(|h| h.1))
        .fold(1.0f64, f64::max)
        * 1.1;
    svg(|root| {
        let e = |e: &dyn std::fmt::Display| anyhow!("{e}");
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..(n as f64 - 0.5).max(1.0), 0f64..y_max)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(240, 240, 240))
            .x_desc("graph op index")
            .y_desc(y_desc)
            .draw()
            .map_err(|x| e(&x))?;
        for (k, (name, ys)) in series.iter().enumerate() {
            let c = COLORS[k % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    ys.iter().enumerate().map(|(i, &y)| (i as f64, y)),
                    c.stroke_width(2),
                ))
                .map_err(|x| e(&x))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
            chart
                .draw_series(
                    ys.iter()
                        .enumerate()
                        .map(|(i, &y)| Circle::new((i as f64, y), 2, c.filled())),
                )
                .map_err(|x| e(&x))?;
        }
        if let Some((name, y)) = hline {
            chart
                .draw_series(LineSeries::new(vec![(0.0, y), (n as f64, y)], RED.stroke_width(1)))
                .map_err(|x| e(&x))?
                .label(name)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|x| e(&x))?;
        Ok(())
    })
}

/// Accuracy (or agreement) versus BitOPs: the sweep and the four plans.
fn pareto(r: &Report) -> Result<String> {
    let quality = |acc: Option<f64>, agree: f64| 100.0 * acc.unwrap_or(agree);
    let mut pts: Vec<(String, f64, f64)> = r
        .plans
        .iter()
        .map(|p| (p.name.clone(), p.bitops / 1e6, quality(p.accuracy, p.agreement)))
        .collect();
    let sweep: Vec<(f64, f64, f64)> = r
        .lambda_sweep
        .iter()
        .map(|s| (s.lambda, s.bitops / 1e6, quality(s.accuracy, s.agreement)))
        .collect();
    pts.sort_by(|a, b| a.1.total_cmp(&b.1));
    let xs = pts.iter().map(|p| p.1).chain(sweep.iter().map(|s| s.1));
    let ys = pts.iter().map(|p| p.2).chain(sweep.iter().map(|s| s.2));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let (dx, dy) = ((x1 - x0).max(1.0) * 0.1, (y1 - y0).max(0.5) * 0.15);
    let y_desc = if r.plans.iter().any(|p| p.accuracy.is_some()) {
        "top-1 accuracy (%)"
    } else {
        "top-1 agreement with layer-int8 (%)"
    };
    svg(|root| {
        let e = |e: &dyn std::fmt::Display| anyhow!("{e}");
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x0 - dx)..(x1 + dx), (y0 - dy)..(y1 + dy))
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(240, 240, 240))
            .x_desc("BitOPs per inference (millions, whole network)")
            .y_desc(y_desc)
            .draw()
            .map_err(|x| e(&x))?;
        let mut line = sweep.clone();
        line.sort_by(|a, b| a.1.total_cmp(&b.1));
        chart
            .draw_series(LineSeries::new(
                line.iter().map(|s| (s.1, s.2)),
                COLORS[3].stroke_width(2),
            ))
            .map_err(|x| e(&x))?
            .label("quantmcu, lambda sweep")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], COLORS[3].stroke_width(2)));
        for s in &line {
            chart
                .draw_series([Circle::new((s.1, s.2), 4, COLORS[3].filled())])
                .map_err(|x| e(&x))?;
            chart
                .draw_series([Text::new(format!("λ={}", s.0), (s.1, s.2), ("sans-serif", 12))])
                .map_err(|x| e(&x))?;
        }
        for (k, p) in pts.iter().enumerate() {
            let c = COLORS[k % COLORS.len()];
            chart
                .draw_series([TriangleMarker::new((p.1, p.2), 7, c.filled())])
                .map_err(|x| e(&x))?;
            // Alternate labels above and below so neighbours do not overlap.
            let y = if k % 2 == 0 { p.2 - dy * 0.4 } else { p.2 + dy * 0.25 };
            chart
                .draw_series([Text::new(p.0.clone(), (p.1, y), ("sans-serif", 13))])
                .map_err(|x| e(&x))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(|x| e(&x))?;
        Ok(())
    })
}

/// Share of images that stored each (tile, map) at 8 bits.
fn heat_map(r: &Report) -> Result<String> {
    let maps = r.maps.len().max(1);
    let tiles = r.tiles.max(1);
    svg(|root| {
        let e = |e: &dyn std::fmt::Display| anyhow!("{e}");
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0..maps, 0..tiles)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("feature map (stage order)")
            .y_desc(if r.tiles > r.grid[0] * r.grid[1] {
                "tile (last row: layer stage)"
            } else {
                "tile"
            })
            .draw()
            .map_err(|x| e(&x))?;
        let low: Vec<bool> = r.bits.iter().map(|&b| b < 8).collect();
        chart
            .draw_series((0..tiles).flat_map(|t| {
                let low = &low;
                (0..maps).map(move |m| {
                    let v = r.outlier_by_tile_map.get(t * maps + m).copied().unwrap_or(0.0);
                    let color = if !low.get(m).copied().unwrap_or(false) {
                        RGBColor(235, 235, 235)
                    } else {
                        let k = (255.0 * (1.0 - v)) as u8;
                        RGBColor(255, k, k)
                    };
                    Rectangle::new([(m, t), (m + 1, t + 1)], color.filled())
                })
            }))
            .map_err(|x| e(&x))?;
        Ok(())
    })
}

/// Estimated BitOPs after each move of the search.
fn trajectory(r: &Report) -> Result<String> {
    // The search starts from every map at 8 bits: patch-int8's BitOPs.
    let start = r
        .plans
        .iter()
        .find(|p| p.name == "patch-int8")
        .map_or(0.0, |p| p.bitops);
    let mut ys = vec![start / 1e6];
    ys.extend(r.trajectory.iter().map(|m| m.bitops / 1e6));
    per_op_lines(&[("estimated BitOPs (all tiles clean)", ys)], "BitOPs (millions)", None)
        .map(|s| s.replace("graph op index", "move"))
}

/// The search's score and its settings, in words.
fn score(r: &Report) -> String {
    match (r.min_agreement, r.pool) {
        (Some(a), Some(k)) => format!(
            "measured score (agreement floor {:.2} %, KL ceiling {}, {k} moves per iteration)",
            100.0 * a,
            r.max_kl.map_or("none".into(), |c| format!("{c} nats"))
        ),
        _ => format!("paper score, lambda {}", r.lambda),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The page for `r`.
pub fn html(r: &Report) -> Result<String> {
    let mut h = String::new();
    let w = &mut h;
    let mb = |v: f64| format!("{:.2}", v / 1e6);
    writeln!(
        w,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>quantmcu report: {}</title>",
        esc(&r.model)
    )?;
    writeln!(w, "<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}th{{background:#eee;text-align:left}}td:nth-child(2){{text-align:left}}td:first-child{{text-align:left}}figure{{margin:0}}figcaption{{color:#555;font-size:90%}}section{{margin-bottom:2em}}</style></head><body>")?;
    writeln!(w, "<h1>quantmcu report: {}</h1>", esc(&r.model))?;
    writeln!(
        w,
        "<p>SRAM budget {} B; patch stage up to op {} on a {}x{} grid ({:?} input); {} calibration and {} evaluation images; candidate widths {:?}, {}, outlier quantile {}.</p>",
        r.sram_budget_bytes, r.split_op, r.grid[0], r.grid[1], r.input, r.calibration_images, r.evaluation_images, r.candidates, score(r), r.outlier_quantile
    )?;
    writeln!(w, "<section id=\"plans\"><h2>The four plans</h2><table><tr><th>plan</th><th>peak SRAM (B)</th><th>scratch (B)</th><th>flash (B)</th><th>MACs</th><th>BitOPs (M)</th><th>patch-stage BitOPs (M)</th><th>accuracy</th><th>agreement</th><th>SQNR (dB)</th><th>outlier tiles</th><th>search (s)</th></tr>")?;
    for p in &r.plans {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2} %</td><td>{}</td><td>{:.1} %</td><td>{:.2}</td></tr>",
            p.name,
            p.peak_sram_bytes,
            p.scratch_bytes,
            p.flash_bytes,
            p.macs,
            mb(p.bitops),
            mb(p.bitops_patch_stage),
            p.accuracy.map_or("-".into(), |a| format!("{:.2} %", 100.0 * a)),
            100.0 * p.agreement,
            p.sqnr_db.map_or("exact".into(), |s| format!("{s:.1}")),
            100.0 * p.outlier_tile_share,
            p.search_seconds
        )?;
    }
    writeln!(w, "</table><p>BitOPs = executed MACs (halo included) x 8 weight bits x the activation bits each tile really read, averaged over the evaluation images. Agreement and SQNR compare each plan's output with layer-int8. Peak SRAM is the plan's arena; the kernels' scratch buffer comes on top of it, and so does the stack the kernels use (measured by <code>quantmcu mcu-run</code>). Flash is the plan's bytes (weights, biases, requantization parameters, windows, steps), without the runtime's code.</p></section>")?;
    let figure = |w: &mut String, id: &str, title: &str, svg: String, caption: &str| -> std::fmt::Result {
        writeln!(
            w,
            "<section id=\"{id}\"><h2>{title}</h2><figure>{svg}<figcaption>{caption}</figcaption></figure></section>"
        )
    };
    let f = |v: &[usize]| v.iter().map(|&b| b as f64 / 1000.0).collect::<Vec<_>>();
    figure(
        w,
        "memory",
        "SRAM per layer",
        per_op_lines(
            &[("layer by layer", f(&r.layer_live_bytes_per_op)), ("patch schedule (quantmcu)", f(&r.patch_live_bytes_per_op))],
            "live SRAM (KB)",
            Some(("SRAM budget", r.sram_budget_bytes as f64 / 1000.0)),
        )?,
        "Bytes of all buffers alive while each op runs; the patch schedule's stage counts one tile's buffers (buffers are sized for 8 bits, so mixed precision never changes them).",
    )?;
    let series: Vec<(&str, Vec<f64>)> = r
        .plans
        .iter()
        .map(|p| (p.name.as_str(), p.bitops_per_op.iter().map(|b| b / 1e6).collect()))
        .collect();
    figure(w, "bitops", "BitOPs per layer", per_op_lines(&series, "BitOPs (millions)", None)?, "Mean BitOPs of each op for the four plans: patch plans pay for halos in the stage; low-bit maps halve (4 bits) the BitOPs of the layers that read them in clean tiles.")?;
    figure(w, "pareto", "Accuracy versus BitOPs", pareto(r)?, &format!("The lambda sweep of the search (each point a full search, evaluated on {} images) next to the four plans (evaluated on all {}).", r.lambda_sweep.first().map_or(0, |s| s.images), r.evaluation_images))?;
    figure(w, "outliers", "Outlier tiles", heat_map(r)?, "Per tile (rows) and feature map (columns): white = always stored at the low width, red = always stored at 8 bits (an outlier in that tile); grey = the map stays 8-bit in this plan.")?;
    writeln!(w, "<section id=\"widths\"><h2>Chosen widths</h2><table><tr><th>#</th><th>map</th><th>stage</th><th>bits</th><th>scales</th><th>bias correction</th><th>clipped</th></tr>")?;
    for (k, m) in r.map_choices.iter().enumerate() {
        // TFLite names fuse several ops with ';': show the first, keep all in the tooltip.
        let short = m.name.split(';').next().unwrap_or(&m.name);
        writeln!(
            w,
            "<tr><td>{k}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&m.name),
            esc(short),
            if m.in_patch_stage { "patch" } else { "layer" },
            m.bits,
            if m.per_channel { "per channel" } else { "per tensor" },
            if m.bias_correction { "yes" } else { "no" },
            if m.clipped { "yes" } else { "no" }
        )?;
    }
    writeln!(w, "</table><p>Width of each feature map in clean tiles, and the training-free levers the plan applied to it.</p></section>")?;
    writeln!(w, "<section id=\"trajectory\"><h2>Search trajectory</h2><figure>{}<figcaption>Estimated whole-network BitOPs (every tile clean) after each move of the search, starting from patch-int8.</figcaption></figure>", trajectory(r)?)?;
    writeln!(w, "<table><tr><th>move</th><th>map</th><th>bits</th><th>Phi</th><th>Omega</th><th>score</th><th>KL (nats)</th><th>agreement</th></tr>")?;
    for (i, m) in r.trajectory.iter().enumerate() {
        let (kl, agree) = m.measured.map_or(("-".into(), "-".into()), |d| {
            (format!("{:.5}", d.kl), format!("{:.2} %", 100.0 * d.agreement))
        });
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}-&gt;{}</td><td>{:.5}</td><td>{:.4}</td><td>{:.4e}</td><td>{kl}</td><td>{agree}</td></tr>",
            i + 1,
            m.map,
            m.from_bits,
            m.to_bits,
            m.phi,
            m.omega,
            m.score
        )?;
    }
    writeln!(w, "</table><p>Each move lowers one map to its next candidate width. Phi is the share of patch-int8's BitOPs it saves, Omega the entropy its codes lose; the score is the paper's S = (1 - lambda) Phi - lambda Omega, or, for the measured score, Phi per rise of the mean KL divergence of the calibration outputs from layer-int8's, with the KL and top-1 agreement on the calibration images after the move.</p></section>")?;
    if let Some(c) = &r.search_comparison {
        writeln!(w, "<section id=\"search-time\"><h2>Search time: VDQS versus exhaustive search</h2><table><tr><th>search</th><th>widths of the first {} maps</th><th>plans evaluated</th><th>BitOPs (M)</th><th>quality</th><th>time (s)</th></tr>", c.maps)?;
        for (name, f, n, t) in [
            ("VDQS", &c.vdqs, 0, c.vdqs_seconds),
            ("exhaustive", &c.exhaustive, c.plans_evaluated, c.exhaustive_seconds),
        ] {
            writeln!(
                w,
                "<tr><td>{name}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{:.2} %</td><td>{:.2}</td></tr>",
                f.bits,
                if n == 0 { "-".into() } else { n.to_string() },
                mb(f.bitops),
                100.0 * f.quality,
                t
            )?;
        }
        writeln!(w, "</table><p>Both search the widths of the same maps (the others stay 8-bit). The exhaustive search builds and evaluates every assignment on {} images and keeps the fewest BitOPs at a quality (accuracy, or agreement without labels) at least VDQS's; the paper's score evaluates nothing inside its loop, the measured score runs each plan it tries on the calibration images.</p></section>", c.images)?;
    }
    writeln!(w, "</body></html>")?;
    Ok(h)
}

/// Writes `dir/report.html` from `r`.
pub fn write(dir: &Path, r: &Report) -> Result<()> {
    let path = dir.join("report.html");
    std::fs::write(&path, html(r)?).with_context(|| format!("writing {}", path.display()))
}

/// `quantmcu report DIR`: rebuilds `DIR/report.html` from `DIR/report.json`.
/// Options of `quantmcu report`.
#[derive(clap::Args)]
pub struct Args {
    /// The output directory of `compile` or `demo`.
    pub dir: PathBuf,
}

pub fn rebuild(dir: &Path) -> Result<()> {
    let json = dir.join("report.json");
    let text = std::fs::read_to_string(&json).with_context(|| format!("reading {}", json.display()))?;
    let r: Report =
        serde_json::from_str(&text).with_context(|| format!("{} is not a quantmcu report", json.display()))?;
    write(dir, &r)?;
    println!("wrote {}", dir.join("report.html").display());
    Ok(())
}

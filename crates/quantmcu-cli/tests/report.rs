//! `compile` writes `report.html`: a self-contained page (no external
//! assets) whose sections are all there, whose numbers equal `report.json`'s,
//! which `quantmcu report DIR` rebuilds byte for byte, and which headless
//! Chromium renders (screenshot) without console messages.

use std::path::Path;
use std::process::{Command, Output};

use quantmcu::assets;

fn quantmcu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantmcu"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn compile(out: &Path) -> serde_json::Value {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let foolbox = assets::ensure("foolbox").unwrap().join("foolbox");
    let (m, data) = (model.to_str().unwrap(), foolbox.to_str().unwrap());
    let o = quantmcu(&[
        "compile",
        m,
        "--calib",
        data,
        "--calib-set",
        "imagenet",
        "--calib-limit",
        "8",
        "--eval",
        data,
        "--eval-set",
        "cifar10",
        "--eval-limit",
        "6",
        "--sram",
        "22118",
        "--input",
        "streamed",
        "--sweep-lambda",
        "0,0.05",
        "--exhaustive",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap()
}

#[test]
fn report_html_has_every_section_and_the_json_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("build");
    let report = compile(&out);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for id in [
        "search-time",
        "plans",
        "memory",
        "bitops",
        "pareto",
        "outliers",
        "widths",
        "trajectory",
    ] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "section {id} missing");
    }
    // No external links: the only URL is the SVG namespace name of xmlns.
    let svg_ns = "xmlns=\"http://www.w3.org/2000/svg\"";
    let rest = html.replace(svg_ns, "");
    for scheme in ["http://", "https://", "//"] {
        assert!(!rest.contains(scheme), "external link ({scheme}) in report.html");
    }
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="));
    // A few numbers of the table, formatted from report.json.
    for p in report["plans"].as_array().unwrap() {
        let row = format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td>",
            p["name"].as_str().unwrap(),
            p["peak_sram_bytes"],
            p["scratch_bytes"],
            p["flash_bytes"],
            p["macs"],
            p["bitops"].as_f64().unwrap() / 1e6
        );
        assert!(html.contains(&row), "row {row} missing");
        let agree = format!("<td>{:.2} %</td>", 100.0 * p["agreement"].as_f64().unwrap());
        assert!(html.contains(&agree));
    }
    assert!(html.contains(&format!("SRAM budget {} B", report["sram_budget_bytes"])));
    // The quantmcu row's flash is the plan file compile wrote; its scratch
    // is the plan header's word 3 (x 4 bytes).
    let plan = std::fs::read(out.join("plan.qmcu")).unwrap();
    let quant = &report["plans"][3];
    assert_eq!(quant["name"], "quantmcu");
    assert_eq!(quant["flash_bytes"].as_u64().unwrap() as usize, plan.len());
    let scratch_words = u32::from_le_bytes(plan[12..16].try_into().unwrap());
    assert_eq!(quant["scratch_bytes"].as_u64().unwrap(), 4 * u64::from(scratch_words));
    // `quantmcu report DIR` rebuilds the same page.
    std::fs::remove_file(out.join("report.html")).unwrap();
    let o = quantmcu(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(out.join("report.html")).unwrap(), html);
    // Headless Chromium renders it without console messages.
    let chromium = which("chromium")
        .unwrap_or_else(|| panic!("chromium is missing: run scripts/setup-browser.sh (Debian package `chromium`)"));
    let shot = dir.path().join("report.png");
    let url = format!("file://{}", out.join("report.html").display());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ];
        args.extend_from_slice(extra);
        args.push(&url);
        Command::new(&chromium).args(&args).output().expect("chromium runs")
    };
    let shot_arg = format!("--screenshot={}", shot.display());
    let o = run(&["--window-size=1000,4200", &shot_arg]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false),
        "no screenshot: {err}"
    );
    assert!(!err.contains("CONSOLE"), "console messages: {err}");
    let o = run(&["--dump-dom"]);
    let dom = String::from_utf8_lossy(&o.stdout);
    for title in [
        "The four plans",
        "SRAM per layer",
        "BitOPs per layer",
        "Accuracy versus BitOPs",
        "Outlier tiles",
        "Chosen widths",
        "Search trajectory",
    ] {
        assert!(dom.contains(title), "rendered page lacks '{title}'");
    }
    assert!(dom.matches("<svg").count() >= 5, "inline plots rendered");
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

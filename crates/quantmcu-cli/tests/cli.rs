//! The `quantmcu` binary end to end: `run --json` reproduces tflite-micro on
//! every golden input of both models; `inspect --json` has the documented
//! keys; bad input gives a clear error and a non-zero exit, never a panic.

use std::path::PathBuf;
use std::process::{Command, Output};

use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, npy, tflite};

fn quantmcu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantmcu"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn golden(model: &str) -> PathBuf {
    assets::repo_root().join("goldens").join(model)
}

fn rows(a: &npy::Array) -> Vec<Vec<f64>> {
    let all = a.data.to_f64();
    all.chunks(all.len() / a.shape[0]).map(<[f64]>::to_vec).collect()
}

/// `quantmcu run MODEL INPUT.npy --json [extra]` on every golden input of
/// `model` reproduces tflite-micro's output.
fn check_run_json(model: &str, extra: &[&str]) {
    let path = assets::model(&format!("{model}.tflite")).unwrap();
    let graph = tflite::load(&path).unwrap();
    let pixels = npy::read(&golden(model).join("pixels.npy")).unwrap();
    let outputs = rows(&npy::read(&golden(model).join("outputs.npy")).unwrap());
    let TensorData::U8(px) = &pixels.data else {
        panic!("uint8 pixels")
    };
    let per_image = px.len() / pixels.shape[0];
    let dir = tempfile::tempdir().unwrap();
    let input_tensor = &graph.tensors[graph.inputs[0]];
    for (i, expected) in outputs.iter().enumerate() {
        let x = input::pixels_to_input(&graph, &px[i * per_image..(i + 1) * per_image]).unwrap();
        let file = dir.path().join(format!("input_{i}.npy"));
        npy::write(&file, &input_tensor.shape, &x).unwrap();
        let mut args = vec!["run", path.to_str().unwrap(), file.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = quantmcu(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let data: Vec<f64> = json["outputs"][0]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(&data, expected, "{model}: image {i}");
        let dtype = json["outputs"][0]["dtype"].as_str().unwrap();
        assert!(dtype == "int8" || dtype == "float32");
    }
}

#[test]
fn run_json_reproduces_tflite_micro_resnet8() {
    check_run_json("resnet8_cifar10", &[]);
}

#[test]
fn run_json_reproduces_tflite_micro_vww() {
    check_run_json("vww_mobilenetv1", &[]);
}

#[test]
fn run_accepts_images() {
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let image = assets::ensure("foolbox").unwrap().join("foolbox/cifar10_00_3.png");
    let out = quantmcu(&["run", model.to_str().unwrap(), image.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("top-5") && text.matches("class").count() == 5, "{text}");
}

#[test]
fn inspect_json_has_the_documented_fields() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let out = quantmcu(&["inspect", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let graph = tflite::load(&model).unwrap();
    assert_eq!(json["ops"].as_array().unwrap().len(), graph.ops.len());
    assert_eq!(json["macs"].as_u64().unwrap(), graph.macs());
    assert_eq!(json["params"].as_u64().unwrap(), graph.params());
    // The layer-by-layer peak can never be below the largest op's live set.
    let peak = json["peak_sram_bytes"].as_u64().unwrap();
    let live = json["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["live_bytes"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(peak >= live && live > 0);
}

/// A reader that closed its end of the pipe (`quantmcu inspect M | head`)
/// stops the program quietly with the SIGPIPE status, not a panic.
#[test]
fn closed_stdout_pipe_exits_quietly() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    // The read end is closed before the program starts: its first write
    // fails, however fast it runs (closing it after the spawn raced with a
    // program that wrote all its output into the pipe buffer first).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_quantmcu"))
        .args(["inspect", model.to_str().unwrap()])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

fn assert_clean_failure(out: &Output, expect: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(expect), "error should mention '{expect}': {err}");
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let m = model.to_str().unwrap();
    let missing = dir.path().join("missing.tflite");
    assert_clean_failure(&quantmcu(&["inspect", missing.to_str().unwrap()]), "missing.tflite");
    let junk = dir.path().join("junk.tflite");
    std::fs::write(&junk, b"this is not a model at all").unwrap();
    assert_clean_failure(&quantmcu(&["inspect", junk.to_str().unwrap()]), "TFL3");
    let bad_png = dir.path().join("bad.png");
    std::fs::write(&bad_png, b"\x89PNG\r\n\x1a\nbroken").unwrap();
    assert_clean_failure(&quantmcu(&["run", m, bad_png.to_str().unwrap()]), "bad.png");
    let wrong_npy = dir.path().join("wrong.npy");
    npy::write(&wrong_npy, &[1, 8, 8, 3], &TensorData::I8(vec![0; 192])).unwrap();
    assert_clean_failure(&quantmcu(&["run", m, wrong_npy.to_str().unwrap()]), "[1, 32, 32, 3]");
    assert_clean_failure(&quantmcu(&["inspect", m, "--frobnicate"]), "--frobnicate");
    assert_clean_failure(&quantmcu(&["bench", m, "--seconds", "soon"]), "soon");
    // Numeric flags are checked before any work.
    for bad in ["inf", "nan", "0", "-1"] {
        let out = quantmcu(&["bench", m, "--seconds", bad]);
        assert_clean_failure(&out, &format!("'{bad}' is not a finite number above 0"));
    }
    for bad in ["0.5", "inf", "-1", "lots"] {
        let out = quantmcu(&["compile", m, "--calib", m, "-o", "x", "--max-flash-ratio", bad]);
        assert_clean_failure(
            &out,
            &format!("'{bad}' is neither 0 (no limit) nor a finite ratio of at least 1"),
        );
    }
    let compile_with = |flag: &str, value: &str| quantmcu(&["compile", m, "--calib", m, "-o", "x", flag, value]);
    assert_clean_failure(
        &compile_with("--min-agreement", "98"),
        "'98' is above 1: write a fraction (0.98) or a percentage with its sign (98%)",
    );
    for bad in ["1.5%x", "101%", "-0.5", "nan"] {
        assert_clean_failure(
            &compile_with("--min-agreement", bad),
            &format!("'{bad}' is not an agreement"),
        );
    }
    assert_clean_failure(&compile_with("--max-kl", "-1"), "'-1' is not a KL divergence");
    assert_clean_failure(&compile_with("--score", "lambda"), "[possible values: paper, measured]");
    assert_clean_failure(
        &quantmcu(&["eval", m, "--data", m, "--limit", "0"]),
        "'0' is not a whole number of at least 1",
    );
    assert_clean_failure(
        &quantmcu(&["export", m, "--firmware", "x", "--limit", "-2"]),
        "'-2' is not a whole number of at least 1",
    );
    // An OS error is named once, not once per level of the error chain.
    let out = quantmcu(&["inspect", missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

/// With SRAM to spare, `plan` picks the layer-by-layer schedule (the fewest
/// MACs) over a patch schedule that saves nothing, and writes no plan file
/// for it; restricting the search to a grid still gives a patch plan.
/// `bench` without a usable Python still times both executors and says
/// which interpreters it could not run and how to install them; a Python
/// lacking the packages names each one.
#[test]
fn bench_names_the_interpreters_it_cannot_run() {
    let model = assets::model("resnet8_cifar10.tflite").unwrap();
    let m = model.to_str().unwrap();
    let out = quantmcu(&["bench", m, "--seconds", "0.05", "--python", "/nonexistent/python3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for want in [
        "reference executor",
        "runtime (layer-by-layer plan)",
        "LiteRT and tflite-micro not measured: cannot run `/nonexistent/python3`",
        "pip install ai-edge-litert tflite-micro",
    ] {
        assert!(text.contains(want), "bench output should mention '{want}': {text}");
    }
    let out = quantmcu(&["bench", m, "--seconds", "0.05", "--json", "--no-interpreters"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["runtime_images_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(v["interpreters"], serde_json::json!([]));
    assert_eq!(v["missing"], serde_json::json!([]));
    // A Python that starts but may lack the packages: each interpreter is
    // either timed or named with its package.
    let out = quantmcu(&["bench", m, "--seconds", "0.05", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (timed, missing) = (v["interpreters"].as_array().unwrap(), v["missing"].as_array().unwrap());
    let said = |name: &str, package: &str| {
        timed.iter().any(|r| r["runtime"].as_str().unwrap().contains(name))
            || missing.iter().any(|s| s.as_str().unwrap().contains(package))
    };
    assert!(
        said("LiteRT", "ai-edge-litert") && said("tflite-micro", "tflite-micro"),
        "{v}"
    );
}

#[test]
fn an_ample_budget_keeps_the_layer_by_layer_schedule() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let m = model.to_str().unwrap();
    let graph = tflite::load(&model).unwrap();
    let layer_peak = quantmcu::memory::plan_layer_based(&graph).arena_bytes;
    let out = quantmcu(&["plan", m, "--sram", "16MiB", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["chosen"]["schedule"], "layer-by-layer", "{}", json["chosen"]);
    assert_eq!(json["chosen"]["macs"].as_u64().unwrap(), graph.macs());
    assert_eq!(json["chosen"]["peak_sram_bytes"].as_u64().unwrap() as usize, layer_peak);
    // Every patch candidate needs at least the layer schedule's MACs.
    let candidates = json["candidates"].as_array().unwrap();
    assert!(candidates.iter().all(|c| c["macs"].as_u64().unwrap() >= graph.macs()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.plan");
    let out = quantmcu(&["plan", m, "--sram", "16MiB", "-o", file.to_str().unwrap()]);
    assert_clean_failure(&out, "layer-by-layer schedule fits");
    assert!(!file.exists());
    let out = quantmcu(&["plan", m, "--sram", "16MiB", "--grid", "2x2", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["chosen"]["schedule"], "patch");
    assert_eq!(json["chosen"]["grid"], serde_json::json!([2, 2]));
}

/// Help texts state their facts themselves: no references to documents
/// outside the binary.
#[test]
fn help_texts_stand_alone() {
    for verb in [
        "inspect", "run", "plan", "compile", "report", "demo", "eval", "bench", "export", "mcu-run",
    ] {
        let out = quantmcu(&[verb, "--help"]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains(".md") && !text.contains("../"), "{verb} --help: {text}");
    }
}

/// `plan` and `compile` take the same mixed-precision levers, all on by
/// default, each turned off by its `--no-` flag.
#[test]
fn plan_and_compile_share_the_levers() {
    let help = |verb: &str| String::from_utf8(quantmcu(&[verb, "--help"]).stdout).unwrap();
    let (plan, compile) = (help("plan"), help("compile"));
    for flag in ["--vdpc", "--no-per-channel", "--no-clip", "--no-bias-correction"] {
        let line = |text: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(flag))
                .map(str::to_owned)
        };
        assert!(line(&plan).is_some() && line(&plan) == line(&compile), "{flag}");
    }
}

#[test]
fn plan_at_half_the_layer_peak_runs_exactly_on_every_golden_input() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let m = model.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan_file = dir.path().join("vww.plan");
    let layer_peak = quantmcu::memory::plan_layer_based(&tflite::load(&model).unwrap()).arena_bytes;
    let budget = (layer_peak / 2).to_string();
    let out = quantmcu(&[
        "plan",
        m,
        "--sram",
        &budget,
        "--input",
        "streamed",
        "--json",
        "-o",
        plan_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chosen = &json["chosen"];
    assert!(chosen["peak_sram_bytes"].as_u64().unwrap() as usize <= layer_peak / 2);
    assert!(
        chosen["grid"][0].as_u64().unwrap() * chosen["grid"][1].as_u64().unwrap() > 1,
        "a patch plan"
    );
    assert_eq!(
        json["layer_based"]["peak_sram_bytes"].as_u64().unwrap() as usize,
        layer_peak
    );
    assert!(json["candidates"].as_array().unwrap().len() > 10);
    // Per-op live SRAM of the choice never exceeds its arena.
    let live = chosen["live_bytes_per_op"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .max()
        .unwrap();
    assert!(live > 0 && live <= chosen["peak_sram_bytes"].as_u64().unwrap());

    // `inspect --plan` reports the same arena, per op.
    let out = quantmcu(&["inspect", m, "--plan", plan_file.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inspect["plan"]["peak_sram_bytes"], chosen["peak_sram_bytes"]);
    assert_eq!(inspect["plan"]["macs"], chosen["macs"]);
    let per_op: Vec<u64> = inspect["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["plan_live_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(per_op.iter().max().unwrap(), &live);

    // `run --plan` on every golden input equals tflite-micro's (= layer-based) output.
    check_run_json("vww_mobilenetv1", &["--plan", plan_file.to_str().unwrap()]);
}

#[test]
fn a_budget_below_every_plan_names_the_smallest_achievable() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let out = quantmcu(&["plan", model.to_str().unwrap(), "--sram", "1KiB"]);
    assert_clean_failure(&out, "no schedule fits 1024 bytes");
    assert_clean_failure(&out, "the smallest peak is");
    assert_clean_failure(
        &quantmcu(&["plan", model.to_str().unwrap(), "--sram", "12parsecs"]),
        "12parsecs",
    );
    assert_clean_failure(
        &quantmcu(&["plan", model.to_str().unwrap(), "--sram", "64KiB", "--grid", "9x9"]),
        "9x9",
    );
}

/// `plan --calib` writes a mixed-precision plan that `run --plan` and
/// `eval --plan --json` execute; its measured patch-stage BitOPs lie below
/// patch-int8's; bad mixed-precision flags fail cleanly.
#[test]
fn mixed_plan_runs_and_saves_bitops() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let m = model.to_str().unwrap();
    let foolbox = assets::ensure("foolbox").unwrap().join("foolbox");
    let data = foolbox.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mixed, int8) = (dir.path().join("mixed.plan"), dir.path().join("int8.plan"));
    let plan = |extra: &[&str], out: &PathBuf| {
        let mut args = vec![
            "plan",
            m,
            "--sram",
            "22118",
            "--input",
            "streamed",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        quantmcu(&args)
    };
    let o = plan(
        &[
            "--calib",
            data,
            "--calib-set",
            "imagenet",
            "--clean-bits",
            "4",
            "--vdpc",
            "branch",
        ],
        &mixed,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("below patch-int8"));
    assert!(plan(&[], &int8).status.success());
    let image = foolbox.join("cifar10_00_3.png");
    let o = quantmcu(&["run", m, image.to_str().unwrap(), "--plan", mixed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let eval = |p: &PathBuf| -> serde_json::Value {
        let o = quantmcu(&[
            "eval",
            m,
            "--data",
            data,
            "--set",
            "cifar10",
            "--mirror",
            "--json",
            "--plan",
            p.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let (a, b) = (eval(&mixed), eval(&int8));
    assert_eq!(a["images"], 40);
    assert_eq!(b["agreement"], 1.0, "patch-int8 agrees with layer-int8 everywhere");
    let stage = |v: &serde_json::Value| v["bitops_patch_stage"].as_f64().unwrap();
    assert!(stage(&a) < stage(&b), "{} vs {}", stage(&a), stage(&b));
    let agreement = a["agreement"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&agreement));
    assert_clean_failure(&plan(&["--calib", data, "--clean-bits", "4,9"], &mixed), "'9'");
    assert_clean_failure(
        &plan(
            &["--calib", data, "--calib-set", "imagenet", "--clean-bits", "4,4"],
            &mixed,
        ),
        "feature maps",
    );
    assert_clean_failure(
        &plan(
            &["--calib", data, "--calib-set", "imagenet", "--outlier-quantile", "2"],
            &mixed,
        ),
        "outlier-quantile",
    );
}

/// `compile` writes the plan, the plan file and `report.json` with the
/// documented keys and the four plans; the written plan file evaluates to
/// the numbers the report holds; `demo` runs the main job on the reference
/// model.
#[test]
fn compile_reports_four_plans_and_demo_runs() {
    let model = assets::model("vww_mobilenetv1.tflite").unwrap();
    let foolbox = assets::ensure("foolbox").unwrap().join("foolbox");
    let (m, data) = (model.to_str().unwrap(), foolbox.to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("build");
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
        "0.5",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("quantmcu vs patch-int8"));
    assert!(out.join("plan.qmcu").is_file());
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let plans = report["plans"].as_array().unwrap();
    let names: Vec<&str> = plans.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["layer-int8", "patch-int8", "patch-uniform-low", "quantmcu"]);
    for p in plans {
        for key in [
            "peak_sram_bytes",
            "macs",
            "bitops",
            "bitops_patch_stage",
            "agreement",
            "outlier_tile_share",
            "search_seconds",
        ] {
            assert!(p[key].is_number(), "{key} is not a number in {p}");
        }
        assert!(p["accuracy"].is_null(), "{p}");
    }
    // CIFAR-10's labels exceed VWW's 2 classes: no accuracy (the demo below
    // has one). The SQNR is null exactly where the outputs equal layer-int8's: the two
    // int8 plans; uniform low bits change them.
    assert!(
        plans[0]["sqnr_db"].is_null() && plans[1]["sqnr_db"].is_null(),
        "{plans:?}"
    );
    assert!(plans[2]["sqnr_db"].is_number(), "{}", plans[2]);
    assert!(
        plans[3]["sqnr_db"].is_number() || plans[3]["sqnr_db"].is_null(),
        "{}",
        plans[3]
    );
    assert_eq!(report["lambda_sweep"].as_array().unwrap().len(), 1);
    assert!(plans[1]["peak_sram_bytes"].as_u64().unwrap() <= 22118);
    // The plan file on disk gives the report's numbers.
    let plan = out.join("plan.json");
    let o = quantmcu(&[
        "eval",
        m,
        "--data",
        data,
        "--set",
        "cifar10",
        "--limit",
        "6",
        "--json",
        "--plan",
        plan.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["agreement"], plans[3]["agreement"]);
    assert_eq!(e["bitops"], plans[3]["bitops"]);
    assert_eq!(e["outlier_tile_share"], plans[3]["outlier_tile_share"]);
    // The demo, on 200 test images.
    let demo = dir.path().join("demo");
    let o = quantmcu(&["demo", "--eval-limit", "200", "-o", demo.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("patch-uniform-low") && text.contains("quantmcu vs patch-int8"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(demo.join("report.json")).unwrap()).unwrap();
    for p in report["plans"].as_array().unwrap() {
        let accuracy = p["accuracy"].as_f64().unwrap_or_else(|| panic!("no accuracy in {p}"));
        assert!((0.0..=1.0).contains(&accuracy), "{p}");
    }
}

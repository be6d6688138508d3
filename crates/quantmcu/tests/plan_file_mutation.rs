//! Hostile plan files: real plan files of the bundled models (int8 patch
//! plans and calibrated mixed-precision plans of both scopes), mutated a few
//! thousand times (`$QUANTMCU_MUTATIONS`), must each be refused with an error
//! sentence that names the file, or load, compile and run; never panic. A
//! loaded int8 patch plan must still give the layer-based output bit for bit
//! (patch-based int8 is exact), and a plan that loads must compile and run:
//! everything the runtime needs was checked when the file was read.

mod mutation;

use std::time::Instant;

use mutation::{cases, mutate_json, Outcome, Rng, Tally};
use quantmcu::dataset::{Dataset, Split};
use quantmcu::mixed::{build, calibrate_int8, stage_maps, MixedConfig, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanFile, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, Graph, ReferenceExecutor};

/// A model with its calibration and test images.
struct Model {
    graph: Graph,
    images: Vec<Vec<TensorData>>,
}

fn model(file: &str) -> Model {
    let (path, data) = if file.starts_with("fmnist") {
        let dir = assets::ensure("fashion-mnist").unwrap();
        let set = Dataset::open(&dir.join("fashion-mnist/t10k-images-idx3-ubyte.gz")).unwrap();
        (
            assets::repo_root().join("models").join(file),
            set.subset(&Split::first(6)),
        )
    } else {
        let dir = assets::ensure("foolbox").unwrap().join("foolbox");
        let set = if file.starts_with("vww") { "imagenet" } else { "cifar10" };
        (
            assets::model(file).unwrap(),
            Dataset::open_set(&dir, Some(set)).unwrap(),
        )
    };
    let graph = tflite::load(&path).unwrap();
    let images = (0..data.len().min(6))
        .map(|i| vec![data.get(i).unwrap().to_input(&graph).unwrap()])
        .collect();
    Model { graph, images }
}

/// The middle split point of `graph` cut 2x2 (a stage with feature maps).
fn tile_plan(graph: &Graph) -> Tiling {
    let stages = split_points(graph);
    let stage = stages
        .iter()
        .skip(stages.len() / 2)
        .find(|s| !stage_maps(graph, s).is_empty())
        .expect("a split point with feature maps");
    Tiling::new(graph, stage, [2, 2]).expect("a 2x2 grid fits")
}

/// The text of a plan file as `quantmcu plan -o` writes it: int8 (`mixed`
/// `None`) or calibrated 4-bit mixed precision of `scope`.
fn plan_text(m: &Model, input: InputMode, mixed: Option<(Scope, bool)>) -> String {
    let interp = ReferenceExecutor::new(&m.graph).unwrap();
    let tp = tile_plan(&m.graph);
    let split_op = *tp.stage.ops.last().unwrap();
    let mut file = PlanFile::new(&m.graph, split_op, tp.grid, input);
    if let Some((scope, layer_in_place)) = mixed {
        let hists = calibrate_int8(&interp, &tp, input, scope, layer_in_place, &m.images, &|| ()).unwrap();
        let cfg = MixedConfig {
            bits: vec![4],
            outlier_quantile: 1e-3,
            rule: Rule::Branch,
            scope,
            layer_in_place,
            per_channel: true,
            clip: true,
            bias_correction: true,
            numerics: quantmcu::mixed::Numerics::default(),
        };
        file.mixed = Some(build(&m.graph, &tp, &hists, &cfg).unwrap());
    }
    serde_json::to_string_pretty(&file).unwrap()
}

/// One real plan file to mutate.
struct Plan<'m> {
    source: String,
    model: &'m Model,
    text: String,
    value: serde_json::Value,
}

/// Loads `text` for the plan's model and runs it on the first image.
fn try_plan(p: &Plan, interp: &ReferenceExecutor, want: &[Option<TensorData>], bytes: &[u8]) -> Outcome {
    let graph = &p.model.graph;
    // `PlanFile::load` reads the file as UTF-8 text, refusing other bytes.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Outcome::Rejected;
    };
    let loaded = match PlanFile::parse(text, &p.source, graph) {
        Ok(l) => l,
        Err(e) => {
            let e = e.to_string();
            return if !e.starts_with(&format!("{}: ", p.source)) {
                Outcome::Wrong(format!("the error does not name the file: {e}"))
            } else if e.contains("Some(") || e.contains("None") {
                Outcome::Wrong(format!("the error shows a Debug dump: {e}"))
            } else {
                Outcome::Rejected
            };
        }
    };
    let runner = match PlanRunner::with_mixed(interp, Some((&loaded.tiles, loaded.input)), loaded.mixed.as_ref()) {
        Ok(r) => r,
        Err(e) => return Outcome::Wrong(format!("loaded, but does not compile: {e}")),
    };
    let got = match runner.run_all(&p.model.images[0]) {
        Ok(v) => v,
        Err(e) => return Outcome::Wrong(format!("loaded, but the run failed: {e}")),
    };
    let out = graph.outputs[0];
    match &got[out] {
        None => Outcome::Wrong("the run gave no output".into()),
        Some(v) if loaded.mixed.is_none() && Some(v) != want[out].as_ref() => {
            Outcome::Wrong("an int8 patch plan changed the output".into())
        }
        Some(_) => Outcome::Ran,
    }
}

#[test]
fn mutated_plan_files_are_refused_or_run() {
    let models = [
        model("fmnist_mobilenetv2_int8.tflite"),
        model("resnet8_cifar10.tflite"),
        model("vww_mobilenetv1.tflite"),
    ];
    let specs = [
        (0, InputMode::Resident, None),
        (0, InputMode::Streamed, Some((Scope::All, true))),
        (1, InputMode::Streamed, None),
        (1, InputMode::Resident, Some((Scope::All, false))),
        (2, InputMode::Streamed, Some((Scope::Patch, true))),
    ];
    let plans: Vec<Plan> = specs
        .iter()
        .enumerate()
        .map(|(k, &(m, input, mixed))| {
            let text = plan_text(&models[m], input, mixed);
            Plan {
                source: format!("plan{k}.json"),
                model: &models[m],
                value: serde_json::from_str(&text).unwrap(),
                text,
            }
        })
        .collect();
    let interps: Vec<ReferenceExecutor> = models
        .iter()
        .map(|m| ReferenceExecutor::new(&m.graph).unwrap())
        .collect();
    let wants: Vec<Vec<Option<TensorData>>> = models
        .iter()
        .zip(&interps)
        .map(|(m, i)| i.run_all(&m.images[0]).unwrap())
        .collect();
    let index = |p: &Plan| models.iter().position(|m| std::ptr::eq(m, p.model)).unwrap();
    // The unmutated files load and run.
    for p in &plans {
        let k = index(p);
        assert!(
            matches!(try_plan(p, &interps[k], &wants[k], p.text.as_bytes()), Outcome::Ran),
            "{}: the real plan file does not run",
            p.source
        );
    }
    let n = cases(3000);
    let start = Instant::now();
    let mut tally = Tally::default();
    for case in 0..n {
        let p = &plans[case % plans.len()];
        let k = index(p);
        let mut rng = Rng::for_case(0x51a7_e5ee_d000_0001, case);
        let (bytes, what) = mutate_json(&p.text, &p.value, &mut rng);
        let what = format!("{}: {what}", p.source);
        tally.run(case, &what, || try_plan(p, &interps[k], &wants[k], &bytes));
    }
    tally.report("plan files", start.elapsed().as_secs_f64());
    assert!(
        tally.rejected > n / 2 && tally.ran > n / 50,
        "the mutations are too weak or too strong: {} rejected, {} ran of {n}",
        tally.rejected,
        tally.ran
    );
}

/// The sentences of a few refusals name the field and what it should hold.
#[test]
fn refusals_name_the_field_and_the_fix() {
    let m = model("fmnist_mobilenetv2_int8.tflite");
    let text = plan_text(&m, InputMode::Streamed, Some((Scope::All, true)));
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    let refusal = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = original.clone();
        edit(&mut v);
        match PlanFile::parse(&v.to_string(), "p.json", &m.graph) {
            Ok(_) => panic!("the edited plan loads"),
            Err(e) => e.to_string(),
        }
    };
    let e = refusal(&|v| v["format"] = "quantmcu-plan/1".into());
    assert!(e.contains("older plan format") && e.contains("regenerate"), "{e}");
    let e = refusal(&|v| v["model_sha256"] = "00".repeat(32).into());
    assert!(
        e.starts_with("p.json: field `model_sha256`") && e.contains(&quantmcu::patch::file::hex(&m.graph.model_sha256)),
        "{e}"
    );
    let e = refusal(&|v| v["mixed"]["maps"][0]["tensor"] = 1_000_000.into());
    assert!(
        e.starts_with("p.json: field `mixed.maps[0].tensor` is 1000000, expected"),
        "{e}"
    );
    let low = original["mixed"]["maps"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s["format"]["bits"] == 4 && !s["mean_error"].as_array().unwrap().is_empty())
        .expect("a 4-bit map with bias correction");
    let e = refusal(&|v| {
        v["mixed"]["maps"][low]["mean_error"].as_array_mut().unwrap().pop();
    });
    assert!(e.contains(&format!("field `mixed.maps[{low}].mean_error` has")), "{e}");
    let e = refusal(&|v| v["mixed"]["maps"][low]["format"]["bits"] = 9.into());
    assert!(
        e.contains(&format!("field `mixed.maps[{low}].format.bits` is 9, expected 1..=8")),
        "{e}"
    );
    let e = refusal(&|v| v["grid"] = serde_json::json!([2, 99]));
    assert!(e.starts_with("p.json: field `grid` is [2, 99], expected 1..="), "{e}");
    let e = refusal(&|v| v["mixed"]["extra"] = 1.into());
    assert!(
        e.starts_with("p.json: field `mixed.extra`: unknown field `extra`"),
        "{e}"
    );
}

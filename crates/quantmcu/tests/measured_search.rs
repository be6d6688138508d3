//! VDQS with the measured score on VWW (calibration: foolbox ImageNet
//! images): every taken move's KL divergence, agreement and score equal an
//! independent recomputation (the move's plan built from histograms
//! calibrated through the plan before it, run through the runtime, its
//! softmax outputs compared with the reference executor's); the agreement
//! floor holds on the calibration images at every step and for the returned
//! plan, also after a flash fit; the search is deterministic; bad
//! settings are refused.

use quantmcu::dataset::Dataset;
use quantmcu::ir::OpKind;
use quantmcu::mixed::search::{search, Score, SearchConfig, SearchResult, Stop, KL_FLOOR};
use quantmcu::mixed::{calibrate, map_channels, map_spec, MixedConfig, MixedPrecision, Numerics, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, Graph, ReferenceExecutor};

fn images(graph: &Graph, n: usize) -> Vec<Vec<TensorData>> {
    let dir = assets::ensure("foolbox").unwrap().join("foolbox");
    let data = Dataset::open_set(&dir, Some("imagenet")).unwrap();
    (0..n)
        .map(|i| vec![data.get(i).unwrap().to_input(graph).unwrap()])
        .collect()
}

fn vww() -> Graph {
    tflite::load(&assets::model("vww_mobilenetv1.tflite").unwrap()).unwrap()
}

fn tile_plan(graph: &Graph) -> Tiling {
    let stage = split_points(graph)
        .into_iter()
        .find(|s| s.ops.last() == Some(&8))
        .unwrap();
    Tiling::new(graph, &stage, [2, 4]).unwrap()
}

fn config(min_agreement: f64, scope: Scope) -> SearchConfig {
    SearchConfig {
        candidates: vec![8, 4, 2],
        score: Score::Measured,
        lambda: 0.01,
        min_agreement,
        max_kl: None,
        pool: None,
        target_bitops: None,
        mixed: MixedConfig {
            bits: vec![8],
            outlier_quantile: 1e-3,
            rule: Rule::Map,
            scope,
            layer_in_place: false,
            per_channel: true,
            clip: true,
            bias_correction: true,
            numerics: Numerics::default(),
        },
        rescaled_omega: false,
        max_maps: None,
        flash_budget: None,
    }
}

fn run(interp: &ReferenceExecutor, tp: &Tiling, calib: &[Vec<TensorData>], cfg: &SearchConfig) -> SearchResult {
    search(interp, tp, InputMode::Streamed, calib, cfg, &|_| ()).unwrap()
}

/// VWW's class distribution from its float output (a dequantized int8
/// softmax, step 1/256): each probability at least half a step, renormalized.
fn distribution(out: &TensorData) -> Vec<f64> {
    let TensorData::F32(v) = out else {
        panic!("VWW's output is float")
    };
    let p: Vec<f64> = v.iter().map(|&x| f64::from(x).max(1.0 / 512.0)).collect();
    let sum: f64 = p.iter().sum();
    p.into_iter().map(|x| x / sum).collect()
}

fn argmax(p: &[f64]) -> usize {
    (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

/// Mean KL(reference || plan) and top-1 agreement of `plan` over `calib`,
/// the reference from the reference executor (layer-int8).
fn kl_and_agreement(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    plan: &MixedPrecision,
    calib: &[Vec<TensorData>],
) -> (f64, f64) {
    let graph = interp.graph();
    let runner = PlanRunner::with_mixed(interp, Some((tp, InputMode::Streamed)), Some(plan)).unwrap();
    let (mut kl, mut agree) = (0.0, 0usize);
    for x in calib {
        let p = distribution(&interp.run(x).unwrap()[0]);
        let q = distribution(runner.run_all(x).unwrap()[graph.outputs[0]].as_ref().unwrap());
        kl += p.iter().zip(&q).map(|(a, b)| a * (a / b).ln()).sum::<f64>();
        agree += usize::from(argmax(&p) == argmax(&q));
    }
    let n = calib.len() as f64;
    (kl / n, agree as f64 / n)
}

#[test]
fn the_output_is_an_int8_softmax() {
    let graph = vww();
    let producers = graph.producers();
    let dequantize = &graph.ops[producers[graph.outputs[0]].unwrap()];
    assert_eq!(dequantize.kind, OpKind::Dequantize);
    let softmax_out = dequantize.input(0).unwrap();
    assert!(matches!(
        graph.ops[producers[softmax_out].unwrap()].kind,
        OpKind::Softmax { .. }
    ));
    assert_eq!(graph.scale_zp(softmax_out).0, 1.0 / 256.0);
}

#[test]
fn measured_moves_equal_an_independent_recomputation() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, 8);
    let cfg = config(0.75, Scope::Patch);
    let r = run(&interp, &tp, &calib, &cfg);
    assert!(r.trajectory.len() >= 3, "{:?}", r.trajectory);
    // Replay: histograms from the int8 plan, then from each plan the moves build.
    let mut plan = MixedPrecision::int8(&graph, &tp, Scope::Patch, false, Rule::Map, Numerics::default(), 1e-3);
    let channels = map_channels(&graph, &plan);
    let calibrated = |plan: &MixedPrecision| {
        let runner = PlanRunner::with_mixed(&interp, Some((&tp, InputMode::Streamed)), Some(plan)).unwrap();
        calibrate(&runner, plan, &channels, &calib, &|| ()).unwrap()
    };
    let mut hists = calibrated(&plan);
    let mut kl_before = 0.0;
    for m in &r.trajectory {
        let got = m.measured.expect("measured moves carry their measurement");
        assert_eq!(m.from_bits, plan.maps[m.map].format.bits);
        plan.maps[m.map] = map_spec(&graph, plan.maps[m.map].tensor, &hists[m.map], m.to_bits, &cfg.mixed);
        let (kl, agreement) = kl_and_agreement(&interp, &tp, &plan, &calib);
        assert!((kl - got.kl).abs() < 1e-12, "map {}: KL {kl} vs {}", m.map, got.kl);
        assert_eq!(agreement, got.agreement, "map {}", m.map);
        assert!((got.delta_kl - (kl - kl_before)).abs() < 1e-12);
        let score = m.phi / (kl - kl_before).max(KL_FLOOR);
        assert!((m.score - score).abs() <= 1e-9 * score, "{} vs {score}", m.score);
        assert!(got.plans_run >= 1);
        kl_before = kl;
        for (k, h) in calibrated(&plan).into_iter().enumerate() {
            if plan.maps[k].format.bits == 8 {
                hists[k] = h;
            }
        }
    }
    assert_eq!(plan, r.plan, "the replayed moves build the searched plan");
    let d = r.calibration.unwrap();
    assert!((d.kl - kl_before).abs() < 1e-12);
}

#[test]
fn the_agreement_floor_holds_on_the_calibration_images() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, 8);
    for floor in [1.0, 0.875] {
        let r = run(&interp, &tp, &calib, &config(floor, Scope::Patch));
        for m in &r.trajectory {
            assert!(m.measured.unwrap().agreement >= floor, "floor {floor}: {m:?}");
        }
        let (_, agreement) = kl_and_agreement(&interp, &tp, &r.plan, &calib);
        assert!(agreement >= floor, "floor {floor}: the plan agrees on {agreement}");
        assert_eq!(agreement, r.calibration.unwrap().agreement);
        // Something was left that the floor refused: 2 bits everywhere crosses it.
        assert_eq!(r.stop, Stop::Limits, "floor {floor}");
        assert!(r.bits.iter().any(|&b| b > 2), "{:?}", r.bits);
    }
}

#[test]
fn the_floor_holds_after_a_flash_fit() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, 6);
    let patch_int8 = PlanRunner::new(&interp, Some((&tp, InputMode::Streamed)))
        .unwrap()
        .encoded()
        .bytes()
        .len();
    let cfg = SearchConfig {
        candidates: vec![8, 4],
        pool: Some(3),
        flash_budget: Some(patch_int8 * 105 / 100),
        ..config(1.0, Scope::All)
    };
    let r = run(&interp, &tp, &calib, &cfg);
    assert!(!r.flash_fit.is_empty(), "the budget needs a fit");
    let bytes = PlanRunner::with_mixed(&interp, Some((&tp, InputMode::Streamed)), Some(&r.plan))
        .unwrap()
        .encoded()
        .bytes()
        .len();
    assert!(bytes <= cfg.flash_budget.unwrap(), "{bytes} B");
    let (_, agreement) = kl_and_agreement(&interp, &tp, &r.plan, &calib);
    assert_eq!(agreement, 1.0);
    assert_eq!(r.calibration.unwrap().agreement, 1.0);
    assert!(r.plans_run > r.trajectory.len());
}

#[test]
fn the_measured_search_is_deterministic_and_refuses_bad_settings() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, 6);
    let cfg = SearchConfig {
        pool: Some(2),
        ..config(0.8, Scope::Patch)
    };
    let a = run(&interp, &tp, &calib, &cfg);
    let b = run(&interp, &tp, &calib, &cfg);
    assert!(!a.trajectory.is_empty());
    assert_eq!(a.trajectory, b.trajectory, "same moves, same measurements");
    assert_eq!(a.plan, b.plan);
    assert_eq!(
        (a.stop, a.plans_run, a.calibration),
        (b.stop, b.plans_run, b.calibration)
    );
    for (floor, pool) in [(1.5, None), (-0.1, None), (f64::NAN, None), (0.9, Some(0))] {
        let bad = SearchConfig {
            min_agreement: floor,
            pool,
            ..cfg.clone()
        };
        let e = search(&interp, &tp, InputMode::Streamed, &calib, &bad, &|_| ()).unwrap_err();
        assert!(
            e.to_string().contains("--min-agreement") || e.to_string().contains("--pool"),
            "{e}"
        );
    }
}

//! VDQS on VWW (calibration: the 20 foolbox ImageNet images): every move's
//! Phi equals the BitOPs it saves counted independently by the BitOPs
//! accounting, its score is (1 - lambda) Phi - lambda Omega > 0, the
//! trajectory's BitOPs fall monotonically, the search is deterministic,
//! lambda's extremes do what they must, and a compiled plan written to disk
//! and read back runs bit-identically to the in-memory one.

use quantmcu::compare::Sample;
use quantmcu::dataset::Dataset;
use quantmcu::mixed::bitops;
use quantmcu::mixed::search::{search, Score, SearchConfig, SearchResult, Stop};
use quantmcu::mixed::{MixedConfig, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanFile, PlanRunner, Tiling};
use quantmcu::pipeline::{self, Options, Progress};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, Graph, ReferenceExecutor};

fn images(graph: &Graph, set: &str, n: usize) -> Vec<Vec<TensorData>> {
    let dir = assets::ensure("foolbox").unwrap().join("foolbox");
    let data = Dataset::open_set(&dir, Some(set)).unwrap();
    (0..data.len().min(n))
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

/// VDQS on `tp` with streamed input, no progress messages.
fn vww_search(interp: &ReferenceExecutor, tp: &Tiling, calib: &[Vec<TensorData>], cfg: &SearchConfig) -> SearchResult {
    search(interp, tp, InputMode::Streamed, calib, cfg, &|_| ()).unwrap()
}

fn config(lambda: f64, candidates: &[u32]) -> SearchConfig {
    SearchConfig {
        candidates: candidates.to_vec(),
        score: Score::Paper,
        lambda,
        min_agreement: 0.98,
        max_kl: None,
        pool: None,
        target_bitops: None,
        mixed: MixedConfig {
            bits: vec![8],
            outlier_quantile: 1e-3,
            rule: Rule::Map,
            scope: Scope::Patch,
            layer_in_place: true,
            per_channel: true,
            clip: true,
            bias_correction: true,
            numerics: quantmcu::mixed::Numerics::default(),
        },
        rescaled_omega: false,
        max_maps: None,
        flash_budget: None,
    }
}

#[test]
fn moves_score_and_save_what_the_bitops_accounting_says() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, "imagenet", 20);
    let cfg = config(0.02, &[8, 4, 2]);
    let a = vww_search(&interp, &tp, &calib, &cfg);
    let b = vww_search(&interp, &tp, &calib, &cfg);
    assert_eq!(a.trajectory, b.trajectory, "deterministic trajectory");
    assert_eq!(a.plan, b.plan, "deterministic plan");
    assert!(!a.trajectory.is_empty());
    // Independent BitOPs: the accounting over a stats table where every
    // tile stores the map at the move's widths.
    let n_maps = a.plan.maps.len();
    let tiles = tp.tiles.len();
    let count = |widths: &[u8]| {
        let stats: Vec<u8> = (0..tiles).flat_map(|_| widths.iter().copied()).collect();
        bitops::count(&graph, Some(&tp), Some(&a.plan), &stats).total as f64
    };
    let int8 = count(&vec![8; n_maps]);
    assert!((int8 - a.int8_bitops).abs() < 1.0, "{int8} vs {}", a.int8_bitops);
    let mut widths = vec![8u8; n_maps];
    let mut previous = a.int8_bitops;
    for m in &a.trajectory {
        let before = count(&widths);
        widths[m.map] = m.to_bits as u8;
        let after = count(&widths);
        let phi = (before - after) / int8;
        assert!((phi - m.phi).abs() < 1e-12, "map {}: phi {} vs {phi}", m.map, m.phi);
        let score = (1.0 - cfg.lambda) * m.phi - cfg.lambda * m.omega;
        assert!((score - m.score).abs() < 1e-12 && m.score > 0.0);
        assert!(m.omega >= 0.0 && m.to_bits < m.from_bits);
        assert!(m.bitops < previous, "BitOPs fall with every move");
        assert!((m.bitops - after).abs() < 1.0, "trajectory BitOPs = accounting");
        previous = m.bitops;
    }
    assert_eq!(widths.iter().map(|&w| u32::from(w)).collect::<Vec<_>>(), a.bits);
}

/// A search result and the moves (map, width), Omegas and widths expected of it.
type Golden<'a> = (&'a SearchResult, &'a [(usize, u32)], &'a [f64], &'a [u32]);

/// The paper score's moves and widths as the search made them before the
/// measured score existed (same images and settings, the `direct` numerics
/// those plans had; values recorded from that build's search).
#[test]
fn the_paper_score_reproduces_the_plans_it_made_before_the_measured_score() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    // The numerics those plans were made with.
    let direct = |c: SearchConfig| SearchConfig {
        mixed: MixedConfig {
            numerics: quantmcu::mixed::Numerics::Direct,
            ..c.mixed.clone()
        },
        ..c
    };
    let patch = vww_search(
        &interp,
        &tp,
        &images(&graph, "imagenet", 20),
        &direct(config(0.02, &[8, 4, 2])),
    );
    let all = vww_search(
        &interp,
        &tp,
        &images(&graph, "imagenet", 8),
        &direct(SearchConfig {
            mixed: MixedConfig {
                scope: Scope::All,
                ..config(0.01, &[8, 4]).mixed
            },
            ..config(0.01, &[8, 4])
        }),
    );
    let cases: [Golden; 2] = [
        (
            &patch,
            &[(5, 4), (1, 4), (3, 4), (5, 2), (1, 2), (0, 4), (3, 2), (4, 4), (0, 2)],
            &[
                0.4213076374712767,
                0.5339648483219821,
                0.5181136946581193,
                0.40794792748202563,
                0.3435454482553232,
                0.483919930470064,
                0.35613457993151926,
                0.4523536681233884,
                0.3178860858893342,
            ],
            &[2, 2, 8, 2, 4, 2, 8],
        ),
        (
            &all,
            &[(5, 4), (1, 4), (3, 4), (0, 4), (4, 4), (2, 4)],
            &[
                0.4280554915503261,
                0.5256107961172097,
                0.5101200956564725,
                0.4816551927105313,
                0.49098768769322937,
                0.5251362593473778,
            ],
            &[4, 4, 4, 4, 4, 4, 8, 8],
        ),
    ];
    for (r, moves, omegas, bits) in cases {
        let got: Vec<(usize, u32)> = r.trajectory.iter().map(|m| (m.map, m.to_bits)).collect();
        assert_eq!(got, moves);
        for (m, &omega) in r.trajectory.iter().zip(omegas) {
            assert!((m.omega - omega).abs() < 1e-12, "{} vs {omega}", m.omega);
            assert!(m.measured.is_none());
        }
        assert_eq!(r.bits, bits);
        assert_eq!(r.stop, Stop::NoPositiveScore);
        assert_eq!((r.plans_run, r.calibration), (0, None));
    }
}

#[test]
fn lambda_zero_lowers_everything_and_one_nothing() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, "imagenet", 8);
    let all = vww_search(&interp, &tp, &calib, &config(0.0, &[8, 4]));
    assert!(all.bits.iter().all(|&b| b == 4), "{:?}", all.bits);
    let none = vww_search(&interp, &tp, &calib, &config(1.0, &[8, 4]));
    assert!(none.trajectory.is_empty() && none.bits.iter().all(|&b| b == 8));
    let target = vww_search(
        &interp,
        &tp,
        &calib,
        &SearchConfig {
            target_bitops: Some(all.int8_bitops * 0.95),
            ..config(0.0, &[8, 4])
        },
    );
    let last = target.trajectory.last().unwrap();
    assert!(last.bitops <= all.int8_bitops * 0.95);
    assert!(
        target.trajectory.len() < all.trajectory.len(),
        "the target stops the search early"
    );
}

/// Plan bytes of `tp` with mixed plan `m` (None: patch-int8).
fn plan_bytes(interp: &ReferenceExecutor, tp: &Tiling, m: Option<&quantmcu::mixed::MixedPrecision>) -> usize {
    PlanRunner::with_mixed(interp, Some((tp, InputMode::Streamed)), m)
        .unwrap()
        .encoded()
        .bytes()
        .len()
}

#[test]
fn a_flash_budget_keeps_the_plan_within_it_by_dropping_per_channel_ranges() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let tp = tile_plan(&graph);
    let calib = images(&graph, "imagenet", 6);
    let int8 = plan_bytes(&interp, &tp, None);
    let free = vww_search(&interp, &tp, &calib, &config(0.0, &[8, 4]));
    let free_bytes = plan_bytes(&interp, &tp, Some(&free.plan));
    // Per-channel ranges of maps read by 1x1 convolutions cost flash.
    let budget = int8 + (free_bytes - int8) / 3;
    assert!(free_bytes > budget, "{free_bytes} B vs patch-int8 {int8} B");
    let capped = vww_search(
        &interp,
        &tp,
        &calib,
        &SearchConfig {
            flash_budget: Some(budget),
            ..config(0.0, &[8, 4])
        },
    );
    let capped_bytes = plan_bytes(&interp, &tp, Some(&capped.plan));
    assert!(capped_bytes <= budget, "{capped_bytes} B > budget {budget} B");
    // The fit's steps: measured sizes falling to the plan's, per-tensor steps first.
    let fit = &capped.flash_fit;
    assert_eq!(fit.last().unwrap().flash_bytes, capped_bytes);
    assert!(fit.windows(2).all(|w| w[1].flash_bytes < w[0].flash_bytes));
    assert!(fit[0].flash_bytes < free_bytes);
    assert!(fit.iter().all(|s| s.tensor == capped.plan.maps[s.map].name));
    // Maps gave up per-channel ranges, and those are per tensor now.
    let per_channel = |r: &SearchResult| r.plan.maps.iter().filter(|m| m.format.per_channel()).count();
    assert!(per_channel(&capped) < per_channel(&free));
    for s in fit {
        assert!(!capped.plan.maps[s.map].format.per_channel());
    }
    // Without a budget nothing is fitted.
    assert!(free.flash_fit.is_empty());
}

#[test]
fn compiled_plan_on_disk_runs_like_the_one_in_memory() {
    let graph = vww();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let sample = |x: Vec<TensorData>| Sample { inputs: x, label: None };
    let calib: Vec<Sample> = images(&graph, "imagenet", 8).into_iter().map(sample).collect();
    let eval: Vec<Sample> = images(&graph, "cifar10", 4).into_iter().map(sample).collect();
    let opts = Options {
        auto_eps: false,
        sram: 22118,
        input: InputMode::Streamed,
        split: None,
        grid: None,
        search: config(0.02, &[8, 4]),
        sweep_lambdas: vec![],
        sweep_eval_limit: None,
        exhaustive_maps: 0,
        max_flash_ratio: None,
    };
    let progress = Progress {
        phase: &|_| (),
        tick: &|| (),
    };
    let c = pipeline::compile(&interp, &opts, &calib, &eval, &progress).unwrap();
    let names: Vec<&str> = c.report.plans.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["layer-int8", "patch-int8", "patch-uniform-low", "quantmcu"]);
    assert_eq!(c.report.plans[1].agreement, 1.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    std::fs::write(&path, serde_json::to_string(&c.plan_file).unwrap()).unwrap();
    let loaded = PlanFile::load(&path, &graph).unwrap();
    let runner = PlanRunner::with_mixed(&interp, Some((&loaded.tiles, loaded.input)), loaded.mixed.as_ref()).unwrap();
    assert_eq!(runner.encoded().bytes(), &c.plan_bytes[..], "same plan bytes");
    let memory = PlanRunner::with_mixed(&interp, Some((&c.tiles, InputMode::Streamed)), Some(&c.mixed)).unwrap();
    for s in &eval {
        let (a, b) = (
            runner.run_stats(&s.inputs).unwrap(),
            memory.run_stats(&s.inputs).unwrap(),
        );
        assert_eq!(a.values, b.values);
        assert_eq!(a.widths, b.widths);
    }
}

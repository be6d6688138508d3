//! Value-driven mixed precision in the patch stage (VWW, the foolbox ImageNet
//! images as calibration data): a plan whose maps all stay 8-bit, and a
//! 4-bit plan whose every tile is forced outlier, equal patch-based int8 bit
//! for bit; a real 4-bit plan drops to 4 bits exactly where the int8 values
//! of the first map stay inside its clean range, and saves BitOPs. Both
//! numerics (int8-first and direct) keep these properties.

/// Both ways of obtaining codes.
const NUMERICS: [Numerics; 2] = [Numerics::Int8First, Numerics::Direct];

/// `plan` with each numerics.
fn with_each_numerics(plan: &MixedPrecision) -> impl Iterator<Item = MixedPrecision> + '_ {
    NUMERICS.into_iter().map(|numerics| MixedPrecision {
        numerics,
        ..plan.clone()
    })
}

use quantmcu::dataset::Dataset;
use quantmcu::mixed::{build, calibrate_int8, stage_maps, MixedConfig, MixedPrecision, Numerics, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::search::search;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, Graph, ReferenceExecutor};

fn images(graph: &Graph, set: &str, n: usize) -> Vec<Vec<TensorData>> {
    let dir = assets::ensure("foolbox").unwrap().join("foolbox");
    let data = Dataset::open_set(&dir, Some(set)).unwrap();
    (0..data.len().min(n))
        .map(|i| vec![data.get(i).unwrap().to_input(graph).unwrap()])
        .collect()
}

struct Vww {
    graph: Graph,
}

fn vww() -> Vww {
    Vww {
        graph: tflite::load(&assets::model("vww_mobilenetv1.tflite").unwrap()).unwrap(),
    }
}

fn tile_plan(graph: &Graph) -> Tiling {
    let c = search(graph, 22118, InputMode::Streamed, None, None).chosen.unwrap();
    let stage = split_points(graph)
        .into_iter()
        .find(|s| s.ops.last() == Some(&c.split_op))
        .unwrap();
    Tiling::new(graph, &stage, c.grid).unwrap()
}

fn mixed_plan(interp: &ReferenceExecutor, tp: &Tiling, bits: u32, rule: Rule, per_channel: bool) -> MixedPrecision {
    scoped_plan(interp, tp, bits, rule, per_channel, Scope::Patch)
}

fn scoped_plan(
    interp: &ReferenceExecutor,
    tp: &Tiling,
    bits: u32,
    rule: Rule,
    per_channel: bool,
    scope: Scope,
) -> MixedPrecision {
    let graph = interp.graph();
    let calib = images(graph, "imagenet", 20);
    let hists = calibrate_int8(interp, tp, InputMode::Streamed, scope, true, &calib, &|| ()).unwrap();
    let cfg = MixedConfig {
        bits: vec![bits],
        outlier_quantile: 1e-4,
        rule,
        scope,
        layer_in_place: true,
        per_channel,
        clip: false,
        bias_correction: false,
        numerics: quantmcu::mixed::Numerics::default(),
    };
    build(graph, tp, &hists, &cfg).unwrap()
}

#[test]
fn eight_bit_and_forced_outlier_plans_equal_patch_int8() {
    let v = vww();
    let interp = ReferenceExecutor::new(&v.graph).unwrap();
    let tp = tile_plan(&v.graph);
    let int8 = PlanRunner::new(&interp, Some((&tp, InputMode::Streamed))).unwrap();
    let all8 = mixed_plan(&interp, &tp, 8, Rule::Map, false);
    let forced_plan = |scope| {
        let mut forced = scoped_plan(&interp, &tp, 4, Rule::Map, true, scope);
        for m in &mut forced.maps {
            // An empty clean range: every tile is outlier.
            m.clean.iter_mut().for_each(|r| *r = (127, -128));
        }
        forced
    };
    let (forced, forced_all) = (forced_plan(Scope::Patch), forced_plan(Scope::All));
    assert!(
        forced_all.maps.len() > forced.maps.len(),
        "scope all adds the layer stage's maps"
    );
    for (name, base) in [
        ("all 8-bit", &all8),
        ("forced outlier", &forced),
        ("forced outlier, scope all", &forced_all),
    ] {
        for plan in with_each_numerics(base) {
            let name = format!("{name}, {}", plan.numerics.name());
            let runner = PlanRunner::with_mixed(&interp, Some((&tp, InputMode::Streamed)), Some(&plan)).unwrap();
            if plan.scope == Scope::Patch {
                assert_eq!(runner.arena_bytes(), int8.arena_bytes(), "{name}: same arena");
            }
            for x in images(&v.graph, "cifar10", 10)
                .iter()
                .chain(&images(&v.graph, "imagenet", 5))
            {
                let want = int8.run_all(x).unwrap();
                let got = runner.run_stats(x).unwrap();
                assert_eq!(
                    got.values[runner.encoded().output],
                    want[int8.encoded().output],
                    "{name}"
                );
                assert!(
                    got.widths.iter().all(|&b| b == 8 || b == 0),
                    "{name}: every map stored at 8 bits"
                );
            }
        }
    }
}

#[test]
fn four_bit_tiles_are_exactly_the_clean_ones_of_the_first_map() {
    let v = vww();
    let interp = ReferenceExecutor::new(&v.graph).unwrap();
    let tp = tile_plan(&v.graph);
    let int8 = PlanRunner::new(&interp, Some((&tp, InputMode::Streamed))).unwrap();
    for plan in with_each_numerics(&mixed_plan(&interp, &tp, 4, Rule::Map, false)) {
        let runner = PlanRunner::with_mixed(&interp, Some((&tp, InputMode::Streamed)), Some(&plan)).unwrap();
        let first = &plan.maps[0];
        let (lo, hi) = first.clean[0];
        let [_, w, c] = quantmcu::patch::stage::hwc(&v.graph, first.tensor).unwrap();
        let (mut low_tiles, mut saved) = (0, 0);
        for x in images(&v.graph, "cifar100", 20) {
            let reference = interp.run_all(&x).unwrap();
            let values = reference[first.tensor].as_ref().unwrap().as_i8();
            let run = runner.run_stats(&x).unwrap();
            for (k, tile) in tp.tiles.iter().enumerate() {
                let r = tile.rect(first.tensor);
                let clean = (r.y..r.y + r.h).all(|y| {
                    values[(y * w + r.x) * c..(y * w + r.x + r.w) * c]
                        .iter()
                        .all(|&v| (lo..=hi).contains(&i32::from(v)))
                });
                assert_eq!(run.widths[k * plan.maps.len()], if clean { 4 } else { 8 }, "tile {k}");
                low_tiles += usize::from(clean);
            }
            let b8 = int8.run_stats(&x).unwrap().bitops;
            assert!(run.bitops.patch_stage <= b8.patch_stage);
            saved += usize::from(run.bitops.patch_stage < b8.patch_stage);
        }
        assert!(
            low_tiles > 0 && saved > 0,
            "{}: some tiles ran at 4 bits",
            plan.numerics.name()
        );
    }
}

/// Independent oracle for the derived low-bit requantization: with one map
/// at `b` bits and every tile clean, the plan's output must be close to the
/// layer-int8 model in which that map's int8 values are rounded to the `b`-bit
/// grid of its format (fake quantization on the int8 values; the plan rounds
/// from the accumulator instead, so the two differ by double rounding only).
#[test]
fn one_low_map_matches_fake_quantization_of_its_int8_values() {
    let v = vww();
    let graph = &v.graph;
    let interp = ReferenceExecutor::new(graph).unwrap();
    let tp = tile_plan(graph);
    let maps = stage_maps(graph, &tp.stage);
    let calib = images(graph, "imagenet", 20);
    let hists = calibrate_int8(&interp, &tp, InputMode::Streamed, Scope::Patch, true, &calib, &|| ()).unwrap();
    let producers = graph.producers();
    for (k, &t) in maps.iter().enumerate() {
        let mut bits = vec![8; maps.len()];
        bits[k] = 4;
        let cfg = MixedConfig {
            bits,
            outlier_quantile: 0.0,
            rule: Rule::Map,
            scope: Scope::Patch,
            layer_in_place: true,
            per_channel: false,
            clip: false,
            bias_correction: false,
            numerics: quantmcu::mixed::Numerics::default(),
        };
        let plan = build(graph, &tp, &hists, &cfg).unwrap();
        let f = &plan.maps[k].format;
        let (s8, z8) = graph.scale_zp(t);
        let runner = PlanRunner::with_mixed(&interp, Some((&tp, InputMode::Streamed)), Some(&plan)).unwrap();
        let (mut noise_plan, mut noise_fake, mut diff) = (0f64, 0f64, 0f64);
        for x in &calib {
            let want = interp.run_all(x).unwrap();
            let run = runner.run_stats(x).unwrap();
            let n = maps.len();
            assert!(
                (0..tp.tiles.len()).all(|tile| run.widths[tile * n + k] == 4),
                "map {k}: all tiles clean on calibration data"
            );
            // Fake quantization: int8 value -> nearest code -> int8 value.
            let mut fake = interp.feed(x).unwrap();
            let p = producers[t].unwrap();
            interp.run_ops(&mut fake, 0..p + 1);
            let q = fake[t].as_ref().unwrap().as_i8().iter().map(|&v| {
                let real = f64::from(s8) * f64::from(i32::from(v) - z8);
                let (lo, hi) = f.code_range();
                let u = (real / f.scale[0]).round() as i32 + f.zero_point;
                let back = f.scale[0] * f64::from(u.clamp(lo, hi) - f.zero_point);
                ((back / f64::from(s8)).round() as i32 + z8).clamp(-128, 127) as i8
            });
            fake[t] = Some(TensorData::I8(q.collect()));
            interp.run_ops(&mut fake, p + 1..graph.ops.len());
            let out = graph.outputs[0];
            let scores = |v: &Option<TensorData>| quantmcu::dataset::class_scores(graph, v.as_ref().unwrap());
            let (a, b, c) = (scores(&want[out]), scores(&run.values[out]), scores(&fake[out]));
            for ((a, b), c) in a.iter().zip(&b).zip(&c) {
                noise_plan += (a - b) * (a - b);
                noise_fake += (a - c) * (a - c);
                diff += (b - c) * (b - c);
            }
        }
        println!("map {k}: output noise plan {noise_plan:.4}, fake {noise_fake:.4}, plan-vs-fake {diff:.4}");
        assert!(
            noise_plan <= 2.0 * noise_fake + 1e-3 && diff <= noise_fake + 1e-3,
            "map {k}: the plan's 4-bit map errs far more than fake quantization does"
        );
    }
}

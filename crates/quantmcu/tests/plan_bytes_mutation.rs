//! Mutated runtime plans never panic: real encoded plans of the bundled
//! models (layer-based and patch-based, int8 and mixed precision) get byte
//! flips, truncations, extensions and field overwrites; `Plan::parse` either
//! rejects the bytes with a sentence, or the interpreter runs them to
//! completion (an `Ok`, or a buffer-size error when the mutated plan asks for
//! buffers other than the caller's).
//!
//! Cases: `QUANTMCU_MUTATIONS` (default 3000).

use std::panic::{catch_unwind, AssertUnwindSafe};

use quantmcu::mixed::{build, calibrate_int8, MixedConfig, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, tflite, Graph, ReferenceExecutor};
use quantmcu_rt::interpreter;
use quantmcu_rt::plan::{Plan, HEADER_WORDS, MAX_DIM};

/// Largest buffer a mutated plan gets (bytes); larger requests run with
/// the caller's real buffers and must be refused.
const MAX_BUFFER: usize = 1 << 22;

/// xorshift32.
struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() as usize % n.max(1)
    }
}

/// Deterministic model inputs from pseudo-random pixels.
fn inputs(graph: &Graph, n: usize, rng: &mut Rng) -> Vec<Vec<TensorData>> {
    let len = graph.tensors[graph.inputs[0]].elements();
    (0..n)
        .map(|_| {
            let px: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            vec![input::pixels_to_input(graph, &px).unwrap()]
        })
        .collect()
}

/// A tile plan at the first split point from the middle of the graph on.
fn tile_plan(graph: &Graph, grid: [usize; 2]) -> Tiling {
    let stages = split_points(graph);
    stages[stages.len() / 2..]
        .iter()
        .find_map(|s| Tiling::new(graph, s, grid))
        .expect("a tile plan")
}

/// The plans under test: (label, words).
fn plans() -> Vec<(String, Vec<u32>)> {
    let mut rng = Rng(0x1234_5678);
    let mut out = Vec::new();
    let models = [
        ("vww", assets::model("vww_mobilenetv1.tflite").unwrap(), Scope::Patch),
        (
            "resnet8",
            assets::model("resnet8_cifar10.tflite").unwrap(),
            Scope::Patch,
        ),
        (
            "fmnist",
            assets::repo_root().join("models/fmnist_mobilenetv2_int8.tflite"),
            Scope::All,
        ),
    ];
    for (name, path, scope) in models {
        let graph = tflite::load(&path).unwrap();
        let interp = ReferenceExecutor::new(&graph).unwrap();
        let tp = tile_plan(&graph, [2, 2]);
        let words = |r: PlanRunner| r.encoded().words.clone();
        out.push((
            format!("{name} layer int8"),
            words(PlanRunner::new(&interp, None).unwrap()),
        ));
        for mode in [InputMode::Resident, InputMode::Streamed] {
            let r = PlanRunner::new(&interp, Some((&tp, mode))).unwrap();
            out.push((format!("{name} patch int8 {mode:?}"), words(r)));
        }
        let calib = inputs(&graph, 3, &mut rng);
        let mode = InputMode::Streamed;
        let hists = calibrate_int8(&interp, &tp, mode, scope, true, &calib, &|| ()).unwrap();
        let cfg = MixedConfig {
            bits: vec![4],
            outlier_quantile: 1e-3,
            rule: if scope == Scope::All { Rule::Map } else { Rule::Branch },
            scope,
            layer_in_place: true,
            per_channel: true,
            clip: false,
            bias_correction: false,
            numerics: quantmcu::mixed::Numerics::default(),
        };
        let mixed = build(&graph, &tp, &hists, &cfg).unwrap();
        let r = PlanRunner::with_mixed(&interp, Some((&tp, mode)), Some(&mixed)).unwrap();
        out.push((format!("{name} mixed 4-bit {scope:?}"), words(r)));
    }
    out
}

/// What happened to one mutated plan.
#[derive(Debug, PartialEq)]
enum Outcome {
    Rejected,
    Ran,
    /// Parsed, and the interpreter refused the caller's buffers.
    Refused,
}

/// Parses `bytes` and, when they parse, runs them with buffers of the sizes
/// the plan asks for (up to [`MAX_BUFFER`], else `input`'s and `output`'s).
fn try_plan(bytes: &[u8], input: &[i8], output_len: usize) -> Outcome {
    let plan = match Plan::parse(bytes) {
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.starts_with("plan ") || text.starts_with("the plan"),
                "not a sentence about the plan: {text}"
            );
            return Outcome::Rejected;
        }
        Ok(p) => p,
    };
    let size = |n: usize, real: usize| if n <= MAX_BUFFER { n } else { real };
    let mut arena = vec![0i8; size(plan.arena_bytes(), MAX_BUFFER)];
    let mut scratch = vec![0i32; plan.scratch_words().min(MAX_BUFFER / 4)];
    let x: Vec<i8> = if plan.input_len() <= MAX_BUFFER {
        (0..plan.input_len())
            .map(|i| input.get(i).copied().unwrap_or(0))
            .collect()
    } else {
        input.to_vec()
    };
    let mut y = vec![0i8; size(plan.output_len(), output_len)];
    let mut stats = vec![0u8; size(plan.n_tiles().saturating_mul(plan.n_maps()), 0)];
    match interpreter::run_with_stats(&plan, &mut arena, &mut scratch, &x, &mut y, &mut stats) {
        Ok(()) => Outcome::Ran,
        Err(e) => {
            assert!(e.to_string().starts_with("the "), "not a sentence: {e}");
            Outcome::Refused
        }
    }
}

/// Applies one random mutation to `words`; returns the bytes and what it did.
fn mutate(words: &[u32], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut bytes: Vec<u8> = bytemuck::cast_slice(words).to_vec();
    // Header, op records and steps: the data section starts at `data_at`.
    let records = (words[11] as usize).min(bytes.len()) / 4;
    let what = match rng.below(6) {
        0 => {
            let i = rng.below(bytes.len());
            let bit = rng.below(8);
            bytes[i] ^= 1 << bit;
            format!("flip bit {bit} of byte {i}")
        }
        1 => {
            let n = rng.below(bytes.len());
            bytes.truncate(n);
            format!("truncate to {n} bytes")
        }
        2 => {
            let n = 1 + rng.below(64);
            bytes.extend((0..4 * n).map(|_| rng.next() as u8));
            let fix = rng.below(2) == 0;
            if fix {
                // Keep `total_bytes` consistent: only the trailing words are new.
                let total = bytes.len() as u32;
                bytes[48..52].copy_from_slice(&total.to_le_bytes());
            }
            format!("extend by {n} words (total_bytes updated: {fix})")
        }
        _ => {
            let i = if rng.below(4) == 0 {
                rng.below(HEADER_WORDS)
            } else {
                rng.below(records)
            };
            let old = words[i];
            let values = [
                0,
                1,
                2,
                3,
                4,
                8,
                u32::MAX,
                0x8000_0000,
                0x7fff_ffff,
                MAX_DIM as u32,
                MAX_DIM as u32 + 1,
                old.wrapping_add(1),
                old.wrapping_sub(1),
                old.wrapping_mul(2),
                old / 2,
                old ^ 0xff,
                rng.next(),
            ];
            let v = values[rng.below(values.len())];
            bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
            format!("word {i}: {old:#x} -> {v:#x}")
        }
    };
    (bytes, what)
}

#[test]
fn mutated_plan_bytes_are_rejected_or_run() {
    let cases: usize = std::env::var("QUANTMCU_MUTATIONS")
        .ok()
        .map(|v| v.parse().expect("QUANTMCU_MUTATIONS is a number"))
        .unwrap_or(3000);
    let plans = plans();
    let mut rng = Rng(0x9e37_79b9);
    // The unmutated plans parse and run.
    let fixtures: Vec<(Vec<i8>, usize)> = plans
        .iter()
        .map(|(label, words)| {
            let plan = Plan::parse(bytemuck::cast_slice(words)).unwrap_or_else(|e| panic!("{label}: {e}"));
            let x: Vec<i8> = (0..plan.input_len()).map(|_| rng.next() as i8).collect();
            let n = plan.output_len();
            assert_eq!(try_plan(bytemuck::cast_slice(words), &x, n), Outcome::Ran, "{label}");
            (x, n)
        })
        .collect();
    let start = std::time::Instant::now();
    let (mut rejected, mut ran, mut refused) = (0usize, 0usize, 0usize);
    for case in 0..cases {
        let k = case % plans.len();
        let (label, words) = &plans[k];
        let (bytes, what) = mutate(words, &mut rng);
        // Keep the mutated bytes 4-byte aligned, as a plan in flash is.
        let aligned: Vec<u32> = bytes
            .chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect();
        let view = &bytemuck::cast_slice::<u32, u8>(&aligned)[..bytes.len()];
        let (x, n) = &fixtures[k];
        match catch_unwind(AssertUnwindSafe(|| try_plan(view, x, *n))) {
            Ok(Outcome::Rejected) => rejected += 1,
            Ok(Outcome::Ran) => ran += 1,
            Ok(Outcome::Refused) => refused += 1,
            Err(_) => panic!("case {case} ({label}, {what}) panicked"),
        }
    }
    println!(
        "{cases} cases over {} plans: {rejected} rejected, {ran} ran, {refused} refused buffers, {:.1} s",
        plans.len(),
        start.elapsed().as_secs_f64()
    );
    assert_eq!(rejected + ran + refused, cases);
    assert!(
        cases < 100 || (rejected > cases / 10 && ran > cases / 10),
        "too few of each outcome"
    );
}

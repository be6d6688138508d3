//! Hostile input: thousands of mutations (`$QUANTMCU_MUTATIONS`) of the three
//! bundled models (truncation, byte and bit flips, wrong magic, words set to
//! huge declared sizes and counts or nudged) must each give an error naming
//! the model or a model that runs; never a panic, and never a huge
//! allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use mutation::{cases, mutate_binary, Outcome, Rng, Tally};

use quantmcu::ir::DType;
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, ReferenceExecutor};

mod mutation;

/// Records the largest single allocation request of the test binary.
struct Tracking;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

fn zero_input(graph: &quantmcu::Graph) -> TensorData {
    let t = &graph.tensors[graph.inputs[0]];
    match t.dtype {
        DType::F32 => TensorData::F32(vec![0.0; t.elements()]),
        DType::I8 => TensorData::I8(vec![0; t.elements()]),
        DType::U8 => TensorData::U8(vec![0; t.elements()]),
        DType::I32 => TensorData::I32(vec![0; t.elements()]),
        DType::I64 => TensorData::I64(vec![0; t.elements()]),
    }
}

/// Parses, prepares and runs each mutant of every model on a zero input.
#[test]
fn mutated_models_never_panic() {
    let models: Vec<(&str, Vec<u8>)> = ["vww_mobilenetv1.tflite", "resnet8_cifar10.tflite"]
        .into_iter()
        .map(|m| (m, std::fs::read(assets::model(m).unwrap()).unwrap()))
        .chain(std::iter::once((
            "fmnist_mobilenetv2_int8.tflite",
            std::fs::read(assets::repo_root().join("models/fmnist_mobilenetv2_int8.tflite")).unwrap(),
        )))
        .collect();
    let n = cases(3000);
    let start = Instant::now();
    let mut tally = Tally::default();
    for case in 0..n {
        let (model, original) = &models[case % models.len()];
        let mut rng = Rng::for_case(0x9e37_79b9_7f4a_7c15, case);
        let (bytes, what) = mutate_binary(original, &mut rng);
        let what = format!("{model}: {what}");
        tally.run(case, &what, || {
            let outcome = tflite::parse(&bytes, model).and_then(|graph| {
                let interp = ReferenceExecutor::new(&graph)?;
                interp.run(&[zero_input(&graph)]).map(|_| ())
            });
            match outcome {
                Ok(()) => Outcome::Ran,
                Err(e) if e.to_string().contains(model) => Outcome::Rejected,
                Err(e) => Outcome::Wrong(format!("the error does not name the model: {e}")),
            }
        });
    }
    tally.report("models", start.elapsed().as_secs_f64());
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 64 << 20, "an allocation of {largest} bytes");
    assert!(
        tally.rejected > n / 4 && tally.ran > 0,
        "{} of {n} mutants rejected, {} ran",
        tally.rejected,
        tally.ran
    );
}

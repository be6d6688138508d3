//! Hostile input: thousands of mutations of the two real models (truncation,
//! byte flips, wrong magic, huge declared sizes and counts) must each give an
//! error or a model that runs; never a panic, and never a huge allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

use quantmcu::ir::DType;
use quantmcu::tensor::TensorData;
use quantmcu::{assets, tflite, Interpreter};

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

/// xorshift64: a fixed, dependency-free pseudo-random sequence.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(original: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = original.to_vec();
    let kind = rng.below(5);
    let what = match kind {
        0 => {
            let n = rng.below(b.len());
            b.truncate(n);
            format!("truncated to {n} bytes")
        }
        1 => {
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            format!("{flips} random bytes")
        }
        2 => {
            b[4..8].copy_from_slice(b"TFL2");
            "wrong magic".into()
        }
        _ => {
            // A huge or negative value over an aligned word: vector lengths,
            // offsets, shape dimensions, buffer sizes, indices.
            let values = [
                0x7fff_ffffu32,
                0xffff_ffff,
                0x4000_0000,
                0x0100_0000,
                0x8000_0000,
                65_536,
            ];
            let v = values[rng.below(values.len())];
            let i = rng.below(b.len() / 4) * 4;
            b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            format!("word at {i} set to {v:#x}")
        }
    };
    (b, what)
}

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

fn fuzz(model: &str, mutants: usize, seed: u64) {
    let original = std::fs::read(assets::model(model).unwrap()).unwrap();
    let mut rng = Rng(seed);
    let (mut rejected, mut ran) = (0, 0);
    for k in 0..mutants {
        let (bytes, what) = mutate(&original, &mut rng);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let graph = tflite::parse(&bytes, model)?;
            let interp = Interpreter::new(&graph)?;
            let input = zero_input(&graph);
            interp.run(&[input]).map(|_| ())
        }));
        match outcome {
            Ok(Ok(())) => ran += 1,
            Ok(Err(e)) => {
                rejected += 1;
                assert!(
                    e.to_string().contains(model),
                    "mutant {k} ({what}): error does not name the model: {e}"
                );
            }
            Err(_) => panic!("mutant {k} of {model} ({what}) panicked"),
        }
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 64 << 20, "an allocation of {largest} bytes");
    assert!(rejected > mutants / 4, "only {rejected} of {mutants} mutants rejected");
    eprintln!("{model}: {mutants} mutants, {rejected} rejected with an error, {ran} ran");
}

#[test]
fn mutated_vww_never_panics() {
    fuzz("vww_mobilenetv1.tflite", 1500, 0x9e37_79b9_7f4a_7c15);
}

#[test]
fn mutated_resnet8_never_panics() {
    fuzz("resnet8_cifar10.tflite", 1500, 0x2545_f491_4f6c_dd1d);
}

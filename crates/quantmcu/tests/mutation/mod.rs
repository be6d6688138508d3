//! Deterministic, seeded mutations of real inputs, shared by the hostile-input
//! tests: JSON documents (field values, list lengths, types, deletions,
//! unknown fields, truncation, byte flips) and binary files (byte and bit
//! flips, truncation, word overwrites). Case `k` of a run with seed `s` is
//! always the same mutation, so a failing case can be replayed alone.
//!
//! Each test binary uses the part of the harness for its input kind.
#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::Value;

/// xorshift64*: a fixed, dependency-free pseudo-random sequence.
pub struct Rng(u64);

impl Rng {
    /// The generator of case `case` of a run seeded with `seed`.
    pub fn for_case(seed: u64, case: usize) -> Self {
        // splitmix64 of the pair: neighbouring cases get unrelated streams.
        let mut z = seed ^ (case as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Number of cases a test runs: `$QUANTMCU_MUTATIONS` when set, else `default`.
pub fn cases(default: usize) -> usize {
    match std::env::var("QUANTMCU_MUTATIONS") {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("QUANTMCU_MUTATIONS='{v}' is not a case count")),
        Err(_) => default,
    }
}

/// One step of a path into a JSON document.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A node of a JSON document: its path, whether it is an object field, and
/// whether it is an array.
struct Node {
    path: Vec<Step>,
    field: bool,
    array: bool,
}

/// Every node of `v` (the root included).
fn nodes(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Node>, field: bool) {
    out.push(Node {
        path: path.clone(),
        field,
        array: v.is_array(),
    });
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                path.push(Step::Key(k.clone()));
                nodes(x, path, out, true);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                path.push(Step::Index(i));
                nodes(x, path, out, false);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn show(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => s += &format!(".{k}"),
            Step::Index(i) => s += &format!("[{i}]"),
        }
    }
    if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

/// A value near `x` or at an edge of some integer or float range.
fn number_like(x: &Value, rng: &mut Rng) -> Value {
    let f = x.as_f64().unwrap_or(0.0);
    let i = x.as_i64().unwrap_or(f as i64);
    match rng.below(4) {
        0 => Value::from(i + rng.below(5) as i64 - 2),
        1 => Value::from(*rng.pick(&[
            0i64,
            1,
            -1,
            2,
            7,
            8,
            9,
            127,
            128,
            -128,
            -129,
            255,
            256,
            65_536,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            1 << 32,
            i64::MAX,
            i64::MIN,
        ])),
        2 => Value::from(*rng.pick(&[0.0, -0.0, 0.5, -1.5, 1e-300, 1e-30, 1e30, 1e300, f64::MIN_POSITIVE])),
        _ => Value::from(f * *rng.pick(&[-1.0, 0.5, 2.0, 1.0 + 1e-9, 1e6, 1e-6])),
    }
}

/// A value of another JSON type than `x`.
fn other_type(x: &Value, rng: &mut Rng) -> Value {
    let choices = [
        Value::Null,
        Value::Bool(true),
        Value::from(3),
        Value::from(-2.5),
        Value::from("quantmcu"),
        Value::Array(vec![]),
        Value::Array(vec![Value::from(1), Value::from(2)]),
        serde_json::json!({}),
        serde_json::json!({"bits": 4}),
    ];
    loop {
        let c = rng.pick(&choices).clone();
        if std::mem::discriminant(&c) != std::mem::discriminant(x) {
            return c;
        }
    }
}

/// A mutated copy of JSON document `text` (`value` parsed from it), and what
/// was done.
pub fn mutate_json(text: &str, value: &Value, rng: &mut Rng) -> (Vec<u8>, String) {
    let mut all = Vec::new();
    nodes(value, &mut Vec::new(), &mut all, false);
    let fields: Vec<&Node> = all.iter().filter(|n| n.field).collect();
    let arrays: Vec<&Node> = all.iter().filter(|n| n.array).collect();
    // Half the tree mutations pick a field, half any node (most nodes are
    // numbers of per-channel lists).
    let node = |rng: &mut Rng| -> Vec<Step> {
        if rng.below(2) == 0 && !fields.is_empty() {
            rng.pick(&fields).path.clone()
        } else {
            rng.pick(&all).path.clone()
        }
    };
    let mut v = value.clone();
    let what = match rng.below(8) {
        0 | 1 => {
            let p = node(rng);
            let x = at(&mut v, &p);
            let new = match &*x {
                Value::Number(_) => number_like(x, rng),
                Value::Bool(b) => Value::Bool(!b),
                Value::String(s) => {
                    let half: String = s.chars().take(s.chars().count() / 2).collect();
                    let words = [
                        "",
                        "x",
                        "quantmcu-plan/1",
                        "resident",
                        "streamed",
                        "branch",
                        "all",
                        &half,
                    ];
                    Value::from(*rng.pick(&words))
                }
                other => other_type(other, rng),
            };
            let what = format!("{} set to {new}", show(&p));
            *x = new;
            what
        }
        2 => {
            let p = node(rng);
            let x = at(&mut v, &p);
            let new = other_type(x, rng);
            let what = format!("{} replaced by {new}", show(&p));
            *x = new;
            what
        }
        3 if !arrays.is_empty() => {
            let p = rng.pick(&arrays).path.clone();
            let Value::Array(a) = at(&mut v, &p) else {
                unreachable!("an array path")
            };
            let n = a.len();
            match rng.below(4) {
                0 if n > 0 => {
                    a.remove(rng.below(n));
                    format!("{}: an element removed", show(&p))
                }
                1 if n > 0 => {
                    let i = rng.below(n);
                    a.insert(i, a[i].clone());
                    format!("{}: element {i} duplicated", show(&p))
                }
                2 => {
                    a.truncate(rng.below(n + 1) / 2);
                    format!("{}: cut to {} elements", show(&p), a.len())
                }
                _ => {
                    a.push(a.last().cloned().unwrap_or(Value::from(0)));
                    format!("{}: an element appended", show(&p))
                }
            }
        }
        4 if !fields.is_empty() => {
            let p = rng.pick(&fields).path.clone();
            let (last, parent) = p.split_last().expect("a field has a key");
            let Step::Key(k) = last else {
                unreachable!("fields end in a key")
            };
            at(&mut v, parent).as_object_mut().expect("an object").remove(k);
            format!("{} deleted", show(&p))
        }
        5 => {
            let p = node(rng);
            match at(&mut v, &p) {
                Value::Object(m) => {
                    m.insert("unexpected".into(), Value::from(1));
                    format!("{}: unknown field added", show(&p))
                }
                _ => {
                    v = Value::Null;
                    "the document replaced by null".into()
                }
            }
        }
        6 => {
            let n = rng.below(text.len());
            return (text.as_bytes()[..n].to_vec(), format!("truncated to {n} bytes"));
        }
        _ => return flip_bytes(text.as_bytes(), rng),
    };
    (serde_json::to_vec_pretty(&v).expect("a JSON value"), what)
}

/// `original` with 1..=8 bytes set to random values.
pub fn flip_bytes(original: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = original.to_vec();
    let flips = 1 + rng.below(8);
    let mut at = Vec::new();
    for _ in 0..flips {
        let i = rng.below(b.len());
        b[i] = rng.next() as u8;
        at.push(i);
    }
    (b, format!("bytes at {at:?} set to random values"))
}

/// A mutated copy of binary file `original` (at least 8 bytes) and what was
/// done: truncation, random bytes, one flipped bit, the magic at bytes 4..8
/// changed, or an aligned little-endian word (a length, offset, dimension or
/// index in a flatbuffer) overwritten with an edge value or nudged.
pub fn mutate_binary(original: &[u8], rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = original.to_vec();
    let what = match rng.below(6) {
        0 => {
            let n = rng.below(b.len());
            b.truncate(n);
            format!("truncated to {n} bytes")
        }
        1 => return flip_bytes(original, rng),
        2 => {
            let i = rng.below(b.len());
            let bit = rng.below(8);
            b[i] ^= 1 << bit;
            format!("bit {bit} of byte {i} flipped")
        }
        3 => {
            b[4..8].copy_from_slice(b"TFL2");
            "wrong magic".into()
        }
        4 => {
            let i = rng.below(b.len() / 4) * 4;
            let w = u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
            let v = w.wrapping_add(rng.below(9) as u32).wrapping_sub(4);
            b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            format!("word at {i} nudged from {w:#x} to {v:#x}")
        }
        _ => {
            let v = *rng.pick(&[
                0x7fff_ffffu32,
                0xffff_ffff,
                0x4000_0000,
                0x0100_0000,
                0x8000_0000,
                65_536,
                0,
                1,
            ]);
            let i = rng.below(b.len() / 4) * 4;
            b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            format!("word at {i} set to {v:#x}")
        }
    };
    (b, what)
}

/// What one case did.
pub enum Outcome {
    /// Refused with an error.
    Rejected,
    /// Accepted and run to completion.
    Ran,
    /// Accepted but wrong in a way the test names (a defect).
    Wrong(String),
}

/// Counts of a mutation run.
#[derive(Default)]
pub struct Tally {
    pub cases: usize,
    pub rejected: usize,
    pub ran: usize,
    /// Panics and wrong outcomes, with the case and mutation that made them
    /// (the first few kept).
    pub defects: usize,
    pub first_defects: Vec<String>,
}

impl Tally {
    /// Runs case `case` (mutation `what`) under `catch_unwind`: a panic is a
    /// defect, like an [`Outcome::Wrong`].
    pub fn run(&mut self, case: usize, what: &str, f: impl FnOnce() -> Outcome) {
        self.cases += 1;
        let defect = match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Outcome::Rejected) => {
                self.rejected += 1;
                None
            }
            Ok(Outcome::Ran) => {
                self.ran += 1;
                None
            }
            Ok(Outcome::Wrong(why)) => Some(why),
            Err(panic) => Some(format!(
                "panicked: {}",
                panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)")
            )),
        };
        if let Some(why) = defect {
            self.defects += 1;
            if self.first_defects.len() < 20 {
                self.first_defects.push(format!("case {case} ({what}): {why}"));
            }
        }
    }

    /// Prints the counts under `name` and fails on any defect.
    pub fn report(&self, name: &str, seconds: f64) {
        eprintln!(
            "{name}: {} cases, {} rejected, {} ran, {} defects in {seconds:.1} s",
            self.cases, self.rejected, self.ran, self.defects
        );
        assert!(
            self.defects == 0,
            "{name}: {} defects:\n{}",
            self.defects,
            self.first_defects.join("\n")
        );
    }
}

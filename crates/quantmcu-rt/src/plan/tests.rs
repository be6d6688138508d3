//! Hand-assembled plans: a flat tensor longer than [`MAX_DIM`] parses (its
//! length is bounded by the arena only), and rejected plans say why in a
//! sentence naming the record or step, the field and the bound.

extern crate std;

use std::string::ToString;
use std::vec;
use std::vec::Vec;

use super::*;

/// A plan with `ops` records, `steps` and `data` (whole words), the given
/// arena and input and output placement.
fn assemble(
    arena: u32,
    input_len: u32,
    output: (u32, u32),
    ops: &[Vec<u32>],
    steps: &[Vec<u32>],
    data: &[u32],
) -> Vec<u32> {
    let ops_at = HEADER_WORDS;
    let records: usize = ops.iter().map(Vec::len).sum();
    let steps_at = ops_at + ops.len() + records;
    let data_at = steps_at + steps.iter().map(Vec::len).sum::<usize>();
    let total = (data_at + data.len()) * 4;
    let mut words = vec![
        MAGIC,
        VERSION,
        arena,
        0,
        input_len,
        output.0,
        output.1,
        ops.len() as u32,
        steps.len() as u32,
        ops_at as u32,
        steps_at as u32,
        (data_at * 4) as u32,
        total as u32,
        0,
        0,
        Rule::Map as u32,
    ];
    let mut at = ops.len();
    for r in ops {
        words.push(at as u32);
        at += r.len();
    }
    ops.iter().for_each(|r| words.extend(r));
    steps.iter().for_each(|s| words.extend(s));
    words.extend(data);
    words
}

/// FULLY_CONNECTED with 2 units over a flat input of `depth` values: the
/// input loaded whole into bytes `0..depth`, the output at `out`.
fn fully_connected(depth: u32, arena: u32, out: u32) -> Vec<u32> {
    // Data: filter (2 x depth bytes), bias (2 words), multiplier, shift.
    let filter_words = (2 * depth).div_ceil(4);
    let mut data = vec![0x0101_0101u32; filter_words as usize];
    let bias_at = filter_words * 4;
    data.extend([7, 9, 1 << 30, 0]);
    let op = vec![
        OpKind::FullyConnected as u32,
        0,
        2,
        depth,
        0,
        (-128i32) as u32,
        127,
        1,
        bias_at + 8,
        bias_at + 12,
        0,
        bias_at,
    ];
    let load = vec![StepKind::LoadInput as u32, 0, 0, 0, 1, depth, depth, 1];
    let run = vec![StepKind::Run as u32, 0, out, 0, 0, 1, 2, 1, 0, 0, 0, 1, depth];
    assemble(arena, depth, (out, 2), &[op], &[load, run], &data)
}

fn parse(words: &[u32]) -> Result<Plan<'_>, PlanError> {
    Plan::parse(bytemuck::cast_slice(words))
}

#[test]
fn a_flat_input_longer_than_max_dim_parses() {
    let depth = 3 * MAX_DIM as u32 + 5;
    let words = fully_connected(depth, depth + 2, depth);
    let plan = parse(&words).unwrap();
    assert_eq!(
        (
            plan.arena_bytes(),
            plan.input_len(),
            plan.output_offset(),
            plan.output_len()
        ),
        (depth as usize + 2, depth as usize, depth as usize, 2)
    );
    assert_eq!(plan.op_label(0), Some(("fully connected", false)));
    let kinds: Vec<StepKind> = plan.steps().map(|s| s.kind()).collect();
    assert_eq!(kinds, [StepKind::LoadInput, StepKind::Run]);
}

#[test]
fn a_window_past_the_arena_is_named() {
    let depth = 20_000;
    let mut words = fully_connected(depth, depth + 1, depth);
    // Keep the plan's output inside the arena; the step's output is not.
    words[5] = 0;
    let e = parse(&words).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan step 1 (RUN of record 0, FULLY_CONNECTED): output window 20000..20002 exceeds the arena of 20001 bytes"
    );
}

#[test]
fn an_input_window_overlapping_the_output_is_named() {
    let depth = 100;
    let e = parse(&fully_connected(depth, depth + 2, depth - 1)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plan step 1 (RUN of record 0, FULLY_CONNECTED): input 0 window 0..100 overlaps output window 99..101"
    );
}

#[test]
fn out_of_range_fields_are_named() {
    let depth = 100;
    let mut words = fully_connected(depth, depth + 2, depth);
    // The output shift (data word after the multiplier) beyond 30.
    let last = words.len() - 1;
    words[last] = 31;
    assert_eq!(
        parse(&words).unwrap_err().to_string(),
        "plan record 0 (FULLY_CONNECTED): output shift is 31, expected -31..=30"
    );
    let mut words = fully_connected(depth, depth + 2, depth);
    words[HEADER_WORDS + 1] = 99;
    assert_eq!(parse(&words).unwrap_err().to_string(), "plan record 0: unknown kind 99");
}

#[test]
fn softmax_depth_is_bounded() {
    let softmax = |depth: u32| vec![OpKind::Softmax as u32, 1 << 30, 20, (-100i32) as u32, depth];
    let words = assemble(8, 4, (4, 4), &[softmax(MAX_SOFTMAX_DEPTH as u32 + 1)], &[], &[]);
    assert_eq!(
        parse(&words).unwrap_err().to_string(),
        "plan record 0 (SOFTMAX): depth is 4096, expected 1..=4095"
    );
    let words = assemble(8, 4, (4, 4), &[softmax(MAX_SOFTMAX_DEPTH as u32)], &[], &[]);
    assert!(parse(&words).is_ok());
}

#[test]
fn header_problems_are_sentences() {
    let words = fully_connected(100, 102, 100);
    let bytes: &[u8] = bytemuck::cast_slice(&words);
    // 16 header words, 1 offset, 12 record words, 8 + 13 step words, 50
    // filter words, 4 more data words: 104 words, 416 bytes.
    assert_eq!(
        Plan::parse(&bytes[..bytes.len() - 4]).unwrap_err().to_string(),
        "plan header: total_bytes is 416, expected 412"
    );
    let mut bad = words.clone();
    bad[0] = 7;
    assert_eq!(
        parse(&bad).unwrap_err().to_string(),
        "the plan starts with 0x00000007 instead of the magic word \"QMCU\""
    );
    assert_eq!(
        Plan::parse(&bytes[..6]).unwrap_err().to_string(),
        "the plan's 6 bytes are not a whole number of 4-byte aligned words"
    );
}

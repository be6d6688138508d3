//! Why a byte string is not a valid plan, said in a sentence that names the
//! record or step, the field, the value and what was expected.

use core::fmt;

use super::{OpKind, StepKind};

/// Where in a plan a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// The 16 header words.
    Header,
    /// Op record `index` (its kind once known).
    Op { index: usize, kind: Option<OpKind> },
    /// Step `index` (its kind once known; for a run step, the op it runs).
    Step {
        index: usize,
        kind: Option<StepKind>,
        op: Option<(usize, OpKind)>,
    },
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Loc::Header => write!(f, "plan header"),
            Loc::Op { index, kind: None } => write!(f, "plan record {index}"),
            Loc::Op { index, kind: Some(k) } => write!(f, "plan record {index} ({})", k.name()),
            Loc::Step { index, kind, op } => {
                write!(f, "plan step {index}")?;
                match (kind, op) {
                    (Some(k), Some((i, o))) => write!(f, " ({} of record {i}, {})", k.name(), o.name()),
                    (Some(k), None) => write!(f, " ({})", k.name()),
                    (None, _) => Ok(()),
                }
            }
        }
    }
}

/// Which window of a step a window problem concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The window the op writes.
    Output,
    /// Input window `k` of the op.
    Input(usize),
    /// A tile (the source of a tile copy, the destination of an input load).
    Tile,
    /// The whole map a tile is copied into, or that an op updates in place.
    Map,
    /// The temporary of an in-place op.
    Temporary,
    /// The plan's output tensor.
    PlanOutput,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Output => write!(f, "output"),
            Role::Input(k) => write!(f, "input {k}"),
            Role::Tile => write!(f, "tile"),
            Role::Map => write!(f, "map"),
            Role::Temporary => write!(f, "temporary"),
            Role::PlanOutput => write!(f, "plan output"),
        }
    }
}

/// Why a byte string is not a valid plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The bytes are not 4-byte aligned or not a whole number of words.
    Misaligned { len: usize },
    /// The first word is not [`super::MAGIC`].
    BadMagic { found: u32 },
    /// A format version this runtime does not read.
    BadVersion { found: u32 },
    /// A field lies past the end of the plan (`word` counts from the plan
    /// start).
    Truncated {
        at: Loc,
        field: &'static str,
        word: usize,
        plan_words: usize,
    },
    /// An op or step kind word no kind has.
    UnknownKind { at: Loc, value: u32 },
    /// A field outside the range the runtime admits.
    OutOfRange {
        at: Loc,
        field: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    /// A field that must equal a value derived from other fields.
    Mismatch {
        at: Loc,
        field: &'static str,
        value: u64,
        expected: u64,
    },
    /// A field that must be a multiple of a value derived from other fields.
    NotMultiple {
        at: Loc,
        field: &'static str,
        value: u64,
        of: u64,
    },
    /// An array reaching past the data section (bytes from its start).
    Array {
        at: Loc,
        field: &'static str,
        start: u64,
        end: u64,
        data_bytes: usize,
    },
    /// An int32 array at an offset that is not a multiple of 4.
    ArrayMisaligned {
        at: Loc,
        field: &'static str,
        offset: usize,
    },
    /// A window (bytes `start..end` of the arena) past the arena's end.
    Window {
        at: Loc,
        role: Role,
        start: u64,
        end: u64,
        arena: usize,
    },
    /// Two windows that must not share bytes do.
    Overlap {
        at: Loc,
        a: (Role, usize, usize),
        b: (Role, usize, usize),
    },
    /// A rect (rows `y..y+h`, columns `x..x+w`) outside the `h x w` map it
    /// is a window of.
    RectOutside {
        at: Loc,
        role: Role,
        rect: [u64; 4],
        map: [u64; 2],
    },
    /// An input rect that does not hold all rows and columns the op reads.
    RectMissing {
        at: Loc,
        role: Role,
        rect: [usize; 4],
        needs: [usize; 4],
    },
    /// A step with a number of inputs its op does not take.
    Inputs { at: Loc, found: usize, expected: usize },
    /// A step or mixed variant naming an op record that is not there.
    NoSuchOp { at: Loc, op: usize, n_ops: usize },
    /// A mixed variant naming an op kind that mixed records do not wrap.
    VariantKind { at: Loc, variant: usize, kind: OpKind },
    /// Two variants of a mixed record that disagree on op kind or shape.
    VariantShape { at: Loc, variant: usize },
    /// A mixed variant key (`out_bits | in_bits0 << 8 | in_bits1 << 16`)
    /// that is malformed, repeated, or not allowed for its maps.
    VariantKey { at: Loc, variant: usize, key: u32 },
    /// No variant for a combination of widths the inputs can arrive at,
    /// or no 8-bit fallback for a variant that checks for outliers.
    MissingVariant { at: Loc, in_bits: [u32; 2], out_bits: u32 },
    /// Two records write the same map at different low widths.
    MapWidth { at: Loc, map: u32, bits: u32, other: u32 },
    /// The wrong kind of op for a step (a non-depthwise op run in place,
    /// a mixed record where only plain ones may stand).
    WrongOp { at: Loc, kind: OpKind },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlanError::Misaligned { len } => {
                write!(f, "the plan's {len} bytes are not a whole number of 4-byte aligned words")
            }
            PlanError::BadMagic { found } => {
                write!(f, "the plan starts with {found:#010x} instead of the magic word \"QMCU\"")
            }
            PlanError::BadVersion { found } => write!(
                f,
                "the plan has format version {found}; this runtime reads version {}",
                super::VERSION
            ),
            PlanError::Truncated {
                at,
                field,
                word,
                plan_words,
            } => write!(f, "{at}: {field} at word {word} lies past the plan's end ({plan_words} words)"),
            PlanError::UnknownKind { at, value } => write!(f, "{at}: unknown kind {value}"),
            PlanError::OutOfRange {
                at,
                field,
                value,
                min,
                max,
            } => write!(f, "{at}: {field} is {value}, expected {min}..={max}"),
            PlanError::Mismatch {
                at,
                field,
                value,
                expected,
            } => write!(f, "{at}: {field} is {value}, expected {expected}"),
            PlanError::NotMultiple { at, field, value, of } => {
                write!(f, "{at}: {field} is {value}, not a multiple of {of}")
            }
            PlanError::Array {
                at,
                field,
                start,
                end,
                data_bytes,
            } => write!(
                f,
                "{at}: {field} at bytes {start}..{end} of the data section exceeds its {data_bytes} bytes"
            ),
            PlanError::ArrayMisaligned { at, field, offset } => {
                write!(f, "{at}: int32 array {field} at data byte {offset} is not 4-byte aligned")
            }
            PlanError::Window {
                at,
                role,
                start,
                end,
                arena,
            } => write!(f, "{at}: {role} window {start}..{end} exceeds the arena of {arena} bytes"),
            PlanError::Overlap { at, a, b } => write!(
                f,
                "{at}: {} window {}..{} overlaps {} window {}..{}",
                a.0,
                a.1,
                a.1 + a.2,
                b.0,
                b.1,
                b.1 + b.2
            ),
            PlanError::RectOutside { at, role, rect, map } => write!(
                f,
                "{at}: {role} rect rows {}..{}, columns {}..{} leaves the {}x{} map",
                rect[0],
                rect[0].saturating_add(rect[2]),
                rect[1],
                rect[1].saturating_add(rect[3]),
                map[0],
                map[1]
            ),
            PlanError::RectMissing { at, role, rect, needs } => write!(
                f,
                "{at}: {role} rect rows {}..{}, columns {}..{} lacks rows {}..{}, columns {}..{} the op reads",
                rect[0],
                rect[0] + rect[2],
                rect[1],
                rect[1] + rect[3],
                needs[0],
                needs[0] + needs[2],
                needs[1],
                needs[1] + needs[3]
            ),
            PlanError::Inputs { at, found, expected } => {
                write!(f, "{at}: {found} input windows, the op takes {expected}")
            }
            PlanError::NoSuchOp { at, op, n_ops } => {
                write!(f, "{at}: names op record {op}, the plan has {n_ops}")
            }
            PlanError::VariantKind { at, variant, kind } => {
                write!(f, "{at}: variant {variant} is a {} record, which mixed records do not wrap", kind.name())
            }
            PlanError::VariantShape { at, variant } => write!(
                f,
                "{at}: variant {variant} differs from variant 0 in op kind or channels"
            ),
            PlanError::VariantKey { at, variant, key } => write!(
                f,
                "{at}: variant {variant} has key {key:#08x}: widths out of 1..=8, repeated, or low where the map is int8"
            ),
            PlanError::MissingVariant { at, in_bits, out_bits } => write!(
                f,
                "{at}: no variant reads inputs of {}/{} bits and writes {out_bits} bits (or no 8-bit fallback for it)",
                in_bits[0], in_bits[1]
            ),
            PlanError::MapWidth { at, map, bits, other } => {
                write!(f, "{at}: writes map {map} at {bits} bits, another record at {other} bits")
            }
            PlanError::WrongOp { at, kind } => write!(f, "{at}: a {} record cannot run here", kind.name()),
        }
    }
}

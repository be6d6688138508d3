//! The plan format: what the host compiles and the runtime executes.
//!
//! A plan is a little-endian byte string of 32-bit words, 4-byte aligned,
//! read in place (no copies, no allocation):
//!
//! ```text
//! header   MAGIC, VERSION, arena_bytes, scratch_words, input_len, output_offset,
//!          output_len, n_ops, n_steps, ops_at, steps_at, data_at, total_bytes,
//!          n_maps, n_tiles, rule
//! ops      n_ops word offsets (from ops_at) of the op records, then the records
//! steps    n_steps step records
//! data     int8 filters, int32 biases, multipliers and shifts
//! ```
//!
//! Offsets are in words from the plan start (`ops_at`, `steps_at`, op
//! records) or in bytes from `data_at` (arrays). Op records start with an
//! [`OpKind`] word; steps with a [`StepKind`] word.
//! A step runs an op on windows of the arena (offset + rect each), copies a
//! window of the caller's int8 input into the arena, or copies a tile into a
//! map.
//!
//! **Sizes.** Sliding-window geometry (map sizes, kernels, strides, padding)
//! is at most [`MAX_DIM`] per field; window lengths (a flat tensor is a
//! `1 x len` window of 1-channel pixels) are bounded only by the arena.
//!
//! **Mixed precision.** A [`OpKind::Mixed`] record wraps the variants of one
//! op for each (input widths, output width) pair; the feature maps it reads
//! and writes are numbered `0..n_maps`, each with one low width (its clean
//! tiles) besides 8 bits. [`StepKind::BeginTile`] starts a tile; the
//! executor tracks which width each map of the current tile was stored at
//! and follows `rule` ([`Rule`]) when choosing the next.
//!
//! [`Plan::parse`] decodes ([`decode`]) and checks ([`check`]) every record,
//! range and shape once, so executing a parsed plan cannot index out of
//! bounds or overflow.

mod check;
mod decode;
mod error;
#[cfg(test)]
mod tests;

pub use error::{Loc, PlanError, Role};

use crate::geometry::Rect;
use crate::ops::add::AddParams;
use crate::ops::conv2d::Conv2dParams;
use crate::ops::depthwise_conv2d::DepthwiseConv2dParams;
use crate::ops::fully_connected::FullyConnectedParams;
use crate::ops::mean::MeanParams;
use crate::ops::pad::PadParams;
use crate::ops::pool::Pool2dParams;
use crate::ops::pool::PoolRescale;
use crate::ops::recode::RecodeParams;
use crate::softmax::SoftmaxParams;
use crate::view::Clean;

/// First word of every plan (`"QMCU"` little-endian).
pub const MAGIC: u32 = u32::from_le_bytes(*b"QMCU");
/// Format version this runtime reads.
pub const VERSION: u32 = 3;
/// Largest field of a sliding-window geometry or padding (map height, width
/// or channels, kernel, stride, dilation, padding): keeps the kernels' index
/// arithmetic inside 32 bits.
pub const MAX_DIM: usize = 1 << 14;
/// Words in the header.
pub const HEADER_WORDS: usize = 16;
/// Most mixed-precision feature maps a plan may number.
pub const MAX_MAPS: usize = 256;
/// Most input windows one step may have (CONCATENATION inputs).
pub const MAX_INPUTS: usize = 8;
/// Largest SOFTMAX depth (classes): beyond it the Q12.19 sum of
/// exponentials overflows.
pub const MAX_SOFTMAX_DEPTH: usize = 4095;
/// Words of one variant in a [`OpKind::Mixed`] record.
const VARIANT_WORDS: usize = 6;
/// Key flag of a recoding variant (int8-first numerics): its op writes
/// int8, then the map's clean values become codes
/// ([`crate::ops::recode::recode`]).
pub const RECODE: u32 = 1 << 24;
/// Most variants one mixed op may hold (2 inputs x 2 widths x 2 outputs).
const MAX_VARIANTS: usize = 8;

/// Op kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum OpKind {
    Conv2d = 1,
    DepthwiseConv2d = 2,
    AveragePool2d = 3,
    MaxPool2d = 4,
    Pad = 5,
    Add = 6,
    Requantize = 7,
    FullyConnected = 8,
    MeanHw = 9,
    Softmax = 10,
    Concatenation = 11,
    /// `out_map, n_in, in_map..., n_variants, variant...` where a variant is
    /// `key, op, n_clean, lo_at, hi_at, recode_at`: `key = out_bits |
    /// in_bits[0] << 8 | in_bits[1] << 16` (plus [`RECODE`]), `op` a plain op
    /// record for that pair, and `n_clean` (0, 1 or the output channels)
    /// int32 bounds of the output map's clean range at `lo_at`/`hi_at`:
    /// accumulator bounds of a direct variant, int8 value bounds of a
    /// recoding one, whose `op` is the 8-bit variant's and whose code
    /// scales and offsets (`n_clean` each) and largest code are at
    /// `recode_at`. A map number
    /// of [`NOT_A_MAP`] is a plain int8 tensor.
    Mixed = 12,
}

/// Map number of a tensor that is always int8 (plan input, split map).
pub const NOT_A_MAP: u32 = u32::MAX;

/// How a tile chooses the width of the next map it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Rule {
    /// Each (tile, map) on its own: low width unless that map of that tile
    /// holds an outlier.
    Map = 0,
    /// Sticky: from the first map of a tile that holds an outlier on, every
    /// map the tile writes is 8-bit.
    Branch = 1,
}

impl OpKind {
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        use OpKind::*;
        Some(match v {
            1 => Conv2d,
            2 => DepthwiseConv2d,
            3 => AveragePool2d,
            4 => MaxPool2d,
            5 => Pad,
            6 => Add,
            7 => Requantize,
            8 => FullyConnected,
            9 => MeanHw,
            10 => Softmax,
            11 => Concatenation,
            12 => Mixed,
            _ => return None,
        })
    }

    /// The TFLite-style name of the kind (`"CONV_2D"`), for messages.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Conv2d => "CONV_2D",
            OpKind::DepthwiseConv2d => "DEPTHWISE_CONV_2D",
            OpKind::AveragePool2d => "AVERAGE_POOL_2D",
            OpKind::MaxPool2d => "MAX_POOL_2D",
            OpKind::Pad => "PAD",
            OpKind::Add => "ADD",
            OpKind::Requantize => "REQUANTIZE",
            OpKind::FullyConnected => "FULLY_CONNECTED",
            OpKind::MeanHw => "MEAN",
            OpKind::Softmax => "SOFTMAX",
            OpKind::Concatenation => "CONCATENATION",
            OpKind::Mixed => "MIXED",
        }
    }
}

/// Step kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StepKind {
    /// `op, out, n_in, in...` where each window is `offset, y, x, h, w`.
    Run = 1,
    /// `dst_offset, y, x, h, w, map_w, channels`: copy a window of the input map.
    LoadInput = 2,
    /// `src_offset, y, x, h, w, dst_offset, map_h, map_w, channels`: tile into a map.
    StoreTile = 3,
    /// `op, offset, temp_offset`: a depthwise convolution in place over the
    /// whole map at `offset`, with its temporary at `temp_offset`.
    RunInPlace = 4,
    /// No words: the steps up to the next `BeginTile` form one tile.
    BeginTile = 5,
}

impl StepKind {
    pub(crate) fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => StepKind::Run,
            2 => StepKind::LoadInput,
            3 => StepKind::StoreTile,
            4 => StepKind::RunInPlace,
            5 => StepKind::BeginTile,
            _ => return None,
        })
    }

    /// The name of the kind (`"RUN"`), for messages.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Run => "RUN",
            StepKind::LoadInput => "LOAD_INPUT",
            StepKind::StoreTile => "STORE_TILE",
            StepKind::RunInPlace => "RUN_IN_PLACE",
            StepKind::BeginTile => "BEGIN_TILE",
        }
    }
}

/// A decoded op record with its kernel parameters borrowed from the plan.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    Conv2d(Conv2dParams<'a>),
    DepthwiseConv2d(DepthwiseConv2dParams<'a>),
    AveragePool2d(Pool2dParams, PoolRescale<'a>),
    MaxPool2d(Pool2dParams, PoolRescale<'a>),
    Pad(PadParams),
    /// Elementwise over `channels`-deep pixels.
    Add(AddParams, usize),
    Requantize {
        input_zp: i32,
        multiplier: i32,
        shift: i32,
        output_zp: i32,
        channels: usize,
    },
    /// Parameters, units, depth (input values per output row).
    FullyConnected(FullyConnectedParams<'a>, usize, usize),
    /// Parameters, pixels averaged (`h * w`), channels.
    MeanHw(MeanParams, usize, usize),
    /// Parameters, depth (classes per row).
    Softmax(SoftmaxParams, usize),
    /// `outer` rows of one slab (its length in bytes) per input.
    Concatenation {
        outer: usize,
        slabs: &'a [u32],
    },
    Mixed(Mixed<'a>),
}

impl Op<'_> {
    /// The record's kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Conv2d(_) => OpKind::Conv2d,
            Op::DepthwiseConv2d(_) => OpKind::DepthwiseConv2d,
            Op::AveragePool2d(..) => OpKind::AveragePool2d,
            Op::MaxPool2d(..) => OpKind::MaxPool2d,
            Op::Pad(_) => OpKind::Pad,
            Op::Add(..) => OpKind::Add,
            Op::Requantize { .. } => OpKind::Requantize,
            Op::FullyConnected(..) => OpKind::FullyConnected,
            Op::MeanHw(..) => OpKind::MeanHw,
            Op::Softmax(..) => OpKind::Softmax,
            Op::Concatenation { .. } => OpKind::Concatenation,
            Op::Mixed(_) => OpKind::Mixed,
        }
    }

    /// Channels of one input "pixel" (1 for flat ops and mixed records).
    pub fn in_channels(&self) -> usize {
        match self {
            Op::Conv2d(p) => p.geometry.input[2],
            Op::DepthwiseConv2d(p) => p.geometry.input[2],
            Op::AveragePool2d(p, _) | Op::MaxPool2d(p, _) => p.geometry.input[2],
            Op::Pad(p) => p.input[2],
            Op::Add(_, c) | Op::Requantize { channels: c, .. } => *c,
            _ => 1,
        }
    }

    /// Channels of one output "pixel" (1 for flat ops and mixed records).
    pub fn out_channels(&self) -> usize {
        match self {
            Op::Conv2d(p) => p.geometry.output[2],
            Op::DepthwiseConv2d(p) => p.geometry.output[2],
            Op::AveragePool2d(p, _) | Op::MaxPool2d(p, _) => p.geometry.output[2],
            _ => self.in_channels(),
        }
    }
}

/// A mixed-precision op: the maps it reads and writes and its variants
/// (at least one).
#[derive(Clone, Copy, Debug)]
pub struct Mixed<'a> {
    pub out_map: u32,
    pub in_maps: [u32; 2],
    pub n_in: usize,
    variants: &'a [u32],
}

/// One (input widths, output width) variant of a mixed op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    pub key: u32,
    pub out_bits: u32,
    /// Width of each input (0 past `n_in`).
    pub in_bits: [u32; 2],
    /// The plain op record of this variant.
    pub op: usize,
    /// Number of clean-range bounds (0: no outlier check).
    pub n_clean: usize,
    pub lo_at: usize,
    pub hi_at: usize,
    /// The op writes int8 and the map is recoded ([`RECODE`]).
    pub recode: bool,
    pub recode_at: usize,
}

impl Mixed<'_> {
    /// The variants in record order.
    pub fn variants(&self) -> impl Iterator<Item = Variant> + '_ {
        self.variants.chunks_exact(VARIANT_WORDS).map(|v| Variant {
            key: v[0],
            recode: v[0] & RECODE != 0,
            out_bits: v[0] & 0xff,
            in_bits: [(v[0] >> 8) & 0xff, (v[0] >> 16) & 0xff],
            op: v[1] as usize,
            n_clean: v[2] as usize,
            lo_at: v[3] as usize,
            hi_at: v[4] as usize,
            recode_at: v[5] as usize,
        })
    }

    /// The variant reading `in_bits` and writing `out_bits`.
    pub fn variant(&self, in_bits: [u32; 2], out_bits: u32) -> Option<Variant> {
        self.variants().find(|v| v.in_bits == in_bits && v.out_bits == out_bits)
    }

    /// The plain op record of the first variant (all variants share the
    /// first's kind and channels, checked at parse).
    pub fn first_op(&self) -> usize {
        self.variants[1] as usize
    }
}

/// A window of the arena: where its compact buffer starts, and its rect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub offset: usize,
    pub rect: Rect,
}

/// A decoded step record.
// One step at a time lives on the stack (MAX_INPUTS windows inline, 160
// bytes on a 32-bit core); boxing would need an allocator.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Op record `op` writes `out` from the first `n_in` of `ins`.
    Run {
        op: usize,
        out: Place,
        ins: [Place; MAX_INPUTS],
        n_in: usize,
    },
    /// Copies `rect` of the `map_w`-wide, `channels`-deep input map to the
    /// arena at `dst` (compact).
    LoadInput {
        dst: usize,
        rect: Rect,
        map_w: usize,
        channels: usize,
    },
    /// Copies the compact tile `rect` at `src` into the `map_h x map_w x
    /// channels` map at `dst`.
    StoreTile {
        src: usize,
        rect: Rect,
        dst: usize,
        map_h: usize,
        map_w: usize,
        channels: usize,
    },
    /// Depthwise op record `op` in place over the map at `offset`, with its
    /// temporary at `temp`.
    RunInPlace { op: usize, offset: usize, temp: usize },
    /// Starts the next tile.
    BeginTile,
}

impl Step {
    /// The step's kind.
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Run { .. } => StepKind::Run,
            Step::LoadInput { .. } => StepKind::LoadInput,
            Step::StoreTile { .. } => StepKind::StoreTile,
            Step::RunInPlace { .. } => StepKind::RunInPlace,
            Step::BeginTile => StepKind::BeginTile,
        }
    }
}

/// A parsed plan borrowing its bytes: every record decodes and passed the
/// checks of [`Plan::parse`].
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    words: &'a [u32],
    bytes: &'a [u8],
    arena_bytes: usize,
    scratch_words: usize,
    input_len: usize,
    output_offset: usize,
    output_len: usize,
    n_ops: usize,
    n_steps: usize,
    ops_at: usize,
    steps_at: usize,
    data_at: usize,
    n_maps: usize,
    n_tiles: usize,
    rule: Rule,
    /// Low width of each map (8 when it has none).
    map_bits: [u8; MAX_MAPS],
}

/// What a parsed plan promises and what makes that promise: decoding a record
/// of a parsed plan again cannot fail.
const PARSED: &str = "Plan::parse decoded every record of the plan";

impl<'a> Plan<'a> {
    /// Parses and checks `bytes` (which must be 4-byte aligned).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PlanError> {
        let mut plan = decode::header(bytes)?;
        check::plan(&mut plan)?;
        Ok(plan)
    }

    /// Bytes of arena the plan needs.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Int32 words of kernel scratch the fast paths use.
    pub fn scratch_words(&self) -> usize {
        self.scratch_words
    }

    /// Bytes of the int8 input the plan reads.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Where the int8 output lies in the arena (bytes).
    pub fn output_offset(&self) -> usize {
        self.output_offset
    }

    /// Bytes of the int8 output.
    pub fn output_len(&self) -> usize {
        self.output_len
    }

    /// Number of op records.
    pub fn n_ops(&self) -> usize {
        self.n_ops
    }

    /// Number of steps.
    pub fn n_steps(&self) -> usize {
        self.n_steps
    }

    /// Mixed-precision feature maps the plan numbers.
    pub fn n_maps(&self) -> usize {
        self.n_maps
    }

    /// Tiles ([`StepKind::BeginTile`] steps).
    pub fn n_tiles(&self) -> usize {
        self.n_tiles
    }

    /// How tiles choose widths.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The low width of map `m` (8 when it has none or for [`NOT_A_MAP`]).
    pub fn map_bits(&self, m: u32) -> u32 {
        self.map_bits.get(m as usize).map_or(8, |&b| u32::from(b))
    }

    /// Op record `index`.
    ///
    /// # Panics
    ///
    /// If `index >= self.n_ops()`.
    pub fn op(&self, index: usize) -> Op<'a> {
        assert!(index < self.n_ops, "op record {index} of {}", self.n_ops);
        decode::op(self, index).expect(PARSED)
    }

    /// The steps in order.
    pub fn steps(&self) -> impl Iterator<Item = Step> + 'a {
        let plan = *self;
        let mut at = self.steps_at;
        (0..self.n_steps).map(move |index| {
            let (step, next) = decode::step(&plan, index, at).expect(PARSED);
            at = next;
            step
        })
    }

    /// The clean-range bounds of variant `v` (`None` when it checks none).
    pub fn clean(&self, v: &Variant) -> Option<Clean<'a>> {
        let at = Loc::Op {
            index: v.op,
            kind: None,
        };
        (v.n_clean > 0).then(|| Clean {
            lo: decode::i32s(self, at, "clean lo", v.lo_at, v.n_clean).expect(PARSED),
            hi: decode::i32s(self, at, "clean hi", v.hi_at, v.n_clean).expect(PARSED),
        })
    }

    /// The clean range and code function of recoding variant `v` (`None`
    /// for a direct one).
    pub fn recode(&self, v: &Variant) -> Option<RecodeParams<'a>> {
        let at = Loc::Op {
            index: v.op,
            kind: None,
        };
        v.recode.then(|| decode::recode(self, at, v).expect(PARSED))
    }

    /// What op `op` computes, for reports: its kind (`"conv 1x1"`, `"conv"`,
    /// `"depthwise"`, `"add"`, ...) and whether it is a mixed-precision op
    /// (then the kind is its variants'). `None` for an index past the ops.
    pub fn op_label(&self, op: usize) -> Option<(&'static str, bool)> {
        let label = |op: &Op| match op {
            Op::Conv2d(p) if p.geometry.kernel == [1, 1] => "conv 1x1",
            Op::Conv2d(_) => "conv",
            Op::DepthwiseConv2d(_) => "depthwise",
            Op::AveragePool2d(..) => "average pool",
            Op::MaxPool2d(..) => "max pool",
            Op::Pad(_) => "pad",
            Op::Add(..) => "add",
            Op::Requantize { .. } => "requantize",
            Op::FullyConnected(..) => "fully connected",
            Op::MeanHw(..) => "mean",
            Op::Softmax(..) => "softmax",
            Op::Concatenation { .. } => "concatenation",
            Op::Mixed(_) => "mixed",
        };
        if op >= self.n_ops {
            return None;
        }
        match self.op(op) {
            Op::Mixed(m) => Some((label(&self.op(m.first_op())), true)),
            o => Some((label(&o), false)),
        }
    }
}

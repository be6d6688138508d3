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
//! **Mixed precision.** A [`OpKind::Mixed`] record wraps the variants of one
//! op for each (input widths, output width) pair; the feature maps it reads
//! and writes are numbered `0..n_maps`, each with one low width (its clean
//! tiles) besides 8 bits. [`StepKind::BeginTile`] starts a tile; the
//! interpreter tracks which width each map of the current tile was stored
//! at and follows `rule` ([`Rule`]) when choosing the next. [`Plan::parse`] checks every record, range and shape once, so
//! [`crate::interpreter::run`] cannot fail or panic on a parsed plan.

use crate::geometry::{Geometry, Rect};

/// First word of every plan (`"QMCU"` little-endian).
pub const MAGIC: u32 = u32::from_le_bytes(*b"QMCU");
/// Format version this runtime reads.
pub const VERSION: u32 = 2;
/// Largest size, coordinate or channel count a plan may hold (keeps every
/// product of three of them inside 64 bits and every window check finite).
pub const MAX_DIM: usize = 1 << 14;
/// Words in the header.
pub const HEADER_WORDS: usize = 16;
/// Most mixed-precision feature maps a plan may number.
pub const MAX_MAPS: usize = 256;

/// Why a byte string is not a valid plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Not 4-byte aligned or not a whole number of words.
    Misaligned,
    /// Wrong magic word.
    BadMagic,
    /// A version this runtime does not read.
    BadVersion(u32),
    /// A record or array reaches past the end of the plan (byte offset).
    Truncated(usize),
    /// An unknown op or step kind word (its value).
    UnknownKind(u32),
    /// Op record `op` is inconsistent (shapes, lengths, channel counts).
    BadOp(usize),
    /// Step `step` is inconsistent (arena range, window, op index).
    BadStep(usize),
    /// The caller's arena, input or output has the wrong size.
    BadBuffers,
}

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
    /// `key, op, n_clean, lo_at, hi_at`: `key = out_bits | in_bits[0] << 8 |
    /// in_bits[1] << 16`, `op` a plain op record for that pair, and
    /// `n_clean` (0, 1 or the output channels) int32 accumulator bounds of
    /// the output map's clean range at `lo_at`/`hi_at`. A map number of
    /// [`NOT_A_MAP`] is a plain int8 tensor.
    Mixed = 12,
}

/// Map number of a tensor that is always int8 (plan input, split map).
pub const NOT_A_MAP: u32 = u32::MAX;

/// How a tile chooses the width of the next map it writes (DESIGN.md, VDPC).
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
}

/// Step kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum StepKind {
    /// `op, out, n_in, in...` where each window is `offset, y, x, h, w`.
    Run = 1,
    /// `dst_offset, y, x, h, w, map_w, channels`: copy a window of the input map.
    LoadInput = 2,
    /// `src_offset, y, x, h, w, dst_offset, map_w, channels`: tile into a map.
    StoreTile = 3,
    /// `op, offset, temp_offset`: a depthwise convolution in place over the
    /// whole map at `offset`, with its temporary at `temp_offset`.
    RunInPlace = 4,
    /// No words: the steps up to the next `BeginTile` form one tile.
    BeginTile = 5,
}

/// A parsed plan borrowing its bytes.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    pub(crate) words: &'a [u32],
    pub(crate) bytes: &'a [u8],
    pub arena_bytes: usize,
    pub scratch_words: usize,
    pub input_len: usize,
    pub output_offset: usize,
    pub output_len: usize,
    pub(crate) n_ops: usize,
    pub(crate) n_steps: usize,
    pub(crate) ops_at: usize,
    pub(crate) steps_at: usize,
    pub(crate) data_at: usize,
    /// Mixed-precision feature maps, tiles ([`StepKind::BeginTile`] steps).
    pub n_maps: usize,
    pub n_tiles: usize,
    pub rule: Rule,
    /// Low width of each map (8 when it has none).
    pub(crate) map_bits: [u8; MAX_MAPS],
}

/// A window of the arena: where its compact buffer starts, and its rect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub offset: usize,
    pub rect: Rect,
}

/// Reads words with bounds checks.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub words: &'a [u32],
    pub at: usize,
}

impl<'a> Cursor<'a> {
    pub fn u(&mut self) -> Result<usize, PlanError> {
        let v = *self.words.get(self.at).ok_or(PlanError::Truncated(self.at * 4))?;
        self.at += 1;
        Ok(v as usize)
    }
    pub fn i(&mut self) -> Result<i32, PlanError> {
        Ok(self.u()? as u32 as i32)
    }
    /// A size or coordinate, at most [`MAX_DIM`].
    pub fn dim(&mut self) -> Result<usize, PlanError> {
        let at = self.at;
        let v = self.u()?;
        if v > MAX_DIM {
            return Err(PlanError::Truncated(at * 4));
        }
        Ok(v)
    }
    pub fn rect(&mut self) -> Result<Rect, PlanError> {
        Ok(Rect {
            y: self.dim()?,
            x: self.dim()?,
            h: self.dim()?,
            w: self.dim()?,
        })
    }
    pub fn place(&mut self) -> Result<Place, PlanError> {
        Ok(Place {
            offset: self.u()?,
            rect: self.rect()?,
        })
    }
    pub fn geometry(&mut self) -> Result<Geometry, PlanError> {
        let mut v = [0usize; 14];
        for x in v.iter_mut() {
            *x = self.dim()?;
        }
        Ok(Geometry {
            input: [v[0], v[1], v[2]],
            output: [v[3], v[4], v[5]],
            kernel: [v[6], v[7]],
            stride: [v[8], v[9]],
            dilation: [v[10], v[11]],
            pad: [v[12], v[13]],
        })
    }
}

impl<'a> Plan<'a> {
    /// Parses and checks `bytes` (which must be 4-byte aligned).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, PlanError> {
        let words: &[u32] = bytemuck::try_cast_slice(bytes).map_err(|_| PlanError::Misaligned)?;
        let mut c = Cursor { words, at: 0 };
        if c.u()? as u32 != MAGIC {
            return Err(PlanError::BadMagic);
        }
        let version = c.u()? as u32;
        if version != VERSION {
            return Err(PlanError::BadVersion(version));
        }
        let mut h = [0usize; HEADER_WORDS - 2];
        for x in h.iter_mut() {
            *x = c.u()?;
        }
        let [arena_bytes, scratch_words, input_len, output_offset, output_len, n_ops, n_steps, ops_at, steps_at, data_at, total, n_maps, n_tiles, rule] =
            h;
        let rule = match rule {
            0 => Rule::Map,
            1 => Rule::Branch,
            _ => return Err(PlanError::UnknownKind(rule as u32)),
        };
        if n_maps > MAX_MAPS {
            return Err(PlanError::BadBuffers);
        }
        if total != bytes.len() {
            return Err(PlanError::Truncated(total));
        }
        let plan = Plan {
            words,
            bytes,
            arena_bytes,
            scratch_words,
            input_len,
            output_offset,
            output_len,
            n_ops,
            n_steps,
            ops_at,
            steps_at,
            data_at,
            n_maps,
            n_tiles,
            rule,
            map_bits: [8; MAX_MAPS],
        };
        let mut plan = plan;
        plan.map_bits = crate::interpreter::map_bits(&plan)?;
        if output_offset.checked_add(output_len).is_none_or(|e| e > arena_bytes) {
            return Err(PlanError::BadBuffers);
        }
        for op in 0..n_ops {
            crate::interpreter::check_op(&plan, op)?;
        }
        let mut at = steps_at;
        let mut tiles = 0;
        for step in 0..n_steps {
            if plan.words.get(at) == Some(&(StepKind::BeginTile as u32)) {
                tiles += 1;
            }
            at = crate::interpreter::check_step(&plan, step, at)?;
        }
        if tiles != n_tiles {
            return Err(PlanError::BadBuffers);
        }
        Ok(plan)
    }

    /// Cursor at the record of op `op`.
    pub(crate) fn op_cursor(&self, op: usize) -> Result<Cursor<'a>, PlanError> {
        if op >= self.n_ops {
            return Err(PlanError::BadOp(op));
        }
        let at = Cursor {
            words: self.words,
            at: self.ops_at + op,
        }
        .u()?;
        Ok(Cursor {
            words: self.words,
            at: self.ops_at + at,
        })
    }

    /// The decoded op `op` (checked).
    pub(crate) fn op(&self, op: usize) -> Result<crate::interpreter::Op<'a>, PlanError> {
        crate::interpreter::decode_op(self, op)
    }

    /// `len` int8 values at byte offset `at` of the data section.
    pub(crate) fn i8s(&self, at: usize, len: usize) -> Result<&'a [i8], PlanError> {
        let at = self.data_at.checked_add(at).ok_or(PlanError::Truncated(at))?;
        let end = at.checked_add(len).ok_or(PlanError::Truncated(at))?;
        let b = self.bytes.get(at..end).ok_or(PlanError::Truncated(at))?;
        Ok(bytemuck::cast_slice(b))
    }

    /// `len` int32 values at byte offset `at` of the data section (4-byte
    /// aligned).
    pub(crate) fn i32s(&self, at: usize, len: usize) -> Result<&'a [i32], PlanError> {
        let at = self.data_at.checked_add(at).ok_or(PlanError::Truncated(at))?;
        let end = len
            .checked_mul(4)
            .and_then(|n| at.checked_add(n))
            .ok_or(PlanError::Truncated(at))?;
        let b = self.bytes.get(at..end).ok_or(PlanError::Truncated(at))?;
        bytemuck::try_cast_slice(b).map_err(|_| PlanError::Misaligned)
    }
}

//! The C ABI (feature `c-abi`): `qmcu_*` functions that let C firmware
//! check a plan, run inferences into caller-provided buffers and read the
//! per-tile map widths. `include/quantmcu.h` of the `quantmcu-c` crate
//! declares them; its tests keep the two sides equal.
//!
//! Every function validates its pointers and lengths and returns a
//! [`Status`]; none panics. The only `unsafe` code is the conversion of the
//! caller's pointers into slices, each under the contract stated at its
//! function.
#![allow(unsafe_code)]

use core::ffi::c_char;
use core::mem::{align_of, size_of};

use crate::interpreter::{self, RunError};
use crate::plan::{Plan, PlanError};

/// Result code of every `qmcu_*` function (`qmcu_status` in C).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Success.
    Ok = 0,
    /// A required pointer is NULL.
    NullPointer = 1,
    /// The plan bytes are not 4-byte aligned or not a whole number of words.
    PlanMisaligned = 2,
    /// The plan's first word is not the plan magic.
    PlanBadMagic = 3,
    /// The plan has a format version this runtime does not read.
    PlanBadVersion = 4,
    /// A field of the plan lies past its end.
    PlanTruncated = 5,
    /// Any other failed check of the plan's records.
    PlanInvalid = 6,
    /// The plan handle was not initialised by `qmcu_plan_init`.
    PlanNotInitialised = 7,
    /// The arena holds fewer bytes than the plan's `arena_bytes`.
    ArenaTooSmall = 8,
    /// The input is not `input_len` bytes.
    InputSize = 9,
    /// The output is not `output_len` bytes.
    OutputSize = 10,
    /// The widths buffer is neither empty nor `n_tiles * n_maps` bytes.
    WidthsSize = 11,
}

/// Every status with its C enumerator name and sentence, in code order.
pub const STATUSES: [(Status, &str, &str); 12] = [
    (Status::Ok, "QMCU_OK\0", "success\0"),
    (
        Status::NullPointer,
        "QMCU_ERR_NULL_POINTER\0",
        "a required pointer is NULL\0",
    ),
    (
        Status::PlanMisaligned,
        "QMCU_ERR_PLAN_MISALIGNED\0",
        "the plan bytes are not 4-byte aligned or not a whole number of 4-byte words\0",
    ),
    (
        Status::PlanBadMagic,
        "QMCU_ERR_PLAN_BAD_MAGIC\0",
        "the plan does not start with the quantmcu plan magic\0",
    ),
    (
        Status::PlanBadVersion,
        "QMCU_ERR_PLAN_BAD_VERSION\0",
        "the plan has a format version this runtime does not read\0",
    ),
    (
        Status::PlanTruncated,
        "QMCU_ERR_PLAN_TRUNCATED\0",
        "a field of the plan lies past its end\0",
    ),
    (
        Status::PlanInvalid,
        "QMCU_ERR_PLAN_INVALID\0",
        "a record of the plan failed its checks\0",
    ),
    (
        Status::PlanNotInitialised,
        "QMCU_ERR_PLAN_NOT_INITIALISED\0",
        "the plan handle was not initialised by qmcu_plan_init\0",
    ),
    (
        Status::ArenaTooSmall,
        "QMCU_ERR_ARENA_TOO_SMALL\0",
        "the arena holds fewer bytes than the plan needs\0",
    ),
    (
        Status::InputSize,
        "QMCU_ERR_INPUT_SIZE\0",
        "the input is not the plan's input length\0",
    ),
    (
        Status::OutputSize,
        "QMCU_ERR_OUTPUT_SIZE\0",
        "the output is not the plan's output length\0",
    ),
    (
        Status::WidthsSize,
        "QMCU_ERR_WIDTHS_SIZE\0",
        "the widths buffer is neither empty nor n_tiles * n_maps bytes\0",
    ),
];

/// The sentence for an unknown status code.
const UNKNOWN: &str = "unknown quantmcu status code\0";

impl From<PlanError> for Status {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Misaligned { .. } => Status::PlanMisaligned,
            PlanError::BadMagic { .. } => Status::PlanBadMagic,
            PlanError::BadVersion { .. } => Status::PlanBadVersion,
            PlanError::Truncated { .. } => Status::PlanTruncated,
            _ => Status::PlanInvalid,
        }
    }
}

impl From<RunError> for Status {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Arena { .. } => Status::ArenaTooSmall,
            RunError::Input { .. } => Status::InputSize,
            RunError::Output { .. } => Status::OutputSize,
            RunError::Stats { .. } => Status::WidthsSize,
        }
    }
}

/// What a checked plan asks of its caller (`qmcu_plan_info` in C).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanInfo {
    /// Bytes of arena one inference needs.
    pub arena_bytes: u32,
    /// `int32_t` words of scratch the fast kernel paths use.
    pub scratch_words: u32,
    /// Bytes of int8 input one inference reads.
    pub input_len: u32,
    /// Bytes of int8 output one inference writes.
    pub output_len: u32,
    /// Tiles of the plan (rows of the widths table).
    pub n_tiles: u32,
    /// Mixed-precision maps of the plan (columns of the widths table).
    pub n_maps: u32,
}

impl PlanInfo {
    fn of(p: &Plan) -> Self {
        // Plan sizes come from 32-bit plan words, so they fit `u32`.
        let w = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        PlanInfo {
            arena_bytes: w(p.arena_bytes()),
            scratch_words: w(p.scratch_words()),
            input_len: w(p.input_len()),
            output_len: w(p.output_len()),
            n_tiles: w(p.n_tiles()),
            n_maps: w(p.n_maps()),
        }
    }
}

/// `uint64_t` words of a `qmcu_plan` handle (`QMCU_PLAN_WORDS` in C).
pub const PLAN_WORDS: usize = 64;
/// Marks a handle that holds a parsed plan (ASCII "QMCP").
const HANDLE_TAG: u32 = 0x5043_4d51;

/// A parsed plan in caller storage (`qmcu_plan` in C).
#[repr(C)]
struct Handle<'a> {
    tag: u32,
    plan: Plan<'a>,
}

// The C storage (`uint64_t[PLAN_WORDS]`) holds a handle and aligns it.
const _: () = assert!(size_of::<Handle<'static>>() <= PLAN_WORDS * 8 && align_of::<Handle<'static>>() <= 8);

/// `(ptr, len)` as a slice; NULL is only accepted with `len == 0`.
///
/// # Safety
/// A non-NULL `ptr` points to `len` readable `T`s, aligned for `T`, that
/// nobody writes while the slice lives.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], Status> {
    match (ptr.is_null(), len) {
        (true, 0) => Ok(&[]),
        (true, _) => Err(Status::NullPointer),
        // SAFETY: the caller's contract above.
        (false, _) => Ok(unsafe { core::slice::from_raw_parts(ptr, len) }),
    }
}

/// [`slice`] for a buffer the function writes.
///
/// # Safety
/// A non-NULL `ptr` points to `len` writable `T`s, aligned for `T`, that no
/// other slice of this call aliases.
unsafe fn slice_mut<'a, T>(ptr: *mut T, len: usize) -> Result<&'a mut [T], Status> {
    match (ptr.is_null(), len) {
        (true, 0) => Ok(&mut []),
        (true, _) => Err(Status::NullPointer),
        // SAFETY: the caller's contract above.
        (false, _) => Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) }),
    }
}

/// Parses and checks the `plan_len` bytes at `plan` (4-byte aligned) and,
/// when `info` is not NULL, stores what the plan asks of its caller there.
///
/// # Safety
/// `plan` points to `plan_len` readable bytes; `info` is NULL or points to
/// a writable `qmcu_plan_info`.
#[no_mangle]
pub unsafe extern "C" fn qmcu_plan_check(plan: *const u8, plan_len: usize, info: *mut PlanInfo) -> Status {
    // SAFETY: the contract above.
    let bytes = match unsafe { slice(plan, plan_len) } {
        Ok(b) => b,
        Err(e) => return e,
    };
    match Plan::parse(bytes) {
        Ok(p) => {
            if !info.is_null() {
                // SAFETY: a non-NULL `info` is writable (contract above).
                unsafe { info.write(PlanInfo::of(&p)) };
            }
            Status::Ok
        }
        Err(e) => e.into(),
    }
}

/// Parses and checks the plan as [`qmcu_plan_check`] does and keeps the
/// parsed plan in `handle`, for [`qmcu_run`] without parsing again.
///
/// # Safety
/// `plan` points to `plan_len` readable bytes that stay unchanged while
/// `handle` is used; `handle` points to writable storage of [`PLAN_WORDS`]
/// `uint64_t`s; `info` is NULL or points to a writable `qmcu_plan_info`.
#[no_mangle]
pub unsafe extern "C" fn qmcu_plan_init(
    handle: *mut u64,
    plan: *const u8,
    plan_len: usize,
    info: *mut PlanInfo,
) -> Status {
    if handle.is_null() {
        return Status::NullPointer;
    }
    // SAFETY: the contract above.
    let bytes = match unsafe { slice(plan, plan_len) } {
        Ok(b) => b,
        Err(e) => return e,
    };
    let handle = handle.cast::<Handle>();
    match Plan::parse(bytes) {
        Ok(p) => {
            if !info.is_null() {
                // SAFETY: a non-NULL `info` is writable (contract above).
                unsafe { info.write(PlanInfo::of(&p)) };
            }
            // SAFETY: `handle` is writable storage large and aligned enough
            // for a `Handle` (contract above, checked at compile time).
            unsafe {
                handle.write(Handle {
                    tag: HANDLE_TAG,
                    plan: p,
                })
            };
            Status::Ok
        }
        Err(e) => {
            // SAFETY: as above; the first word is the tag.
            unsafe { handle.cast::<u32>().write(0) };
            e.into()
        }
    }
}

/// Runs one inference of the plan in `handle`: reads `input` (`input_len`
/// int8 bytes), writes `output` (`output_len` bytes) through `arena`
/// (at least `arena_bytes`); `scratch` may be NULL with `scratch_words == 0`
/// (slower kernel paths) or hold up to the plan's `scratch_words` words;
/// `widths` may be NULL with `widths_len == 0`, else it receives
/// `n_tiles * n_maps` bytes, entry `tile * n_maps + map` = the bits that
/// tile stored the map at (0 when it did not write it).
///
/// # Safety
/// `handle` was filled by [`qmcu_plan_init`] returning `QMCU_OK` (or holds a
/// zero first word), and its plan bytes are unchanged; each other pointer
/// is NULL or points to its length of elements (readable for `input`,
/// writable for the rest), `scratch` 4-byte aligned; no two buffers overlap.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn qmcu_run(
    handle: *const u64,
    arena: *mut i8,
    arena_len: usize,
    scratch: *mut i32,
    scratch_words: usize,
    input: *const i8,
    input_len: usize,
    output: *mut i8,
    output_len: usize,
    widths: *mut u8,
    widths_len: usize,
) -> Status {
    if handle.is_null() {
        return Status::NullPointer;
    }
    let handle = handle.cast::<Handle>();
    // SAFETY: the handle storage is readable and starts with the tag word.
    if unsafe { handle.cast::<u32>().read() } != HANDLE_TAG {
        return Status::PlanNotInitialised;
    }
    // SAFETY: a tagged handle holds a parsed plan (contract above).
    let plan = unsafe { &(*handle).plan };
    // SAFETY: the contract above, for each buffer.
    let buffers = unsafe {
        (
            slice_mut(arena, arena_len),
            slice_mut(scratch, scratch_words),
            slice(input, input_len),
            slice_mut(output, output_len),
            slice_mut(widths, widths_len),
        )
    };
    let (Ok(arena), Ok(scratch), Ok(input), Ok(output), Ok(widths)) = buffers else {
        return Status::NullPointer;
    };
    match interpreter::run_with_stats(plan, arena, scratch, input, output, widths) {
        Ok(()) => Status::Ok,
        Err(e) => e.into(),
    }
}

/// The C enumerator name of `code` (`"QMCU_OK"`, ...), a static
/// NUL-terminated string; an unknown code gives a sentence saying so.
#[no_mangle]
pub extern "C" fn qmcu_status_name(code: i32) -> *const c_char {
    entry(code, |e| e.1)
}

/// A static NUL-terminated sentence saying what `code` means.
#[no_mangle]
pub extern "C" fn qmcu_status_message(code: i32) -> *const c_char {
    entry(code, |e| e.2)
}

fn entry(code: i32, pick: fn(&(Status, &'static str, &'static str)) -> &'static str) -> *const c_char {
    let s = usize::try_from(code)
        .ok()
        .and_then(|i| STATUSES.get(i))
        .map_or(UNKNOWN, pick);
    s.as_ptr().cast()
}

//! Read-only views of the TFLite flatbuffer tables that quantmcu understands.
//!
//! Written by hand from the public TFLite schema (`schema.fbs`, file identifier
//! `TFL3`): each table lists its fields by schema id. Every view is reachable only
//! through [`model_root`], which runs the flatbuffers verifier over the whole
//! reachable structure first; the accessors' `unsafe` reads rely on that.
//! Fields we never read (sparsity, signatures, metadata, unknown option tables)
//! are not verified and never followed.
//!
//! Vectors of scalars are read through [`Scalars`], which does not require the
//! elements to be aligned to their size: converters and editors write `int64`
//! zero-point vectors that are only 4-byte aligned, and tflite-micro and LiteRT
//! (whose verifier checks only the 4-byte length prefix) run such files.
#![allow(unsafe_code)]

use core::marker::PhantomData;

use flatbuffers::{ForwardsUOffset, Table, TableVerifier, Vector, Verifiable, Verifier, VerifierOptions, SIZE_UOFFSET};

type Result<T> = core::result::Result<T, flatbuffers::InvalidFlatbuffer>;

/// Byte offset of field `id` inside a vtable.
const fn vt(id: u16) -> u16 {
    4 + 2 * id
}

/// A fixed-size little-endian scalar that a [`Scalars`] view can hold.
pub trait LeScalar: Copy + 'static {
    /// Size of one element in bytes.
    const SIZE: usize;
    /// Decodes one element from exactly [`Self::SIZE`] bytes.
    fn from_le(bytes: &[u8]) -> Self;
}

macro_rules! le_scalar {
    ($($t:ty),*) => {$(
        impl LeScalar for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn from_le(bytes: &[u8]) -> Self {
                let mut le = [0u8; core::mem::size_of::<$t>()];
                le.copy_from_slice(bytes);
                <$t>::from_le_bytes(le)
            }
        }
    )*};
}
le_scalar!(u8, i32, u32, i64, f32);

/// A flatbuffer vector of little-endian scalars (`[T]` in the schema), read
/// element by element from its bytes, whatever their alignment.
///
/// The verifier checks that the 4-byte length prefix is 4-byte aligned and that
/// `length * size_of::<T>()` element bytes follow it inside the file; the view
/// holds exactly those bytes.
#[derive(Clone, Copy)]
pub struct Scalars<'a, T> {
    bytes: &'a [u8],
    elem: PhantomData<T>,
}

impl<'a, T: LeScalar> Scalars<'a, T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.bytes.len() / T::SIZE
    }

    /// Whether the vector has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The elements in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = T> + 'a {
        self.bytes.chunks_exact(T::SIZE).map(T::from_le)
    }

    /// The elements' little-endian bytes, borrowed from the file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// The element bytes of the vector whose length prefix is at `loc`, or `None`
/// if the prefix or the elements do not lie inside `buf`.
fn element_bytes<T: LeScalar>(buf: &[u8], loc: usize) -> Option<&[u8]> {
    let start = loc.checked_add(SIZE_UOFFSET)?;
    let len = buf.get(loc..start).map(<u32 as LeScalar>::from_le)? as usize;
    buf.get(start..start.checked_add(len.checked_mul(T::SIZE)?)?)
}

impl<'a, T: LeScalar> flatbuffers::Follow<'a> for Scalars<'a, T> {
    type Inner = Self;
    unsafe fn follow(buf: &'a [u8], loc: usize) -> Self {
        // The verifier checked that the vector lies inside `buf`; a vector that
        // did not (unreachable after verification) would read as empty.
        Self {
            bytes: element_bytes::<T>(buf, loc).unwrap_or(&[]),
            elem: PhantomData,
        }
    }
}

impl<T: LeScalar> Verifiable for Scalars<'_, T> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<()> {
        let len = v.get_uoffset(pos)? as usize;
        v.range_in_buffer(pos.saturating_add(SIZE_UOFFSET), len.saturating_mul(T::SIZE))
    }
}

/// Declares a table view: its struct, `Follow`, field verification and accessors.
///
/// `name: scalar(T, default) = id` reads a scalar with the schema default;
/// `name: offset(T) = id` reads an offset field (vector, string or table) as `Option`.
/// `verify(custom)` leaves `Verifiable` to a hand-written impl that calls
/// `verify_fields`.
macro_rules! table {
    (@ty scalar($t:ty, $d:expr)) => { $t };
    (@ty offset($t:ty)) => { ForwardsUOffset<$t> };
    (@get $s:ident, scalar($t:ty, $d:expr), $id:literal) => {
        // SAFETY: the verifier checked this field as a `$t`.
        unsafe { $s.tab.get::<$t>(vt($id), Some($d)).unwrap_or($d) }
    };
    (@get $s:ident, offset($t:ty), $id:literal) => {
        // SAFETY: the verifier checked this field as an offset to `$t`.
        unsafe { $s.tab.get::<ForwardsUOffset<$t>>(vt($id), None) }
    };
    (@ret scalar($t:ty, $d:expr)) => { $t };
    (@ret offset($t:ty)) => { Option<$t> };
    (@impl_verifiable default $name:ident) => {
        impl<'a> Verifiable for $name<'a> {
            fn run_verifier(v: &mut Verifier, pos: usize) -> Result<()> {
                Self::verify_fields(v.visit_table(pos)?)?.finish();
                Ok(())
            }
        }
    };
    (@impl_verifiable custom $name:ident) => {};
    ($(#[$m:meta])* $name:ident verify($how:ident) {
        $($field:ident: $kind:ident($($arg:tt)*) = $id:literal),* $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        pub struct $name<'a> {
            tab: Table<'a>,
        }

        impl<'a> flatbuffers::Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller guarantees `loc` is a verified table of this type.
                Self { tab: unsafe { Table::new(buf, loc) } }
            }
        }

        impl<'a> $name<'a> {
            #[allow(dead_code)]
            fn verify_fields<'v, 'o, 'b>(
                t: TableVerifier<'v, 'o, 'b>,
            ) -> Result<TableVerifier<'v, 'o, 'b>> {
                $(let t = t.visit_field::<table!(@ty $kind($($arg)*))>(stringify!($field), vt($id), false)?;)*
                Ok(t)
            }
            $(
                pub fn $field(&self) -> table!(@ret $kind($($arg)*)) {
                    table!(@get self, $kind($($arg)*), $id)
                }
            )*
        }

        table!(@impl_verifiable $how $name);
    };
}

table!(
    /// The root table of a `.tflite` file.
    Model verify(default) {
        version: scalar(u32, 0) = 0,
        operator_codes: offset(Vector<'a, ForwardsUOffset<OperatorCode<'a>>>) = 1,
        subgraphs: offset(Vector<'a, ForwardsUOffset<SubGraph<'a>>>) = 2,
        buffers: offset(Vector<'a, ForwardsUOffset<Buffer<'a>>>) = 4,
    }
);

table!(
    /// One entry of the model's operator-code table.
    OperatorCode verify(default) {
        deprecated_builtin_code: scalar(i8, 0) = 0,
        custom_code: offset(&'a str) = 1,
        builtin_code: scalar(i32, 0) = 3,
    }
);

table!(
    /// A subgraph: tensors, operators in execution order, inputs and outputs.
    SubGraph verify(default) {
        tensors: offset(Vector<'a, ForwardsUOffset<Tensor<'a>>>) = 0,
        inputs: offset(Scalars<'a, i32>) = 1,
        outputs: offset(Scalars<'a, i32>) = 2,
        operators: offset(Vector<'a, ForwardsUOffset<Operator<'a>>>) = 3,
    }
);

table!(
    /// A tensor's declaration (shape, type, buffer index, quantization).
    Tensor verify(default) {
        shape: offset(Scalars<'a, i32>) = 0,
        tensor_type: scalar(i8, 0) = 1,
        buffer: scalar(u32, 0) = 2,
        name: offset(&'a str) = 3,
        quantization: offset(QuantizationParameters<'a>) = 4,
        is_variable: scalar(bool, false) = 5,
    }
);

table!(
    /// Affine quantization: `real = scale * (q - zero_point)`, per tensor or per
    /// slice along `quantized_dimension`. `details_type` != 0 marks a custom scheme.
    QuantizationParameters verify(default) {
        scale: offset(Scalars<'a, f32>) = 2,
        zero_point: offset(Scalars<'a, i64>) = 3,
        details_type: scalar(u8, 0) = 4,
        quantized_dimension: scalar(i32, 0) = 6,
    }
);

table!(
    /// Raw bytes of a constant tensor, inline or (for models over 2 GB) at
    /// `offset`/`size` from the start of the file.
    Buffer verify(default) {
        data: offset(Scalars<'a, u8>) = 0,
        offset: scalar(u64, 0) = 1,
        size: scalar(u64, 0) = 2,
    }
);

table!(
    /// One operator: an index into the operator codes, tensor indices and options.
    Operator verify(custom) {
        opcode_index: scalar(u32, 0) = 0,
        inputs: offset(Scalars<'a, i32>) = 1,
        outputs: offset(Scalars<'a, i32>) = 2,
        builtin_options_type: scalar(u8, 0) = 3,
        intermediates: offset(Scalars<'a, i32>) = 8,
        builtin_options_2_type: scalar(u8, 0) = 11,
    }
);

/// `BuiltinOptions` union tags of the option tables quantmcu reads.
pub mod options_type {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const CONCATENATION: u8 = 10;
    pub const ADD: u8 = 11;
    pub const REDUCER: u8 = 27;
}

impl<'a> Verifiable for Operator<'a> {
    fn run_verifier(v: &mut Verifier, pos: usize) -> Result<()> {
        use options_type as o;
        Self::verify_fields(v.visit_table(pos)?)?
            .visit_union::<u8, _>(
                "builtin_options_type",
                vt(3),
                "builtin_options",
                vt(4),
                false,
                |tag, v, pos| match tag {
                    o::CONV_2D => v.verify_union_variant::<ForwardsUOffset<Conv2DOptions>>("Conv2DOptions", pos),
                    o::DEPTHWISE_CONV_2D => {
                        v.verify_union_variant::<ForwardsUOffset<DepthwiseConv2DOptions>>("DepthwiseConv2DOptions", pos)
                    }
                    o::POOL_2D => v.verify_union_variant::<ForwardsUOffset<Pool2DOptions>>("Pool2DOptions", pos),
                    o::FULLY_CONNECTED => {
                        v.verify_union_variant::<ForwardsUOffset<FullyConnectedOptions>>("FullyConnectedOptions", pos)
                    }
                    o::SOFTMAX => v.verify_union_variant::<ForwardsUOffset<SoftmaxOptions>>("SoftmaxOptions", pos),
                    o::CONCATENATION => {
                        v.verify_union_variant::<ForwardsUOffset<ConcatenationOptions>>("ConcatenationOptions", pos)
                    }
                    o::ADD => v.verify_union_variant::<ForwardsUOffset<AddOptions>>("AddOptions", pos),
                    o::REDUCER => v.verify_union_variant::<ForwardsUOffset<ReducerOptions>>("ReducerOptions", pos),
                    // Tables without fields and tables of ops we reject are never read.
                    _ => Ok(()),
                },
            )?
            .finish();
        Ok(())
    }
}

impl<'a> Operator<'a> {
    /// The `builtin_options` table of the operator, if its union tag is `tag`.
    pub fn options<T: flatbuffers::Follow<'a, Inner = T> + 'a>(&self, tag: u8) -> Option<T> {
        if self.builtin_options_type() != tag {
            return None;
        }
        // SAFETY: the verifier checked the union value against its tag, and the
        // tag equals the table type the caller asks for.
        unsafe { self.tab.get::<ForwardsUOffset<T>>(vt(4), None) }
    }
}

table!(
    /// Options of CONV_2D.
    Conv2DOptions verify(default) {
        padding: scalar(i8, 0) = 0,
        stride_w: scalar(i32, 0) = 1,
        stride_h: scalar(i32, 0) = 2,
        fused_activation_function: scalar(i8, 0) = 3,
        dilation_w_factor: scalar(i32, 1) = 4,
        dilation_h_factor: scalar(i32, 1) = 5,
        quantized_bias_type: scalar(i8, 0) = 6,
    }
);

table!(
    /// Options of DEPTHWISE_CONV_2D.
    DepthwiseConv2DOptions verify(default) {
        padding: scalar(i8, 0) = 0,
        stride_w: scalar(i32, 0) = 1,
        stride_h: scalar(i32, 0) = 2,
        fused_activation_function: scalar(i8, 0) = 4,
        dilation_w_factor: scalar(i32, 1) = 5,
        dilation_h_factor: scalar(i32, 1) = 6,
    }
);

table!(
    /// Options of AVERAGE_POOL_2D and MAX_POOL_2D.
    Pool2DOptions verify(default) {
        padding: scalar(i8, 0) = 0,
        stride_w: scalar(i32, 0) = 1,
        stride_h: scalar(i32, 0) = 2,
        filter_width: scalar(i32, 0) = 3,
        filter_height: scalar(i32, 0) = 4,
        fused_activation_function: scalar(i8, 0) = 5,
    }
);

table!(
    /// Options of FULLY_CONNECTED.
    FullyConnectedOptions verify(default) {
        fused_activation_function: scalar(i8, 0) = 0,
        weights_format: scalar(i8, 0) = 1,
        keep_num_dims: scalar(bool, false) = 2,
        asymmetric_quantize_inputs: scalar(bool, false) = 3,
        quantized_bias_type: scalar(i8, 0) = 4,
    }
);

table!(
    /// Options of SOFTMAX.
    SoftmaxOptions verify(default) {
        beta: scalar(f32, 0.0) = 0,
    }
);

table!(
    /// Options of CONCATENATION.
    ConcatenationOptions verify(default) {
        axis: scalar(i32, 0) = 0,
        fused_activation_function: scalar(i8, 0) = 1,
    }
);

table!(
    /// Options of ADD.
    AddOptions verify(default) {
        fused_activation_function: scalar(i8, 0) = 0,
    }
);

table!(
    /// Options of MEAN and the other reductions.
    ReducerOptions verify(default) {
        keep_dims: scalar(bool, false) = 0,
    }
);

/// Limits for the verifier: a `.tflite` for a microcontroller has a few thousand
/// tables at most, so anything far beyond is rejected before it costs time.
fn verifier_options() -> VerifierOptions {
    VerifierOptions {
        max_depth: 32,
        max_tables: 200_000,
        max_apparent_size: 1 << 30,
        ignore_missing_null_terminator: true,
    }
}

/// Verifies `bytes` as a TFLite model and returns its root table.
pub fn model_root(bytes: &[u8]) -> Result<Model<'_>> {
    flatbuffers::root_with_opts::<Model>(&verifier_options(), bytes)
}

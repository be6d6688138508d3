//! PAD (spatial only): the int8 kernel ([`int8`]) and its form over maps of
//! any width ([`lowbit`]); both copy values unchanged.

pub mod int8;
pub mod lowbit;
#[cfg(test)]
mod tests;

pub use int8::{pad, pad_input_rect, PadParams};
pub use lowbit::pad_lowbit;

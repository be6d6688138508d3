//! ADD of two equally shaped maps: the int8 kernel ([`int8`], bit-exact with
//! tflite-micro) and its form over maps of any widths ([`lowbit`], with the
//! clean check).

pub mod int8;
pub mod lowbit;
#[cfg(test)]
mod tests;

pub use int8::{add, AddParams, LEFT_SHIFT};
pub use lowbit::add_lowbit;

//! ADD of two equally shaped maps: the int8 kernel ([`int8`], bit-exact with
//! tflite-micro; [`table`] its lookup form) and its form over maps of any widths ([`lowbit`], with the
//! clean check).

pub mod int8;
pub mod lowbit;
pub mod table;
#[cfg(test)]
mod tests;

pub use int8::{add, AddParams, LEFT_SHIFT};
pub use lowbit::add_lowbit;
pub use table::{AddTable, TABLE_MIN};

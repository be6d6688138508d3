//! ADD of two equally shaped maps: the int8 kernel ([`int8`], bit-exact with
//! tflite-micro; [`table`] its lookup form, [`x86`] the lookup form in AVX2
//! on host builds) and its form over maps of any widths ([`lowbit`], with
//! the clean check).

pub mod int8;
pub mod lowbit;
pub mod table;
#[cfg(test)]
mod tests;
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub mod x86;

pub use int8::{add, AddParams, LEFT_SHIFT};
pub use lowbit::add_lowbit;
pub use table::{AddTable, TABLE_MIN};

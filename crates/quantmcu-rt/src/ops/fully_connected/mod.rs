//! FULLY_CONNECTED: the int8 kernel ([`int8`], bit-exact with tflite-micro) and
//! its form over inputs of any width ([`lowbit`], with the clean check).

pub mod int8;
pub mod lowbit;
#[cfg(test)]
mod tests;

pub use int8::{fully_connected, FullyConnectedParams};
pub use lowbit::fully_connected_lowbit;

//! AVERAGE_POOL_2D and MAX_POOL_2D: the int8 kernels ([`int8`], bit-exact with
//! tflite-micro) and their forms over maps of any width ([`lowbit`], with a
//! rescale to the output and the clean check).

pub mod int8;
pub mod lowbit;
#[cfg(test)]
mod tests;

pub use int8::{average_pool2d, max_pool2d, Pool2dParams};
pub use lowbit::{average_pool2d_lowbit, max_pool2d_lowbit, PoolRescale};

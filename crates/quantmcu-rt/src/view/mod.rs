//! The views every kernel shares, int8 and low-bit alike: windows of int8
//! maps and of maps of any width ([`Window`], [`Codes`]), the taps of a
//! sliding window inside the input (`TapRange`), output stages
//! ([`OutputStage`], resolved per channel as `Requant`) and the clean
//! bounds of a map that may turn outlier ([`Clean`], [`Outlier`]).

mod clean;
mod codes;
mod output;
#[cfg(all(target_arch = "x86_64", any(test, feature = "std")))]
pub(crate) mod output_x86;
mod window;

pub(crate) use clean::bounds;
pub use clean::{Clean, Outlier};
pub use codes::{offset_values_fit_lane, value_range, Codes, CodesMut};
pub(crate) use output::{emit, Requant};
pub use output::{OutputStage, ShortRequant};
pub(crate) use window::TapRange;
pub use window::{Window, WindowMut};

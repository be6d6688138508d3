//! `libquantmcu_c.a`: the quantmcu runtime's C ABI (`quantmcu_rt::c_abi`,
//! declared by `include/quantmcu.h`) as a static library for C firmware.
//!
//! On bare-metal targets (`target_os = "none"`) the crate is `no_std` and
//! brings the panic handler a Rust staticlib must have; the runtime never
//! panics on any input, so the handler is never reached, and it parks the
//! core rather than returning into C. On hosted targets the crate links
//! `std`, whose panic handler the host library then carries (the host
//! library is what the tests link against).
#![cfg_attr(target_os = "none", no_std)]

pub use quantmcu_rt::c_abi;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

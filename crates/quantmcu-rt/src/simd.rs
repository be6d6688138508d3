//! Host SIMD selection: whether the kernels' x86-64 AVX2 forms may run.
//! Detected once per process at run time (`is_x86_feature_detected!`), so a
//! binary built for baseline x86-64 uses the portable forms on a CPU without
//! AVX2. Setting the environment variable `QUANTMCU_RT_PORTABLE` (to any
//! value) forces the portable forms, so tests can cover both paths.

use core::sync::atomic::{AtomicU8, Ordering};

/// 0: not yet decided, 1: portable, 2: AVX2.
static SELECTED: AtomicU8 = AtomicU8::new(0);

/// True when the AVX2 forms run: the CPU has AVX2 and
/// `QUANTMCU_RT_PORTABLE` is unset.
pub fn avx2() -> bool {
    match SELECTED.load(Ordering::Relaxed) {
        0 => {
            let on = detect();
            SELECTED.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

fn detect() -> bool {
    if std::env::var_os("QUANTMCU_RT_PORTABLE").is_some() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

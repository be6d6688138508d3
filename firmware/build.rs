//! Links with cortex-m-rt's `link.x` and this board's `memory.x`, and checks
//! the exported plan directory named by `QUANTMCU_FIRMWARE_DIR`.

use std::path::{Path, PathBuf};
use std::{env, fs};

/// Files `quantmcu export --firmware DIR` writes and the firmware includes.
const FILES: [&str; 4] = ["plan.qmcu", "inputs.bin", "expected.bin", "consts.rs"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("copy memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-env-changed=QUANTMCU_FIRMWARE_DIR");

    let Some(dir) = env::var_os("QUANTMCU_FIRMWARE_DIR") else {
        panic!(
            "QUANTMCU_FIRMWARE_DIR is not set: export a plan with \
             `quantmcu export MODEL [--plan PLAN] --firmware DIR`, then build with QUANTMCU_FIRMWARE_DIR=DIR"
        );
    };
    // Relative paths are taken from this crate's directory.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    for f in FILES {
        let p = dir.join(f);
        if !p.is_file() {
            panic!(
                "QUANTMCU_FIRMWARE_DIR={}: {f} is missing (write it with `quantmcu export MODEL --firmware DIR`)",
                dir.display()
            );
        }
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let dir = dir.canonicalize().expect("canonical export dir");
    let dir = dir.to_str().expect("export dir is UTF-8");
    println!("cargo:rustc-env=QUANTMCU_EXPORT_DIR={dir}");
}

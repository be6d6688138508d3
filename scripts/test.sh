#!/usr/bin/env bash
# The full test suite: fetches the cached, checksummed assets the tests read,
# checks formatting and lints, and runs every test of the workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || { echo "test.sh: cargo not found (install Rust stable via rustup)" >&2; exit 1; }
# The suite's asset cache is the source tree's .assets/ unless QUANTMCU_ASSETS
# names another; the tests, the CLI and the fetch script all read the variable.
export QUANTMCU_ASSETS="${QUANTMCU_ASSETS:-$PWD/.assets}"
scripts/fetch-assets.sh models foolbox fashion-mnist
cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings
# The runtime must build for a Cortex-M4F (no_std, no allocator).
if command -v rustup >/dev/null; then
  rustup target add thumbv7em-none-eabihf >/dev/null 2>&1 || true
fi
cargo build -q -p quantmcu-rt --target thumbv7em-none-eabihf --release
# ... also with its DSP kernels (inline assembly, what the firmware runs).
cargo clippy -q -p quantmcu-rt --features dsp --target thumbv7em-none-eabihf --release -- -D warnings
# The firmware (firmware/, a separate cargo project) runs plans under QEMU in
# the CLI's firmware tests: the target and qemu-system-arm must be installed.
scripts/setup-firmware.sh
# The report test renders report.html in headless Chromium.
scripts/setup-browser.sh
cargo fmt --manifest-path firmware/Cargo.toml --check
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# The runtime's and the host library's tests again with the runtime's `dsp`
# feature and the host SIMD forms off: every kernel and plan test then runs
# the DSP forms (instructions emulated on the host) where they apply and the
# portable forms elsewhere, against the same references.
QUANTMCU_RT_PORTABLE=1 cargo test --release -p quantmcu-rt -p quantmcu --features quantmcu-rt/dsp 2>&1 | tee -a "$log"
# One summary line for the whole run.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "quantmcu: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"

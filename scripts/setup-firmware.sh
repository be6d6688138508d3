#!/usr/bin/env bash
# Installs what the Cortex-M firmware (firmware/) needs to build and run under
# QEMU: the thumbv7em-none-eabihf Rust target, Debian's qemu-system-arm and,
# for the C example (firmware/c), arm-none-eabi-gcc with newlib.
# Idempotent: does nothing when all are present. Installing packages needs
# root (apt-get); otherwise prints the command to run and fails.
set -euo pipefail

if ! command -v rustup >/dev/null; then
  echo "setup-firmware.sh: rustup not found; install Rust stable via https://rustup.rs" >&2
  exit 1
fi
if ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
  rustup target add thumbv7em-none-eabihf
fi

if ! command -v qemu-system-arm >/dev/null; then
  cmd="apt-get update && apt-get install -y --no-install-recommends qemu-system-arm"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-firmware.sh: qemu-system-arm is missing; install it as root with:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "setup-firmware.sh: qemu-system-arm is missing and apt-get is not available; install QEMU (>= 7.0, machine mps2-an386) with your package manager" >&2
    exit 1
  fi
  echo "setup-firmware.sh: installing qemu-system-arm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends qemu-system-arm
fi

if ! command -v arm-none-eabi-gcc >/dev/null || [ ! -d /usr/lib/arm-none-eabi/newlib ]; then
  cmd="apt-get update && apt-get install -y --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi"
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup-firmware.sh: arm-none-eabi-gcc or newlib is missing (the C example needs them); install as root with:" >&2
    echo "  sudo sh -c '$cmd'" >&2
    exit 1
  fi
  echo "setup-firmware.sh: installing gcc-arm-none-eabi and libnewlib-arm-none-eabi" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi
fi

if ! qemu-system-arm -machine help | grep -q '^mps2-an386'; then
  echo "setup-firmware.sh: $(qemu-system-arm --version | head -1) has no mps2-an386 machine (QEMU >= 6.0 needed)" >&2
  exit 1
fi

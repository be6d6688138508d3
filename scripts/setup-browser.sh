#!/usr/bin/env bash
# Installs headless Chromium (Debian package `chromium`) for the report's
# browser test when it is missing. Idempotent; needs root (or prints the
# command to run).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "setup-browser.sh: chromium is missing; run: sudo apt-get update && sudo apt-get install -y chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q chromium >/dev/null
command -v chromium >/dev/null

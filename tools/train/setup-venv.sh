#!/usr/bin/env bash
# Creates the training virtualenv at <repo>/.venv-train (git-ignored) and installs
# the pinned requirements. Also installs the Fashion-MNIST IDX files from Debian
# (dataset-fashion-mnist) when they are missing and we are root.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv-train}"
PY="${PYTHON:-python3}"

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update
    apt-get install -y dataset-fashion-mnist
  else
    echo "missing Fashion-MNIST: run 'sudo apt-get install -y dataset-fashion-mnist'" >&2
    exit 1
  fi
fi

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 required, got %s" % sys.version' 
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install --pre -r "$HERE/requirements.txt"
"$VENV/bin/python" -c 'import tensorflow as tf; print("tensorflow", tf.__version__)'
"$VENV/bin/python" -c 'from tflite_micro.python.tflite_micro import runtime; print("tflite-micro ok")'
echo "venv ready: $VENV"

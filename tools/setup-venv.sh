#!/usr/bin/env bash
# Create <repo root>/.venv-tools and install the pinned Python tool requirements
# (tools/requirements.txt). Idempotent: reruns only fix what differs.
#   tools/setup-venv.sh            # uses python3 (3.11 is what the pins were made with)
#   PYTHON=python3.11 tools/setup-venv.sh
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${QUANTMCU_VENV:-$REPO_ROOT/.venv-tools}
PYTHON=${PYTHON:-python3}
REQ=$REPO_ROOT/tools/requirements.txt

if [[ ! -x $VENV/bin/python ]]; then
  echo "setup-venv: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV" || {
    echo "setup-venv: error: '$PYTHON -m venv' failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
echo "setup-venv: installing $REQ" >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
"$VENV/bin/python" - <<'PY'
import numpy, PIL
from tflite_micro.python.tflite_micro import _version
from tflite_micro.python.tflite_micro import runtime  # noqa: F401  (loads the C++ extension)
from ai_edge_litert.interpreter import Interpreter  # noqa: F401
print(f"setup-venv: ok (tflite-micro {_version.__version__}, numpy {numpy.__version__}, pillow {PIL.__version__})")
PY

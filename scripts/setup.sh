#!/usr/bin/env bash
# Creates .venv and installs mlops-jupyter (editable) with the extras named in $1
# (default: examples, what the main job needs; the tests ask for test,examples).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${1:-examples}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${EXTRAS}]"

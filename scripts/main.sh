#!/usr/bin/env bash
# The main job: set up, run the tracked example on the embedded defaults
# (local SQLite store, local object cache), then list and compare its runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cd examples
../.venv/bin/python track_diabetes.py
../.venv/bin/mlops-jupyter runs ls --experiment diabetes-sgd --limit 3
mapfile -t ids < <(../.venv/bin/mlops-jupyter runs ls --experiment diabetes-sgd --limit 2 --json \
  | ../.venv/bin/python -c "import json, sys; print(*(r['run_id'] for r in json.load(sys.stdin)), sep='\n')")
../.venv/bin/mlops-jupyter runs diff "${ids[1]}" "${ids[0]}"

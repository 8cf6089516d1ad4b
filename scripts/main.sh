#!/usr/bin/env bash
# The main job: set up, run the example notebook through the pipeline on the embedded defaults
# (local SQLite store and object cache in examples/.mlops/), then again: the second run restores
# every stage from the cache. Executed notebooks go to examples/out/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh examples  # only what the main job needs: no DVC, JupyterLab or Playwright
mj=.venv/bin/mlops-jupyter
mkdir -p examples/out
$mj run examples/wine.ipynb -o examples/out/wine.first.ipynb
$mj run examples/wine.ipynb -o examples/out/wine.again.ipynb
$mj -C examples runs ls --limit 6

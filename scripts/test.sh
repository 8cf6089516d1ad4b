#!/usr/bin/env bash
# Every test suite, each in its own pytest session: the core suite; the REST API on a real Jupyter
# server (pytest-jupyter's plugin brings autouse event-loop fixtures that must not reach the kernel
# tests); the sidebar in a real JupyterLab driven through Debian's chromium (Playwright's sync API
# clashes with those fixtures). Screenshots land in build/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest
.venv/bin/python -m pytest -p pytest_jupyter.jupyter_server tests_server
.venv/bin/python -m pytest tests_browser

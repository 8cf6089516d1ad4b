"""Browser tests: a real `jupyter lab` and Debian's Chromium driven by Playwright.

Run in a pytest session of their own (`.venv/bin/python -m pytest tests_browser`), away from
pytest-jupyter's event-loop fixtures, which clash with Playwright's sync API.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MLOPS_TEST_CHROMIUM", "/usr/bin/chromium")
TOKEN = "browser-test-token"
EXAMPLES = Path(__file__).parent.parent / "examples"
SHOTS = Path(os.environ.get("MLOPS_TEST_SCREENSHOTS", Path(__file__).parent.parent / "build" / "screenshots"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, *options: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = open(root.parent / f"lab-{port}.log", "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "lab", "--allow-root", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *options],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            request = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {TOKEN}"})
            urllib.request.urlopen(request, timeout=2).read()
            return process, base
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(root.parent / f'lab-{port}.log').read_text()[-2000:]}")
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("jupyter lab did not start within 60 s")


@contextlib.contextmanager
def running_lab(root: Path, *options: str) -> Iterator[str]:
    """A `jupyter lab` serving ``root`` (``start_lab``) while the block runs: its base URL."""
    process, base = start_lab(root, *options)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A running JupyterLab serving a clean copy of the examples: (base url, folder)."""
    root = tmp_path_factory.mktemp("lab") / "project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("runs.db*", "cache", "eval", "out", "mlops.lock", "*.lck"))
    with running_lab(root) as base:
        yield base, root


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path

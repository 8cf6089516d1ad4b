"""Sidebar time to first rows with 10,000 runs x 20 params x 10 metrics, in headless Chromium.

    .venv/bin/python bench/bench_sidebar.py [--runs 10000]

Fills a store (as bench_server.py does), starts a real `jupyter lab` on loopback, opens it in
Debian's chromium through Playwright, and times (median of 5, a fresh page each time):
- from a click on the MLOps tab (JupyterLab already loaded, the sidebar closed) to the first run
  rows on screen — target <= 1 s;
- from navigating to /lab to the first rows (JupyterLab's own start-up included), for reference;
- from a click on a metric column header (sort 10,000 runs by it) to the re-sorted first row.
Always exits 0.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench_server import fill
from common import start_jupyter

TOKEN = "bench-sidebar"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-sidebar-"))
    fill(root, args.runs)
    process, base = start_jupyter("lab", root, TOKEN, "--LabApp.news_url=None")
    open_times, load_times, sort_times = [], [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(5):
                context = browser.new_context(viewport={"width": 1500, "height": 950})
                page = context.new_page()
                started = time.perf_counter()
                page.goto(f"{base}/lab?token={TOKEN}&reset")
                tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="mlops-jupyter-sidebar"]')
                tab.wait_for()
                sidebar = page.get_by_test_id("mlops-sidebar")
                if sidebar.is_visible():
                    page.get_by_test_id("mlops-run-row").first.wait_for()
                    load_times.append(time.perf_counter() - started)
                    tab.click()  # close it, to time an opening
                    sidebar.wait_for(state="hidden")
                else:
                    load_times.append(float("nan"))
                page.wait_for_timeout(300)
                clicked = time.perf_counter()
                tab.click()
                page.get_by_test_id("mlops-run-row").first.wait_for()
                open_times.append(time.perf_counter() - clicked)
                header = page.locator('[data-testid="mlops-col-header"][data-field="metrics.m3"]')
                first = page.get_by_test_id("mlops-run-row").first.get_attribute("data-run-id")
                clicked = time.perf_counter()
                header.click()
                page.wait_for_function(
                    "id => { const row = document.querySelector('[data-testid=mlops-run-row]');"
                    " return row && row.getAttribute('data-run-id') !== id; }", arg=first)
                sort_times.append(time.perf_counter() - clicked)
                count = page.get_by_test_id("mlops-run-count").inner_text()
                context.close()
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"store: {args.runs:,} runs; the sidebar says: {count!r}")
    print(f"{'measure (median of 5)':<52}{'time':>10}")
    print(f"{'click on the MLOps tab -> first rows (target <= 1 s)':<52}{statistics.median(open_times) * 1000:>8.0f}ms")
    loads = [t for t in load_times if t == t]
    if loads:
        print(f"{'navigate to /lab -> first rows (Lab start-up incl.)':<52}{statistics.median(loads) * 1000:>8.0f}ms")
    print(f"{f'click a metric header -> {args.runs:,} runs re-sorted':<52}{statistics.median(sort_times) * 1000:>8.0f}ms")


if __name__ == "__main__":
    main()

"""The plots of compared runs, overlaid in the Compare view: real JupyterLab, real runs, headless Chromium.

The example runs twice headless (train.n_est 300, then 5); each evaluate run logged a confusion
matrix and a ROC (mj.log_sklearn_plot) and kept an image (--plots eval/importance.png). Compared in
the sidebar, as experiments and as stage runs, the Plots section draws one chart per plot id through
JupyterLab's own Vega-Lite renderer: the two ROC curves in one chart with a legend of both runs, in
the runs' colours, the two confusion matrices side by side, each run's image; in the dark theme too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import EXAMPLES, running_lab, screenshot
from .test_sidebar import open_notebook, open_sidebar

RUN_COLORS = ("#1f77b4", "#ff7f0e")  # the first two of charts.tsx's RUN_COLORS


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab of its own (settings too: this test switches the theme) on a copy of the examples
    that ran twice headless."""
    folder = tmp_path_factory.mktemp("lab-plots")
    root = folder / "project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("runs.db*", "cache", "eval", "out", "mlops.lock", "*.lck"))
    cli = str(Path(sys.executable).parent / "mlops-jupyter")
    for extra in ([], ["-p", "train.n_est=5"]):
        done = subprocess.run([cli, "run", "wine.ipynb", "-o", str(folder / "out.ipynb"), *extra], cwd=root,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with running_lab(root, f"--LabApp.workspaces_dir={folder / 'workspaces'}",
                         f"--LabApp.user_settings_dir={folder / 'settings'}") as base:
        yield base, root


def compare(page, sidebar, run_ids: list[str]):
    for run_id in run_ids:
        sidebar.locator(f'[data-testid="mlops-run-row"][data-run-id="{run_id}"] [data-testid="mlops-run-checkbox"]').check()
    sidebar.get_by_test_id("mlops-compare-button").click()
    return page.get_by_test_id("mlops-compare-view").last


def check_plots(view, labels: list[str]) -> None:
    plots = view.get_by_test_id("mlops-compare-plots")
    expect(plots.get_by_test_id("mlops-compare-plot")).to_have_count(3)
    for plot in plots.get_by_test_id("mlops-compare-plot").all():
        expect(plot).to_have_attribute("data-runs", ",".join(labels))

    roc = plots.locator('[data-testid="mlops-compare-plot"][data-plot-id="roc_class_1"]')
    expect(roc.locator("svg .mark-line path")).to_have_count(2)  # a curve per run, in one chart
    strokes = [p.get_attribute("stroke") for p in roc.locator("svg .mark-line path").all()]
    assert sorted(strokes) == sorted(RUN_COLORS), strokes  # the runs' colours of the rest of the view
    expect(roc.locator("svg .role-legend-label text")).to_have_text(labels)
    expect(roc.locator("svg .role-title-text")).to_have_text("roc_class_1")
    width = roc.locator("svg").first.evaluate("s => s.getBoundingClientRect().width")
    card = roc.evaluate("c => c.clientWidth")
    assert card * 0.8 < width <= card, (width, card)  # as wide as the panel lets it be

    confusion = plots.locator('[data-testid="mlops-compare-plot"][data-plot-id="confusion_matrix"]')
    expect(confusion.locator("svg .mark-rect.role-mark")).to_have_count(2)  # a matrix per run, side by side
    expect(confusion.locator("svg .role-column-header text")).to_have_text(labels)
    cells = confusion.locator("svg .mark-rect.role-mark").first.locator("path")
    expect(cells).to_have_count(9)  # 3 classes × 3, zeros included

    image = plots.locator('[data-testid="mlops-compare-plot"][data-plot-id="eval/importance.png"]')
    images = image.locator('[data-testid="mlops-compare-plot-image"] img')
    expect(images).to_have_count(2)
    for i in range(2):
        expect(images.nth(i)).to_be_visible()
        assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")


def test_compare_overlays_the_plots_of_the_runs(lab, page):
    base, _ = lab
    page.set_viewport_size({"width": 1800, "height": 1000})
    open_notebook(page, base)
    sidebar = open_sidebar(page)
    sidebar.get_by_test_id("mlops-tab-runs").click()
    sidebar.get_by_test_id("mlops-view-experiments").click()
    rows = sidebar.get_by_test_id("mlops-run-row")
    expect(rows).to_have_count(2)
    newest, first = (rows.nth(i).get_attribute("data-run-id") for i in range(2))
    labels = [first[:8], newest[:8]]
    no_news = page.get_by_role("button", name="No", exact=True)
    if no_news.is_visible():  # JupyterLab's question about news, over the corner
        no_news.click()

    view = compare(page, sidebar, [first, newest])
    expect(view).to_contain_text("Comparing 2 experiments")
    check_plots(view, labels)
    view.get_by_test_id("mlops-compare-plots").scroll_into_view_if_needed()
    screenshot(page, "16-compare-plots")
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").last.click()

    # The stage runs of the same evaluate runs compare alike.
    sidebar.get_by_test_id("mlops-view-runs").click()
    expect(sidebar.locator(f'[data-testid="mlops-run-row"][data-run-id="{first}"]')).to_have_count(1)
    view = compare(page, sidebar, [first, newest])
    expect(view).to_contain_text("Comparing 2 runs")
    check_plots(view, labels)

    # The dark theme: the charts are drawn again in its colours.
    roc = view.locator('[data-testid="mlops-compare-plot"][data-plot-id="roc_class_1"]')
    light = roc.locator("svg .role-title-text").get_attribute("fill")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Dark$")).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    expect(roc.locator("svg .role-title-text")).not_to_have_attribute("fill", light or "")
    expect(roc.locator("svg .mark-line path")).to_have_count(2)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0)  # the theme's splash is gone
    roc.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    screenshot(page, "17-compare-plots-dark")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Settings$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^JupyterLab Light$")).click()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true")

"""Experiments in the sidebar, as a person uses them: real JupyterLab, real kernel, headless Chromium.

Run the example, change train.n_est 300 → 150 and run it again (then 3, for a third result): the
Runs tab opens on Experiments, one row per result with the train params and the test accuracy side
by side; two selected compare as `300 → 150` with the accuracy's delta; the parallel-coordinates
chart draws a line per experiment, and the scatter a point per experiment, at sidebar width and in
the main area.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3

import pytest
from playwright.sync_api import expect

from .conftest import EXAMPLES, running_lab, screenshot
from .test_sidebar import menu, open_notebook, open_sidebar, wait_idle


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab of its own on a clean copy of the examples (the sidebar test expects an empty store),
    with a layout of its own (this test resizes the sidebar)."""
    folder = tmp_path_factory.mktemp("lab-experiments")
    root = folder / "project"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("runs.db*", "cache", "eval", "out", "mlops.lock", "*.lck"))
    with running_lab(root, f"--LabApp.workspaces_dir={folder / 'workspaces'}") as base:
        yield base, root


def stage_runs(root, stage: str) -> int:
    """How many ended runs of ``stage`` the project's store holds (what the sidebar must show)."""
    with contextlib.closing(sqlite3.connect(f"file:{root / '.mlops' / 'runs.db'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT COUNT(*) FROM runs WHERE stage = ? AND status != 'running'", [stage]).fetchone()[0]


def cell_of(sidebar, run_id: str, column: str):
    """The cell of ``column`` in the row of ``run_id``, scrolled into view (the table draws only the
    columns near its scroll position)."""
    table = sidebar.get_by_test_id("mlops-runs-table")
    header = sidebar.locator(f'[data-testid="mlops-col-header"][data-field="{column}"]')
    offset = header.evaluate("h => h.offsetLeft")
    table.evaluate(f"t => {{ t.scrollLeft = Math.max(0, {offset} - 140); }}")
    return sidebar.locator(f'[data-testid="mlops-run-row"][data-run-id="{run_id}"] [data-column="{column}"]')


def widen_sidebar(page, width: int) -> None:
    """Drag the left area's edge, as a person would, to ``width`` pixels."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(width, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def test_experiments_compare_and_charts(lab, page):
    base, root = lab
    page.set_viewport_size({"width": 1800, "height": 1000})  # room for the compare view beside the notebook
    open_notebook(page, base)
    sidebar = open_sidebar(page)
    sidebar.get_by_test_id("mlops-tab-runs").click()
    expect(sidebar.get_by_test_id("mlops-view-experiments")).to_have_attribute("aria-pressed", "true")  # the default
    narrow = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first.bounding_box()["x"]

    params = root / "params.yaml"
    menu(page, "Run", "Run All Cells")
    wait_idle(page)
    assert stage_runs(root, "evaluate") == 1
    rows = sidebar.get_by_test_id("mlops-run-row")
    for count, n_est in enumerate((150, 3), start=2):
        params.write_text(re.sub(r"n_est: \d+", f"n_est: {n_est}", params.read_text()))
        menu(page, "Run", "Run All Cells")
        wait_idle(page)
        assert stage_runs(root, "evaluate") == count  # the kernel ran it: the sidebar must follow
        expect(rows).to_have_count(count, timeout=15_000)  # a row per result, not per stage run
    results = [rows.nth(i).get_attribute("data-run-id") for i in range(3)]
    expect(sidebar.get_by_test_id("mlops-run-count")).to_have_text("3 experiments")
    _, newest, first = results  # n_est 3, 150, 300: newest first
    for run_id, n_est in ((newest, "150"), (first, "300")):
        expect(cell_of(sidebar, run_id, "params.train.n_est")).to_have_text(n_est)
        expect(cell_of(sidebar, run_id, "metrics.accuracy")).to_have_text(re.compile(r"^0\.\d+$"))
    accuracy = {run_id: float(cell_of(sidebar, run_id, "metrics.accuracy").inner_text()) for run_id in (first, newest)}
    no_news = page.get_by_role("button", name="No", exact=True)
    if no_news.is_visible():  # JupyterLab's question about news, over the corner
        no_news.click()

    # Headers are cut with an ellipsis, never at their start; the full name is on hover.
    group = sidebar.locator(".mlops-hgroup-metrics .mlops-hgroup-label")
    expect(group).to_have_attribute("title", "Metrics")
    label_box, group_box = group.bounding_box(), sidebar.locator(".mlops-hgroup-metrics").bounding_box()
    assert label_box["x"] >= group_box["x"] - 0.5
    header = sidebar.locator('[data-testid="mlops-col-header"][data-field="metrics.accuracy"]')
    expect(header).to_have_attribute("title", re.compile(r"^metrics\.accuracy"))
    cell_of(sidebar, newest, "params.train.n_est")  # scrolled to the params: the group's name still shows
    params_label = sidebar.locator(".mlops-hgroup-params .mlops-hgroup-label")
    expect(params_label).to_be_visible()
    assert params_label.evaluate("l => l.scrollWidth <= l.clientWidth + 1 || getComputedStyle(l).textOverflow === 'ellipsis'")
    screenshot(page, "11a-experiments-params")
    sidebar.get_by_test_id("mlops-runs-table").evaluate("t => { t.scrollLeft = 0; }")
    screenshot(page, "11-experiments")

    # The charts in the sidebar: one line per experiment, one point per experiment.
    sidebar.get_by_test_id("mlops-charts-toggle").click()
    panel = sidebar.get_by_test_id("mlops-charts-panel")
    expect(panel.get_by_test_id("mlops-parallel-line")).to_have_count(3)
    expect(panel.get_by_test_id("mlops-scatter-point")).to_have_count(3)
    expect(panel.locator('[data-testid="mlops-parallel-chart"] .mlops-pc-axis[data-field="params.train.n_est"]')).to_have_count(1)
    screenshot(page, "12-experiment-charts-sidebar")
    panel.get_by_test_id("mlops-charts-expand").click()  # the same charts in the main area
    view = page.get_by_test_id("mlops-charts-view").last
    expect(view.get_by_test_id("mlops-parallel-line")).to_have_count(3)
    expect(view.get_by_test_id("mlops-scatter-point")).to_have_count(3)
    sidebar.get_by_test_id("mlops-charts-toggle").click()
    widen_sidebar(page, 470)
    screenshot(page, "15-experiment-charts")
    widen_sidebar(page, narrow)
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon").last.click()  # closed again

    # Compare the two: the param change, the metric's delta, the lineage, the charts.
    for run_id in (first, newest):  # the first checked is the base
        sidebar.locator(f'[data-testid="mlops-run-row"][data-run-id="{run_id}"] [data-testid="mlops-run-checkbox"]').check()
    sidebar.get_by_test_id("mlops-compare-button").click()
    compare = page.get_by_test_id("mlops-compare-view").last
    expect(compare).to_contain_text("Comparing 2 experiments")
    n_est = compare.locator('[data-testid="mlops-compare-row"][data-key="params.train.n_est"]')
    expect(n_est.get_by_test_id("mlops-compare-change")).to_have_text("300 → 150")
    acc = compare.locator('[data-testid="mlops-compare-row"][data-key="metrics.accuracy"]')
    change = acc.get_by_test_id("mlops-compare-change")
    if accuracy[newest] != accuracy[first]:
        sign = "+" if accuracy[newest] > accuracy[first] else "−"
        expect(change).to_have_text(re.compile("^" + sign + re.escape(f"{abs(accuracy[newest] - accuracy[first]):.2g}")))
    else:
        expect(change).to_have_text("±0")  # 300 and 150 trees classify the test set alike
    expect(compare.locator('[data-testid="mlops-compare-row"][data-key="upstream.train"]')).to_have_attribute("data-differs", "true")
    expect(compare.locator('[data-testid="mlops-compare-row"][data-key="upstream.prepare"]')).to_have_attribute("data-differs", "false")
    charts = compare.get_by_test_id("mlops-compare-experiment-charts")
    expect(charts.get_by_test_id("mlops-parallel-line")).to_have_count(2)
    expect(charts.get_by_test_id("mlops-scatter-point")).to_have_count(2)
    compare.locator("h2").scroll_into_view_if_needed()
    widen_sidebar(page, 430)
    screenshot(page, "13-experiments-compare")
    compare.get_by_test_id("mlops-compare-only-differ").check()
    expect(compare.locator('[data-testid="mlops-compare-row"][data-key="params.prepare.seed"]')).to_have_count(0)
    expect(n_est).to_be_visible()

    # Stage runs stay one click away.
    sidebar.get_by_test_id("mlops-view-runs").click()
    expect(sidebar.get_by_test_id("mlops-run-row")).to_have_count(7)
    expect(sidebar.get_by_test_id("mlops-run-count")).to_have_text("7 runs")
    sidebar.get_by_test_id("mlops-view-experiments").click()
    expect(sidebar.get_by_test_id("mlops-run-row")).to_have_count(3)
    widen_sidebar(page, narrow)  # JupyterLab keeps the layout for the next session

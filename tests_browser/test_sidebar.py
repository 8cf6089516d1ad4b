"""The sidebar as a person uses it: real JupyterLab, real kernel, headless Chromium.

Open the example, run all cells, see the runs with their metrics, compare two runs, see the
pipeline with every stage's state, click a node to reach its cell, change a param and watch the
stage turn stale, re-run it and see the new run appear — never reloading the page.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import TOKEN, screenshot


def open_notebook(page, base: str) -> None:
    page.goto(f"{base}/lab/tree/wine.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook").first).to_be_visible()
    expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"Python 3.*\| Idle"))).to_be_visible()


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def wait_idle(page) -> None:
    """Wait until every queued cell has run. The kernel reads Idle between two queued cells too, so
    the prompts decide: Run All marks every cell it queues ``[*]`` at once."""
    page.wait_for_timeout(500)
    expect(page.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0, timeout=180_000)
    expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"Python 3.*\| Idle"))).to_be_visible(timeout=180_000)


def open_sidebar(page):
    sidebar = page.get_by_test_id("mlops-sidebar")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="mlops-jupyter-sidebar"]')
    expect(tab).to_be_visible()
    if not sidebar.is_visible():  # the layout JupyterLab restores may have it open already
        tab.click()
    expect(sidebar).to_be_visible()
    return sidebar


def test_runs_compare_pipeline_and_live_updates(lab, page):
    base, root = lab
    open_notebook(page, base)
    sidebar = open_sidebar(page)
    sidebar.get_by_test_id("mlops-view-runs").click()  # the stage runs, one by one (Experiments: test_experiments)
    expect(sidebar.get_by_test_id("mlops-runs-empty")).to_contain_text("No runs yet")  # before anything ran
    screenshot(page, "01-empty")

    menu(page, "Run", "Run All Cells")
    wait_idle(page)
    expect(page.locator(".jp-OutputArea-output img").first).to_be_visible()  # the confusion matrix

    # Runs: the three stages' runs with their metrics, no reload.
    rows = sidebar.get_by_test_id("mlops-run-row")
    expect(rows).to_have_count(3, timeout=10_000)
    expect(sidebar.locator('[data-testid="mlops-col-header"][data-field="metrics.accuracy"]')).to_have_count(1)
    table = sidebar.get_by_test_id("mlops-runs-table")
    screenshot(page, "02-runs")
    table.evaluate("element => { element.scrollLeft = element.scrollWidth; }")  # the metric columns
    expect(table).to_contain_text("0.9815")
    screenshot(page, "02b-runs-metrics")

    # Compare two runs: side by side, with a chart.
    checkboxes = sidebar.get_by_test_id("mlops-run-checkbox")
    checkboxes.nth(0).check()
    checkboxes.nth(1).check()
    sidebar.get_by_test_id("mlops-compare-button").click()
    compare = page.get_by_test_id("mlops-compare-view").last
    expect(compare).to_be_visible()
    expect(compare.get_by_test_id("mlops-compare-table")).to_be_visible()
    expect(compare.locator('[data-testid="mlops-compare-chart"] canvas, [data-testid="mlops-compare-bars"]').first).to_be_visible()
    screenshot(page, "03-compare")

    # Pipeline: every stage, fresh after the run; clicking a node reaches its cell.
    page.locator(".jp-NotebookPanel").first.click()  # the notebook is the active widget again
    sidebar.get_by_test_id("mlops-tab-pipeline").click()
    nodes = sidebar.get_by_test_id("mlops-pipeline-node")
    expect(nodes).to_have_count(3)
    for stage in ("prepare", "train", "evaluate"):
        expect(sidebar.locator(f'[data-testid="mlops-pipeline-node"][data-stage="{stage}"]')).to_have_attribute("data-state", "fresh")
    edges = sidebar.get_by_test_id("mlops-pipeline-edge")
    expect(edges).to_have_count(4)  # prepare→train (train), prepare→evaluate (test), train→evaluate (features, model)
    for label in ("train", "test", "features", "model"):
        expect(sidebar.get_by_test_id("mlops-pipeline-svg")).to_contain_text(label)
    screenshot(page, "04-pipeline")
    sidebar.locator('[data-testid="mlops-pipeline-node"][data-stage="evaluate"]').click()
    active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active").first
    expect(active).to_contain_text("%%stage evaluate")
    expect(active).to_be_in_viewport()

    # A param changes: train and evaluate turn stale, with the reason on hover.
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("n_est: 300", "n_est: 150"))
    train_node = sidebar.locator('[data-testid="mlops-pipeline-node"][data-stage="train"]')
    expect(train_node).to_have_attribute("data-state", "stale", timeout=10_000)
    expect(sidebar.locator('[data-testid="mlops-pipeline-node"][data-stage="evaluate"]')).to_have_attribute("data-state", "stale")
    expect(sidebar.locator('[data-testid="mlops-pipeline-node"][data-stage="prepare"]')).to_have_attribute("data-state", "fresh")
    train_node.hover()
    expect(sidebar.locator("title, [data-testid='mlops-pipeline-reasons']").filter(has_text="train.n_est 300 → 150").first).to_be_attached()
    screenshot(page, "05-stale")

    # Re-run everything: prepare is restored, train and evaluate run; the new runs appear live.
    menu(page, "Run", "Run All Cells")
    wait_idle(page)
    expect(train_node).to_have_attribute("data-state", "fresh", timeout=10_000)
    sidebar.get_by_test_id("mlops-tab-runs").click()
    expect(sidebar.get_by_test_id("mlops-run-row")).to_have_count(5, timeout=10_000)
    table.evaluate("element => { element.scrollLeft = 0; }")
    expect(sidebar.get_by_test_id("mlops-run-row").first).to_contain_text("evaluate")
    screenshot(page, "06-new-runs")

    # The param goes back: train and evaluate restore the first runs, and the pipeline says so.
    params.write_text(params.read_text().replace("n_est: 150", "n_est: 300"))
    sidebar.get_by_test_id("mlops-tab-pipeline").click()
    expect(train_node).to_have_attribute("data-state", "cached", timeout=10_000)
    expect(sidebar.locator('[data-testid="mlops-pipeline-node"][data-stage="evaluate"]')).to_have_attribute("data-state", "cached")
    expect(sidebar.get_by_test_id("mlops-pipeline-reasons")).to_contain_text("restores run")
    screenshot(page, "08-cached")


def test_user_text_is_escaped(lab, page):
    base, root = lab
    from mlops_jupyter.core.environment import capture
    from mlops_jupyter.core.project import find_project
    from mlops_jupyter.core.store import RunStore

    project = find_project(root)
    with RunStore(project.db_path) as store:
        run = store.create_run("<img src=x onerror=alert(1)>", environment=capture(root), stage="<b>bold</b>")
        store.set_tags(run.id, {"note": "<img src=x onerror=alert(1)>"})
        store.end_run(run.id, "finished")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_notebook(page, base)
    sidebar = open_sidebar(page)
    sidebar.get_by_test_id("mlops-view-runs").click()
    row = sidebar.locator(f'[data-testid="mlops-run-row"][data-run-id="{run.id}"]')
    expect(row).to_contain_text("<b>bold</b>")  # shown as text
    expect(sidebar.locator("b", has_text="bold")).to_have_count(0)
    row.click()
    detail = page.get_by_test_id("mlops-run-detail").last
    expect(detail).to_contain_text("<img src=x onerror=alert(1)>")
    expect(page.locator('img[src="x"]')).to_have_count(0)
    assert dialogs == []
    screenshot(page, "07-escaped")

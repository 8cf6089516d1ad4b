"""The ipywidgets views in real frontends: JupyterLab and Notebook 7 (the same server), headless
Chromium, a real kernel. A store with two results of a 3-stage chain (n_est 300 and 150) is made
by running the chain notebook through nbclient; a second notebook shows the views, and draws a
stage's vega-lite plot."""

from __future__ import annotations

import re
import subprocess

import nbformat
import pytest
from nbclient import NotebookClient
from playwright.sync_api import expect

from .conftest import TOKEN, running_lab, screenshot

CHAIN = ["%load_ext mlops_jupyter\nimport mlops_jupyter as mj",
         "%%stage prepare\nrows = list(range(10))",
         "%%stage train -p train\nmodel = sum(rows) * params.train.n_est\n"
         "for step in range(4):\n    mj.log_metric('loss', 1 / (step + 1) + params.train.n_est / 1000, step=step)",
         "%%stage evaluate\nmj.log_metric('accuracy', 1 - 1 / model)"]
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
VIEW = ["%load_ext mlops_jupyter\nimport mlops_jupyter as mj\nview = mj.show_experiments(stage='evaluate')\nview",
        "mj.show_pipeline('chain.ipynb')",
        "%%stage curve\nmj.log_plot('curve', [{'x': i, 'y': i * i} for i in range(6)], x='x', y='y')"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab-widgets")
    root = folder / "project"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CHAIN], metadata=KERNEL), root / "chain.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in VIEW], metadata=KERNEL), root / "view.ipynb")
    for n_est in (300, 150):
        (root / "params.yaml").write_text(f"train:\n  n_est: {n_est}\n")
        notebook = nbformat.read(root / "chain.ipynb", as_version=4)
        NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(root)}}).execute()
    with running_lab(root, f"--LabApp.workspaces_dir={folder / 'workspaces'}") as base:
        yield base, root


def run_all(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).first.click()


def use_the_views(page, name: str) -> None:
    view = page.locator(".mlops-runs-view")
    expect(view).to_be_visible(timeout=120_000)
    expect(view.get_by_text(re.compile(r"1–2 of 2 experiments"))).to_be_visible()
    sort = view.locator(".mlops-sort", has_text="params.train.n_est")
    expect(sort).to_be_visible()
    expect(view.locator(".mlops-sort", has_text="metrics.accuracy")).to_be_visible()
    cells = view.locator(".mlops-cell")
    expect(cells.filter(has_text=re.compile(r"^150$"))).to_have_count(1)
    expect(cells.filter(has_text=re.compile(r"^300$"))).to_have_count(1)
    # The pipeline graph below: three stages, each with its state.
    expect(page.locator(".mlops-pipeline-view .mj-stage")).to_have_count(3)

    sort.click()  # descending: 300 first
    expect(view.locator(".mlops-sort", has_text="params.train.n_est ▼")).to_be_visible()
    texts = cells.all_inner_texts()
    assert texts.index("300") < texts.index("150")

    box = view.locator(".mlops-filter input")
    box.fill("params.train.n_est < 200")
    box.press("Enter")
    expect(view.get_by_text(re.compile(r"1–1 of 1 experiments"))).to_be_visible()
    box.fill("metrics.accuracy >")
    box.press("Enter")
    expect(view.get_by_text(re.compile("expected"))).to_be_visible()  # one line; the page stays
    box.fill("")
    box.press("Enter")
    expect(view.get_by_text(re.compile(r"1–2 of 2 experiments"))).to_be_visible()

    for checkbox in view.locator(".mlops-grid input[type=checkbox]").all():
        checkbox.check()
    view.locator(".mlops-compare").click()
    diff = view.locator(".mlops-diff")
    expect(diff).to_contain_text("params.train.n_est")
    expect(diff).to_contain_text(re.compile(r"300 → 150"))
    expect(diff).to_contain_text("metrics.accuracy")
    expect(view.locator(".mlops-history svg path").first).to_be_attached()
    view.locator(".mlops-compare-view").scroll_into_view_if_needed()
    screenshot(page, name)
    # A stage's plot is vega-lite, which the frontend draws itself.
    expect(page.locator(".jp-OutputArea-output .vega-embed svg, .jp-OutputArea-output .vega-embed canvas")
           .first).to_be_visible(timeout=60_000)


def test_widgets_in_jupyterlab(lab, page):
    base, _ = lab
    page.goto(f"{base}/lab/tree/view.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook").first).to_be_visible()
    expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"Python 3.*\| Idle"))).to_be_visible(timeout=60_000)
    run_all(page)
    use_the_views(page, "widgets-jupyterlab")


def test_widgets_in_notebook_7(lab, page):
    base, _ = lab
    page.goto(f"{base}/notebooks/view.ipynb?token={TOKEN}")
    expect(page.locator(".jp-Notebook").first).to_be_visible()
    expect(page.locator(".jp-NotebookKernelStatus, #jp-title, .jp-NotebookPanel-toolbar").first).to_be_visible()
    page.wait_for_timeout(3000)  # the kernel starts
    run_all(page)
    use_the_views(page, "widgets-notebook7")

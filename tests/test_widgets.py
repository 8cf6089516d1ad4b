"""The ipywidgets views in a real IPython shell over a real store: pages, sorting, filtering,
selection and comparison, live refresh, the pipeline graph, and the static HTML a frontend
without a widget manager shows (checked through nbclient and nbconvert)."""

import re

import nbformat
import pytest
from nbclient import NotebookClient

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def chain(shell, project):
    """Three executions of prepare → train → evaluate with n_est 300, 150, 75."""
    (project.root / "params.yaml").write_text("train:\n  n_est: 300\n")
    cells = ["%%stage prepare\nrows = list(range(10))",
             "%%stage train -p train\nmodel = sum(rows) * params.train.n_est\n"
             "for step in range(3):\n    mj.log_metric('loss', 1 / (step + 1) + params.train.n_est / 1000, step=step)",
             "%%stage evaluate\nmj.log_metric('accuracy', 1 - 1 / model)"]
    shell.run_cell("import mlops_jupyter as mj")
    for n_est in (300, 150, 75):
        (project.root / "params.yaml").write_text(f"train:\n  n_est: {n_est}\n")
        for cell in cells:
            assert shell.run_cell(cell).error_in_exec is None
    return shell


def texts(view) -> list[list[str]]:
    """The table's rows as the widget shows them (the checkbox column left out)."""
    columns = int(re.search(r"repeat\((\d+)", view.grid.layout.grid_template_columns).group(1))
    cells = view.grid.children[columns + 1:]
    rows = [cells[i:i + columns + 1] for i in range(0, len(cells), columns + 1)]
    return [[cell.value for cell in row[1:]] for row in rows]


def position(view) -> str:
    return view.position.value.replace("&nbsp;", "").strip()


def headers(view) -> list[str]:
    return [button.description for button in view.grid.children[1:] if hasattr(button, "on_click")]


def test_experiments_table_pages_sorts_filters_and_compares(chain):
    import mlops_jupyter as mj

    view = mj.show_experiments(page_size=2)
    assert position(view) == "1–2 of 3 experiments"
    names = headers(view)
    assert "metrics.accuracy" in names and "params.train.n_est" in names
    n_est = names.index("params.train.n_est")
    assert [row[n_est] for row in texts(view)] == ["75", "150"]  # newest first
    view.following.click()
    assert [row[n_est] for row in texts(view)] == ["300"] and view.following.disabled
    # A header click sorts by it (descending first), a second click reverses.
    sort_button = next(b for b in view.grid.children[1:] if getattr(b, "description", "") == "params.train.n_est")
    sort_button.click()
    assert view.source.query.order_by == "params.train.n_est DESC" and view.source.query.offset == 0
    assert [row[n_est] for row in texts(view)] == ["300", "150"]
    next(b for b in view.grid.children[1:] if b.description.startswith("params.train.n_est")).click()
    assert [row[n_est] for row in texts(view)] == ["75", "150"]
    # Filters use the joined keys; a bad one is one line and keeps the page.
    view.set_filter("params.train.n_est < 200 and metrics.accuracy > 0")
    assert position(view) == "1–2 of 2 experiments" and view.message.value == ""
    view.set_filter("metrics.accuracy >")
    assert "expected" in view.message.value and "\n" not in view.message.value
    assert view.source.query.filter == "params.train.n_est < 200 and metrics.accuracy > 0"
    # Tick two rows: Compare shows train.n_est 75 → 150 and the accuracy delta, and the loss history.
    boxes = [child for child in view.grid.children if type(child).__name__ == "Checkbox"]
    for box in boxes:
        box.value = True
    assert not view.compare_button.disabled and view.compare_button.description == "Compare 2 selected"
    view.compare_button.click()
    (comparison,) = view.comparison.children
    table = comparison.table.value
    assert "params.train.n_est" in table and "75 → 150" in table and "metrics.accuracy" in table
    assert re.search(r"\(\+[0-9.e-]+\)", table)  # the accuracy went up
    assert "params.prepare" not in table  # only rows that differ
    comparison.only_changed.value = False
    assert "metrics.loss" in comparison.table.value or "metrics.train/loss" in comparison.table.value
    assert comparison.metric.options == ("loss",)
    assert comparison.chart.value.startswith("<svg") and comparison.chart.value.count("<path") >= 2


def test_a_new_run_refreshes_the_view_after_the_cell(chain, project):
    import mlops_jupyter as mj

    chain.run_cell("view = mj.show_runs(stage='evaluate')")
    view = chain.user_ns["view"]
    assert position(view) == "1–3 of 3 runs"
    (project.root / "params.yaml").write_text("train:\n  n_est: 10\n")
    for cell in ("%%stage train -p train\nmodel = sum(rows) * params.train.n_est", "%%stage evaluate\nmj.log_metric('accuracy', 1 - 1 / model)"):
        assert chain.run_cell(cell).error_in_exec is None
    assert position(view) == "1–4 of 4 runs"  # post_run_cell saw the store change
    assert position(mj.show_runs(filter="metrics.accuracy > 2")) == "0–0 of 0 runs"


def test_static_html_stands_in_without_a_widget_manager(chain):
    import mlops_jupyter as mj

    view = mj.show_experiments()
    bundle = view._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "<table" in bundle["text/html"]
    assert "params.train.n_est" in bundle["text/html"] and "3 experiments" in bundle["text/html"]
    comparison = mj.compare(*[row.run.id for row in view.source.page().rows[:2]])
    assert "75 → 150" in comparison._repr_mimebundle_()["text/html"]


def test_compare_needs_two_runs_and_known_ids(chain):
    import mlops_jupyter as mj
    from mlops_jupyter.core.errors import RunNotFound

    with pytest.raises(ValueError, match="two run ids"):
        mj.compare("abc")
    with pytest.raises(RunNotFound, match="runs ls"):
        mj.compare("ffffffff", "eeeeeeee")
    with pytest.raises(ValueError, match="page_size"):
        mj.show_runs(page_size=0)


def test_pipeline_graph_shows_every_stage_with_its_state(chain, project, tmp_path):
    import mlops_jupyter as mj

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import mlops_jupyter as mj"),
        nbformat.v4.new_code_cell("%%stage prepare\nrows = list(range(10))"),
        nbformat.v4.new_code_cell("%%stage train -p train\nmodel = sum(rows) * params.train.n_est"),
        nbformat.v4.new_code_cell("%%stage evaluate\nmj.log_metric('accuracy', 1 - 1 / model)"),
    ])
    path = project.root / "chain.ipynb"
    nbformat.write(notebook, path)
    view = mj.show_pipeline(path)
    graph = view.graph.value
    assert re.findall(r'data-stage="(\w+)"', graph) == ["prepare", "train", "evaluate"]
    assert graph.count('class="mj-edge"') == 2 and 'data-state="never run"' in graph
    x = {name: float(x) for name, x in re.findall(r'data-stage="(\w+)"[^>]*><rect x="([\d.]+)"', graph)}
    assert x["prepare"] < x["train"] < x["evaluate"]  # each stage right of what it reads
    assert "<svg" in view._repr_mimebundle_()["text/html"]


def test_a_kernel_without_widget_manager_gets_the_html(project, tmp_path):
    """nbclient runs a real kernel; nbconvert's HTML of the result shows the table."""
    from nbconvert import HTMLExporter

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import mlops_jupyter as mj\nmj.log_metric('rmse', 0.5)\nmj.end_run()"),
        nbformat.v4.new_code_cell("mj.show_runs()"),
    ])
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(project.root)}}).execute()
    (output,) = notebook.cells[1].outputs
    assert WIDGET_VIEW in output["data"] and "metrics.rmse" in output["data"]["text/html"]
    body, _ = HTMLExporter().from_notebook_node(notebook)
    assert "metrics.rmse" in body and "0.5" in body


def test_compare_overlays_the_runs_plots(shell, project):
    import mlops_jupyter as mj

    shell.run_cell("import mlops_jupyter as mj")
    ids = []
    for slope in (1, 2):
        cell = (f"with mj.start_run() as run:\n"
                f"    mj.log_plot('curve', [{{'x': i, 'y': {slope} * i}} for i in range(5)], x='x', y='y')\n"
                f"run_id = run.run_id")
        assert shell.run_cell(cell).error_in_exec is None
        ids.append(shell.user_ns["run_id"])
    comparison = mj.compare(*ids, experiments=False)
    plots = comparison.plots.value
    assert "curve" in plots and plots.count("<svg") == 1  # one chart, both runs in it
    assert all(f"run {run_id[:8]}" in plots for run_id in ids)  # the legend names each run
    assert "curve" in comparison._repr_mimebundle_()["text/html"]

"""Plots in the DVC export: the real `dvc plots show` draws what the notebook drew."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.core import plots
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.execute import run_notebook
from mlops_jupyter.export import export_notebook
from mlops_jupyter.export.dvc import logged_plots

BIN = Path(sys.executable).parent
CELLS = [
    "%load_ext mlops_jupyter\nimport json\nfrom pathlib import Path\n\nimport mlops_jupyter as mj",
    "%%stage evaluate --plots eval/roc.json --plot-x fpr --plot-y tpr --template simple --title ROC "
    "--plots eval/loss.csv --plot-y loss,val_loss -o eval/errors.csv\n"
    'Path("eval").mkdir(exist_ok=True)\n'
    'Path("eval/roc.json").write_text(json.dumps([{"fpr": 0, "tpr": 0}, {"fpr": 0.1, "tpr": 0.8}, {"fpr": 1, "tpr": 1}]))\n'
    'Path("eval/loss.csv").write_text("step,loss,val_loss\\n0,1,1.2\\n1,0.5,0.7\\n2,0.3,0.5\\n")\n'
    'Path("eval/errors.csv").write_text("step,errors\\n0,9\\n1,4\\n2,2\\n")\n'
    'mj.log_sklearn_plot("confusion_matrix", [0, 1, 1, 2, 2], [0, 1, 2, 2, 2])\n'
    'mj.log_plot("importance", [{"feature": "a", "value": 0.6}, {"feature": "b", "value": 0.4}], x="value", '
    'y="feature", template="bar_horizontal_sorted")\n'
    'mj.log_plot(f"computed_{1}", [{"a": 1}])',
]
PLOTS_YAML = "plots:\n  - errors:\n      x: step\n      y: {eval/errors.csv: errors}\n      title: Errors per epoch\n"


def tool(folder: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=folder, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots") / "proj"
    root.mkdir()
    init_project(root)
    (root / "plots.yaml").write_text(PLOTS_YAML)
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), root / "nb.ipynb")
    assert run_notebook(root / "nb.ipynb", progress=False).error is None
    result = export_notebook(root / "nb.ipynb", "dvc")
    tool(root, "dvc", "init", "--no-scm", "-q")
    tool(root, "dvc", "repro")
    return root, result


def test_dvc_yaml_carries_the_plot_definitions(exported):
    root, result = exported
    document = yaml.safe_load((root / "dvc.yaml").read_text())
    stage = document["stages"]["evaluate"]
    assert stage["plots"] == [
        {"eval/roc.json": {"template": "simple", "x": "fpr", "y": "tpr", "title": "ROC"}},
        {"logged/plots/evaluate/confusion_matrix.json": {"cache": False, "template": "confusion", "x": "actual",
                                                         "y": "predicted"}},
        {"logged/plots/evaluate/importance.json": {"cache": False, "template": "bar_horizontal_sorted", "x": "value",
                                                   "y": "feature"}},
    ]
    assert "eval/loss.csv" in stage["outs"] and "eval/errors.csv" in stage["outs"]  # drawn by the top-level plots
    assert document["plots"] == [
        {"errors": {"x": {"eval/errors.csv": "step"}, "y": {"eval/errors.csv": "errors"}, "title": "Errors per epoch"}},
        {"eval/loss.csv": {"y": ["loss", "val_loss"]}},
    ]
    assert any("line 7 is not in dvc.yaml: give log_plot literal arguments" in note for note in result.notes), result.notes


def test_dvc_plots_show_draws_every_plot(exported):
    root, _ = exported
    data = json.loads(tool(root, "dvc", "plots", "show", "--json"))
    assert not data.get("errors"), data["errors"]
    ids = set(data["data"])
    assert ids == {"eval/roc.json", "logged/plots/evaluate/confusion_matrix.json",
                   "logged/plots/evaluate/importance.json", "errors", "eval/loss.csv"}
    for plot_id, renders in data["data"].items():
        assert renders and all(r["type"] == "vega" for r in renders), plot_id
    tool(root, "dvc", "plots", "show", "-o", "dvc_plots")
    page = (root / "dvc_plots" / "index.html").read_text()
    for plot_id in ids:
        assert f"vegaEmbed('#{plot_id.replace('/', '_').replace('.', '_')}'" in page


def test_the_exported_run_records_its_plots_as_the_notebook_did(exported):
    root, _ = exported
    with RunStore(root / ".mlops" / "runs.db") as store:
        runs = store.search(stage="evaluate")
        exported_run = next(r for r in runs if r.tags.get("exported") == "true")
        notebook_run = next(r for r in runs if r.tags.get("exported") != "true")
        objects = ObjectStore(root / ".mlops" / "cache")
        ids = [[p.plot.id for p in plots.run_plots(store, objects, r.run.id)] for r in (notebook_run, exported_run)]
    assert ids[0] == ids[1] == ["confusion_matrix", "importance", "computed_1", "eval/roc.json", "eval/loss.csv",
                                "errors"]
    assert json.loads((root / "logged/plots/evaluate/importance.json").read_text())[0] == {"feature": "a", "value": 0.6}


def test_logged_plots_are_read_from_literal_calls():
    found, notes = logged_plots(
        'mj.log_plot("loss", rows, x="step", y=["loss", "val"], title="Loss")\n'
        'mj.log_sklearn_plot("roc", y, s, name="roc_1")\n'
        'log_sklearn_plot("confusion_matrix", y, p, normalized=True)\n'
        'mj.log_plot(name, rows)\n', "cell 2")
    assert [(p.id, p.template_name, p.x_of(p.id), p.y_of(p.id), p.title) for p in found] == [
        ("loss", "linear", "step", ["loss", "val"], "Loss"), ("roc_1", "simple", "fpr", ["tpr"], None),
        ("confusion_matrix", "confusion_normalized", "actual", ["predicted"], None)]
    assert notes == ["cell 2: the plot logged on line 4 is not in dvc.yaml: give log_plot literal arguments "
                     "(a name, x=, y=, template=)"]

"""Stage states and every staleness reason, computed without executing anything."""

import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.cli import main
from mlops_jupyter.core.graph import load
from mlops_jupyter.core.status import pipeline_status
from mlops_jupyter.core.store import RunStore

CELLS = [
    "%%stage prepare -p prepare -d raw.csv\nrows = open('raw.csv').read().split()[: params.prepare.n]",
    "%%stage train -p train -o model.txt\nopen('model.txt', 'w').write(str(len(rows) * params.train.k))",
    "%%stage report -d model.txt\nreport = open('model.txt').read()",
]


@pytest.fixture
def pipeline(project, shell, monkeypatch):
    Path("raw.csv").write_text("a b c d")
    Path("params.yaml").write_text("prepare:\n  n: 3\ntrain:\n  k: 10\n")
    path = project.root / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), path)
    monkeypatch.setenv("MLOPS_JUPYTER_NOTEBOOK", str(path))
    return path


def run_all(shell, cells=CELLS):
    for cell in cells:
        assert shell.run_cell(cell).success


def states(project, path):
    with RunStore(project.db_path) as store:
        return {s.stage: (s.state, list(s.reasons)) for s in pipeline_status(load(path), path, project, store)}


def test_never_run_then_fresh(project, shell, pipeline):
    assert states(project, pipeline) == {name: ("never run", []) for name in ("prepare", "train", "report")}
    run_all(shell)
    assert states(project, pipeline) == {name: ("fresh", []) for name in ("prepare", "train", "report")}


def test_param_change_names_the_key_and_values(project, shell, pipeline):
    run_all(shell)
    Path("params.yaml").write_text("prepare:\n  n: 3\ntrain:\n  k: 20\n")
    assert states(project, pipeline) == {
        "prepare": ("fresh", []),
        "train": ("stale", ["param train.k 10 → 20"]),
        "report": ("stale", ["upstream train stale"]),
    }


def test_code_change(project, shell, pipeline):
    run_all(shell)
    nb = nbformat.read(pipeline, as_version=4)
    nb.cells[2].source += "\nreport = report.upper()"
    nbformat.write(nb, pipeline)
    assert states(project, pipeline)["report"] == ("stale", ["code changed"])
    nb.cells[2].source = CELLS[2].replace("report = ", "report   =   ") + "  # only a comment"
    nbformat.write(nb, pipeline)
    assert states(project, pipeline)["report"] == ("fresh", [])  # formatting and comments do not count


def test_dep_changed_and_missing(project, shell, pipeline):
    run_all(shell)
    Path("raw.csv").write_text("a b c d e")
    assert states(project, pipeline)["prepare"] == ("stale", ["dep raw.csv changed"])
    Path("raw.csv").unlink()
    assert states(project, pipeline)["prepare"] == ("stale", ["dep raw.csv missing"])


def test_out_changed_and_missing(project, shell, pipeline):
    """A tampered or missing out is checked out again by the next run: the stage restores."""
    run_all(shell)
    train_run = latest(project, "train")[:8]
    Path("model.txt").write_text("tampered")
    assert states(project, pipeline)["train"] == ("cached", ["out model.txt changed", f"restores run {train_run}"])
    assert states(project, pipeline)["report"] == ("fresh", [])  # it reads model.txt as train restores it
    Path("model.txt").unlink()
    assert states(project, pipeline)["train"] == ("cached", ["out model.txt missing", f"restores run {train_run}"])
    with RunStore(project.db_path) as store:
        store.conn.execute("DELETE FROM stage_cache")
    assert states(project, pipeline)["train"] == ("stale", ["out model.txt missing"])
    assert states(project, pipeline)["report"] == ("stale", ["dep model.txt missing", "upstream train stale"])


def test_failed_and_running(project, shell, pipeline, tracker):
    run_all(shell)
    shell.run_cell(CELLS[1].replace("str(len(rows)", "str(1 / 0"))
    assert states(project, pipeline)["train"] == ("failed", [f"last run {latest(project, 'train')[:8]} failed"])
    run = tracker.start_run(stage="report", notebook="nb.ipynb")
    assert states(project, pipeline)["report"][0] == "running"
    run.end()


def latest(project, stage):
    with RunStore(project.db_path) as store:
        return store.search(stage=stage, limit=1)[0].run.id


def test_status_and_dag_commands(project, shell, pipeline):
    run_all(shell)
    Path("params.yaml").write_text("prepare:\n  n: 2\ntrain:\n  k: 10\n")
    runner = CliRunner()
    out = runner.invoke(main, ["status", str(pipeline)]).output
    assert out.splitlines() == [
        "prepare  stale      param prepare.n 3 → 2",
        "train    stale      upstream prepare stale",
        "report   stale      upstream train stale",
    ]
    data = json.loads(runner.invoke(main, ["status", str(pipeline), "--json"]).output)
    assert data["prepare"]["reasons"] == ["param prepare.n 3 → 2"] and data["report"]["state"] == "stale"
    mermaid = runner.invoke(main, ["dag", str(pipeline), "--mermaid"]).output
    assert 's_prepare -->|"rows"| s_train' in mermaid and 's_train -->|"model.txt"| s_report' in mermaid
    assert "style s_prepare fill:#fff3cd" in mermaid
    assert "digraph pipeline" in runner.invoke(main, ["dag", str(pipeline), "--dot"]).output


def test_mlops_status_magic_knows_its_notebook(project, shell, pipeline, capsys):
    run_all(shell)
    assert shell.run_cell("%mlops status").success
    assert "report   fresh" in capsys.readouterr().out

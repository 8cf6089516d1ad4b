"""Exported pipelines run wherever they are written, and their runs are the notebook's runs.

Each placement of ``-o`` (the project root, a subfolder, a folder outside the project) is run by
the real DVC (``dvc repro``) or the real Airflow (``airflow dags test``), through the command the
CLI prints, and the runs it records in the project's store are compared with the notebook's own.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.cli import main
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.execute import run_notebook

BIN = Path(sys.executable).parent
AIRFLOW_BIN = Path(os.environ.get("MLOPS_TEST_AIRFLOW_PYTHON", Path(__file__).parent.parent / ".venv-airflow/bin/python")).parent

CELLS = [
    "%load_ext mlops_jupyter\nimport json\nfrom pathlib import Path\n\nimport mlops_jupyter as mj",
    "MIN_WORDS = 2  # read by prepare",
    "%%stage prepare -d data/posts.tsv -p prepare\n"
    'rows = [line.split("\\t") for line in Path("data/posts.tsv").read_text().splitlines()]\n'
    "posts = [text for _, text in rows if len(text.split()) >= MIN_WORDS][: params.prepare.limit]\n"
    'print(len(posts), "posts")',
    "%%stage score -p score -m eval/metrics.json\n"
    "# no Airflow DAG here, though Airflow would take a file saying so for one\n"
    "long = [p for p in posts if len(p) > params.score.min_chars]\n"
    'mj.log_metric("long_posts", len(long))\n'
    'Path("eval").mkdir(exist_ok=True)\n'
    'Path("eval/metrics.json").write_text(json.dumps({"share": round(len(long) / len(posts), 4)}))',
    "MIN_WORDS = 100  # exploration below the stages: no part of the pipeline",
]
POSTS = ["a tiny post", "one", "a somewhat longer post with more words", "two words", "x", "the longest post of them all, by far"]


@pytest.fixture(scope="module")
def notebook_project(tmp_path_factory):
    """A project whose notebook ran once in a real kernel (its runs are in the project's store)."""
    root = tmp_path_factory.mktemp("placements") / "proj"
    root.mkdir()
    init_project(root)
    (root / "data").mkdir()
    (root / "data" / "posts.tsv").write_text("".join(f"{i}\t{text}\n" for i, text in enumerate(POSTS)))
    (root / "params.yaml").write_text("prepare:\n  limit: 50\nscore:\n  min_chars: 10\n")
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), root / "nb.ipynb")
    result = run_notebook(root / "nb.ipynb", progress=False)
    assert result.error is None
    return root


@pytest.fixture
def project(notebook_project, tmp_path):
    """A copy of the project with the notebook's runs and no outputs: each test exports it afresh."""
    root = tmp_path / "proj"
    shutil.copytree(notebook_project, root, ignore=shutil.ignore_patterns("eval"))
    return root


def export(*args):
    result = CliRunner().invoke(main, ["export", *map(str, args)])
    return result.exit_code, result.output


def printed_command(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("run it with: ")]
    assert len(lines) == 1, output
    return lines[0].removeprefix("run it with: ")


def run_printed(command: str, cwd: Path, **env):
    """The printed command in a shell, with the tools first on PATH and nothing else configured."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_"))}
    path = os.pathsep.join([str(AIRFLOW_BIN), str(BIN), os.environ["PATH"]])
    result = subprocess.run(["bash", "-c", command], cwd=cwd, env={**clean, "PATH": path, **env},
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{command}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def runs_by_stage(root: Path) -> tuple[dict, dict]:
    """(notebook runs, exported runs) of the project's store, each {stage: RunDetail} (latest)."""
    notebook, exported = {}, {}
    with RunStore(root / ".mlops" / "runs.db") as store:
        for summary in store.search():  # newest first
            detail = store.get_run(summary.run.id)
            into = exported if detail.tags.get("exported") == "true" else notebook
            into.setdefault(detail.run.stage, detail)
    return notebook, exported


def assert_same_record(root: Path, folder: Path):
    """The exported runs are recorded as the notebook's are, in the project's store."""
    notebook, exported = runs_by_stage(root)
    assert set(exported) == {"prepare", "score"}
    for stage, mine in exported.items():
        theirs = notebook[stage]
        assert mine.run.status == "finished"
        assert (mine.run.notebook, mine.run.cell_id, mine.run.code_hash, mine.code) == (
            theirs.run.notebook, theirs.run.cell_id, theirs.run.code_hash, theirs.code)
        assert mine.run.notebook == "nb.ipynb" and mine.run.cell_id
        assert mine.params == theirs.params and mine.params
        assert mine.metrics == theirs.metrics
    assert exported["score"].metrics == {"long_posts": 3.0, "share": 0.75}
    assert [(e.upstream_run_id, e.via, e.kind) for e in exported["score"].lineage] == [
        (exported["prepare"].run.id, "posts", "variable")]
    outs = {a.name: a.hash for a in exported["score"].artifacts if a.kind == "out"}
    assert outs["eval/metrics.json"] == {a.name: a.hash for a in notebook["score"].artifacts}["eval/metrics.json"]
    assert json.loads((root / "eval" / "metrics.json").read_text()) == {"share": 0.75}
    if folder != root:
        assert not (folder / ".mlops").exists()


def placements(root: Path, where: str) -> Path:
    return {"root": root, "subfolder": root / "pipelines", "outside": root.parent / "elsewhere"}[where]


@pytest.mark.parametrize("where", ["root", "subfolder"])
def test_dvc_repro_runs_the_export_wherever_it_is_in_the_project(project, where):
    folder = placements(project, where)
    code, output = export(project / "nb.ipynb", "--to", "dvc", "-o", folder)
    assert code == 0, output
    ran = run_printed(printed_command(output), project.parent)
    assert "Running stage 'prepare'" in ran and "Running stage 'score'" in ran
    assert_same_record(project, folder)
    shown = json.loads(run_printed("dvc metrics show --json", folder))[""]["data"]
    values = {key: value for file in shown.values() for key, value in file["data"].items()}
    assert values == {"share": 0.75, "long_posts": 3}
    again = run_printed("dvc repro", folder)
    assert "Data and pipelines are up to date" in again


def test_dvc_export_outside_the_project_is_refused_in_one_line(project):
    folder = placements(project, "outside")
    code, output = export(project / "nb.ipynb", "--to", "dvc", "-o", folder)
    assert code == 1
    assert output.count("\n") == 1 and output.startswith("Error: ") and "inside" in output, output
    assert not folder.exists()


@pytest.mark.parametrize("where", ["root", "subfolder", "outside"])
def test_airflow_dag_runs_wherever_it_is_written_with_the_printed_command(project, where, tmp_path):
    if not AIRFLOW_BIN.exists():
        pytest.skip(f"Airflow's venv {AIRFLOW_BIN} is missing (bash .ci/run builds it)")
    folder = placements(project, where)
    code, output = export(project / "nb.ipynb", "--to", "airflow", "-o", folder)
    assert code == 0, output
    home = tmp_path / "airflow-home"  # a fresh Airflow: nothing configured, no database
    run_printed(printed_command(output), tmp_path, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    assert_same_record(project, folder)
    bag = subprocess.run([str(AIRFLOW_BIN / "python"), "-c", DAGBAG, str(folder)], capture_output=True, text=True,
                         env={**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert json.loads(bag.stdout.splitlines()[-1]) == {"dags": ["nb"], "errors": []}, bag.stderr[-3000:]


DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"dags": sorted(bag.dags), "errors": sorted(bag.import_errors)}))
"""

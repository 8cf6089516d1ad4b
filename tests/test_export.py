"""Export of the example notebook, run by the real DVC and the real Airflow."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.core.store import RunStore
from mlops_jupyter.execute import run_notebook
from mlops_jupyter.export import ExportError, export_notebook

EXAMPLES = Path(__file__).parent.parent / "examples"
BIN = Path(sys.executable).parent
AIRFLOW_PYTHON = Path(os.environ.get("MLOPS_TEST_AIRFLOW_PYTHON", Path(__file__).parent.parent / ".venv-airflow/bin/python"))


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example, run once in a real kernel: its folder and the metrics its evaluate run logged."""
    folder = tmp_path_factory.mktemp("export") / "wine"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("runs.db*", "cache", "eval", "out", "mlops.lock", "*.lck"))
    result = run_notebook(folder / "wine.ipynb", output=folder / "executed.ipynb", progress=False)
    assert result.error is None
    with RunStore(folder / ".mlops" / "runs.db") as store:
        evaluate = store.search(stage="evaluate", limit=1)[0]
    return folder, {k: evaluate.metrics[k] for k in ("accuracy", "f1_macro")}


def tool_env(**extra):
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def dvc(folder, *args):
    result = subprocess.run([str(BIN / "dvc"), *args], cwd=folder, env=tool_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_dvc_repro_reproduces_the_notebook(example):
    folder, notebook_metrics = example
    export_notebook(folder / "wine.ipynb", "dvc")
    dvc(folder, "init", "--no-scm", "-q")
    first = dvc(folder, "repro")
    assert [line for line in first.splitlines() if line.startswith("Running stage")] == [
        "Running stage 'prepare':", "Running stage 'train':", "Running stage 'evaluate':"]
    assert json.loads((folder / "eval" / "metrics.json").read_text()) == notebook_metrics
    again = dvc(folder, "repro")
    assert "Running stage" not in again and "Data and pipelines are up to date" in again
    params = folder / "params.yaml"
    params.write_text(params.read_text().replace("n_est: 300", "n_est: 120"))
    changed = dvc(folder, "repro")
    assert [line for line in changed.splitlines() if line.startswith("Running stage")] == [
        "Running stage 'train':", "Running stage 'evaluate':"]
    assert "Stage 'prepare' didn't change, skipping" in changed
    params.write_text(params.read_text().replace("n_est: 120", "n_est: 300"))


def test_export_is_deterministic_and_safe_to_repeat(example, tmp_path):
    folder, _ = example
    copies = [tmp_path / "a", tmp_path / "b"]
    for copy in copies:  # the same notebook in two places, exported into a subfolder of each
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".mlops", "airflow-home", "eval", "vars"))
    first = export_notebook(copies[0] / "wine.ipynb", "dvc", copies[0] / "pipeline")
    export_notebook(copies[1] / "wine.ipynb", "dvc", copies[1] / "pipeline")
    again = export_notebook(copies[0] / "wine.ipynb", "dvc", copies[0] / "pipeline")
    assert again.written == () and set(again.unchanged) == set(first.written)
    for name in first.written:
        assert (copies[0] / "pipeline" / name).read_bytes() == (copies[1] / "pipeline" / name).read_bytes()
    stages = ("prepare", "train", "evaluate")
    assert {"stages/common.py", "dvc.yaml", *(f"stages/{s}.{ext}" for s in stages for ext in ("py", "json"))} == set(first.written)
    common = (copies[0] / "pipeline" / "stages" / "common.py").read_text()
    assert "from sklearn.ensemble import RandomForestClassifier" in common and "mj.runs(" not in common
    train = (copies[0] / "pipeline" / "stages" / "train.py").read_text()
    assert "from common import RandomForestClassifier, StratifiedKFold, accuracy_score, clone, mj, np\n" in train
    assert "train = stage.load('prepare', 'train')" in train and "stage.save('model', model)" in train
    assert any("stays in the notebook" in note for note in first.notes)


def test_shell_escapes_are_translated_and_magics_reported(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("%load_ext mlops_jupyter\nimport os"),
        new_code_cell("%%stage s\n!echo hi > out.txt\nfiles = !ls\n%matplotlib inline\nn = len(files)"),
    ]), path)
    export_notebook(path, "dvc")
    script = (tmp_path / "stages" / "s.py").read_text()
    assert "subprocess.run('echo hi > out.txt', shell=True, check=True)" in script
    assert "files = subprocess.run('ls', shell=True, check=True, capture_output=True, text=True).stdout.splitlines()" in script
    assert "pass  # %matplotlib inline" in script
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source += "\n%timeit n + 1"
    nbformat.write(nb, path)
    with pytest.raises(ExportError, match=r"cell 2 \(stage 's'\): line 6: %timeit cannot run outside IPython"):
        export_notebook(path, "dvc")


def test_a_name_only_a_plain_cell_computes_is_refused(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("data = list(range(5))"), new_code_cell("%%stage s\nn = len(data)")]), path)
    with pytest.raises(ExportError, match="stage 's'.* reads data, which no stage above it"):
        export_notebook(path, "airflow")


def airflow(folder, code, *args, timeout=600):
    if not AIRFLOW_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Airflow's venv {AIRFLOW_PYTHON} is missing: .ci/run builds it")
        pytest.skip(f"Airflow's venv {AIRFLOW_PYTHON} is missing (bash .ci/run builds it)")
    home = folder / "airflow-home"
    home.mkdir(exist_ok=True)
    env = tool_env(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__CORE__DAGS_FOLDER=str(folder), AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY="1")
    result = subprocess.run([str(AIRFLOW_PYTHON), "-c", code, *args], cwd=folder, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


DAGBAG = """
import json, sys
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("wine")
report = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "tasks": sorted(dag.task_ids),
          "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
          "retries": {t.task_id: t.retries for t in dag.tasks}, "catchup": dag.catchup}
if len(sys.argv) > 2:
    report["state"] = str(dag.test().state)
print(json.dumps(report))
"""


def test_airflow_dag_loads_and_runs_like_the_notebook(example, tmp_path):
    folder, notebook_metrics = example
    for leftover in ("eval", "vars"):
        shutil.rmtree(folder / leftover, ignore_errors=True)
    export_notebook(folder / "wine.ipynb", "airflow", retries=2)
    from mlops_jupyter.core.graph import load

    graph = load(folder / "wine.ipynb")
    loaded = airflow(folder, DAGBAG, str(folder))
    assert loaded["errors"] == {}
    assert loaded["tasks"] == sorted(graph.order)
    assert set(map(tuple, loaded["edges"])) == {(e.upstream, e.downstream) for e in graph.edges}
    assert loaded["retries"] == {"prepare": 2, "train": 2, "evaluate": 2} and loaded["catchup"] is False
    migrate = subprocess.run([str(AIRFLOW_PYTHON.parent / "airflow"), "db", "migrate"], cwd=folder, capture_output=True,
                             text=True, env=tool_env(AIRFLOW_HOME=str(folder / "airflow-home"),
                                                     AIRFLOW__CORE__LOAD_EXAMPLES="False",
                                                     AIRFLOW__CORE__DAGS_FOLDER=str(folder)), timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    ran = airflow(folder, DAGBAG, str(folder), "test")
    assert ran["state"] == "success"
    assert json.loads((folder / "eval" / "metrics.json").read_text()) == notebook_metrics


@pytest.mark.parametrize("problem", ["output under a file", "stage reads a name defined below it"])
def test_export_mistakes_are_one_line_errors(tmp_path, problem):
    from click.testing import CliRunner

    from mlops_jupyter.cli import main

    path = tmp_path / "nb.ipynb"
    cells = ["%%stage s\nn = helper()", "def helper():\n    return 1"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in (cells if "below" in problem else cells[::-1])]), path)
    (tmp_path / "afile").write_text("")
    output = tmp_path / ("out" if "below" in problem else "afile/sub")
    result = CliRunner().invoke(main, ["export", str(path), "--to", "airflow", "-o", str(output)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output

"""End to end in real kernels through nbclient: `mlops-jupyter run` twice, fresh kernels each time."""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.cli import main
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.execute import run_notebook

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
BUMP = "Path('counter.txt').write_text(str(int(Path('counter.txt').read_text()) + 1 if Path('counter.txt').exists() else 1))\n"


@pytest.fixture
def notebook(project):
    Path("params.yaml").write_text("make:\n  n: 5\nuse:\n  factor: 2\n")
    Path("img.png").write_bytes(base64.b64decode(PNG_B64))
    cells = [
        new_code_cell("%load_ext mlops_jupyter\nfrom pathlib import Path\nfrom IPython.display import Image, display\nimport numpy as np"),
        new_code_cell(
            "%%stage make -p make -o out/data.txt\n" + BUMP +
            "print('made', params.make.n)\n"
            "display(Image(filename='img.png'))\n"
            "Path('out').mkdir(exist_ok=True); Path('out/data.txt').write_text('x' * params.make.n)\n"
            "arr = np.arange(params.make.n)\n"
            "arr.sum()"
        ),
        new_code_cell("%%stage use -p use -d out/data.txt\nscaled = arr * params.use.factor\nprint(scaled.tolist())"),
        new_code_cell("print('after', scaled.sum(), Path('out/data.txt').read_text())"),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    path = project.root / "pipe.ipynb"
    nbformat.write(nb, path)
    return path


def outputs(path):
    nb = nbformat.read(path, as_version=4)
    result = []
    for cell in nb.cells[1:]:
        kept = []
        for o in cell.outputs:
            if o.output_type == "stream":
                text = "".join(line for line in o.text.splitlines(True) if "restored from run" not in line)
                if text:
                    kept.append(("stream", text))
            else:
                kept.append((o.output_type, json.dumps(o.get("data"), sort_keys=True)))
        result.append(kept)
    return result


def counter():
    return int(Path("counter.txt").read_text())


def statuses(result):
    return {o.stage: o.status for o in result.outcomes}


def test_fresh_kernels_restore_outputs_variables_and_outs(project, notebook, tmp_path):
    first = run_notebook(notebook, output=tmp_path / "first.ipynb", progress=False)
    assert first.error is None and statuses(first) == {"make": "ran", "use": "ran"}
    assert counter() == 1
    kinds = [kind for kind, _ in outputs(tmp_path / "first.ipynb")[0]]
    assert kinds == ["stream", "display_data", "execute_result"]

    Path("out/data.txt").unlink()
    second = run_notebook(notebook, output=tmp_path / "second.ipynb", progress=False)
    assert second.error is None and statuses(second) == {"make": "restored", "use": "restored"}
    assert counter() == 1  # no body ran
    assert outputs(tmp_path / "second.ipynb") == outputs(tmp_path / "first.ipynb")  # same outputs, same order
    after = nbformat.read(tmp_path / "second.ipynb", as_version=4).cells[3].outputs[0].text
    assert after.strip() == "after 20 xxxxx"  # variables and the out file came back
    restored = nbformat.read(tmp_path / "second.ipynb", as_version=4).cells[1].outputs
    assert restored[-1].output_type == "execute_result" and restored[-1].data["text/plain"] == "np.int64(10)"


def test_param_override_reruns_exactly_the_affected_stage(project, notebook, tmp_path):
    run_notebook(notebook, output=tmp_path / "a.ipynb", progress=False)
    changed = run_notebook(notebook, overrides={"use.factor": 3}, output=tmp_path / "b.ipynb", progress=False)
    assert statuses(changed) == {"make": "restored", "use": "ran"}
    upstream = run_notebook(notebook, overrides={"make.n": 6}, output=tmp_path / "c.ipynb", progress=False)
    assert statuses(upstream) == {"make": "ran", "use": "ran"}  # and everything downstream of it
    assert counter() == 2
    assert Path("params.yaml").read_text() == "make:\n  n: 5\nuse:\n  factor: 2\n"  # never edited


def test_runs_know_their_notebook_cell_and_lineage(project, notebook, tmp_path):
    run_notebook(notebook, output=tmp_path / "a.ipynb", progress=False)
    cell_ids = [c.id for c in nbformat.read(notebook, as_version=4).cells]
    with RunStore(project.db_path) as store:
        make, use = (store.search(stage=s)[0] for s in ("make", "use"))
        detail = store.get_run(use.run.id)
    assert make.run.notebook == use.run.notebook == "pipe.ipynb"
    assert (make.run.cell_id, use.run.cell_id) == (cell_ids[1], cell_ids[2])
    assert {(e.upstream_run_id, e.via, e.kind) for e in detail.lineage} == {
        (make.run.id, "arr", "variable"), (make.run.id, "out/data.txt", "file")}
    assert {a.kind for a in store_artifacts(project, make.run.id)} >= {"figure", "out", "variable"}


def store_artifacts(project, run_id):
    with RunStore(project.db_path) as store:
        return store.get_run(run_id).artifacts


def test_failing_cell_stops_the_run_with_one_line(project, notebook, tmp_path):
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[2].source = "%%stage use -p use\nraise ValueError('bad data')"
    nbformat.write(nb, notebook)
    result = CliRunner().invoke(main, ["run", str(notebook), "-q", "-o", str(tmp_path / "x.ipynb")])
    assert result.exit_code == 1
    assert "Error: the notebook stopped at an error: ValueError: bad data" in result.output
    assert re.search(r"^use\s+failed", result.output, re.M)
    with RunStore(project.db_path) as store:
        assert store.search(stage="use")[0].run.status == "failed"


def test_cli_run_prints_a_summary(project, notebook, tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["run", str(notebook), "-q", "-o", str(tmp_path / "x.ipynb")])
    assert first.exit_code == 0, first.output
    assert "2 ran in" in first.output
    second = runner.invoke(main, ["run", str(notebook), "-q", "-o", str(tmp_path / "y.ipynb")])
    assert "2 restored in" in second.output and "restored" in second.output.splitlines()[2]


def test_a_pickled_variable_restored_in_a_fresh_kernel_keeps_downstream_cached(project, tmp_path):
    """An estimator (pickled) made by one stage and read by the next: after a fresh kernel
    restores the first, the second must hit too, though pickle bytes differ between processes."""
    cells = [
        new_code_cell("%load_ext mlops_jupyter"),
        new_code_cell("%%stage fit\nfrom sklearn.ensemble import RandomForestClassifier\n"
                      "from sklearn.datasets import load_wine\nX, y = load_wine(return_X_y=True, as_frame=True)\n"
                      "model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)"),
        new_code_cell("%%stage score\nscore = model.score(X, y)\nprint(score)"),
    ]
    path = project.root / "pickled.ipynb"
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                      "language": "python"}}), path)
    assert statuses(run_notebook(path, output=tmp_path / "1.ipynb", progress=False)) == {"fit": "ran", "score": "ran"}
    for attempt in (2, 3):
        again = run_notebook(path, output=tmp_path / f"{attempt}.ipynb", progress=False)
        assert statuses(again) == {"fit": "restored", "score": "restored"}, attempt


def write_notebook(path, cells):
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata=meta), path)
    return path


def test_notebook_code_hits_in_a_fresh_kernel(project, tmp_path):
    """Functions and classes of the notebook hash the same in every kernel (no file names, line
    numbers or per-process ids), so a fresh kernel restores stages that read them."""
    path = write_notebook(project.root / "code.ipynb", [
        "%load_ext mlops_jupyter",
        "SCALE = 3\ndef helper(x):\n    return x * SCALE\nclass Model:\n    def __init__(self, k):\n        self.k = k\n"
        "    def predict(self, x):\n        return helper(x) + self.k",
        "%%stage build\nmodel = Model(2)",
        "%%stage use\nout = model.predict(4)\nprint(out)",
    ])
    assert statuses(run_notebook(path, output=tmp_path / "1.ipynb", progress=False)) == {"build": "ran", "use": "ran"}
    again = run_notebook(path, output=tmp_path / "2.ipynb", progress=False)
    assert statuses(again) == {"build": "restored", "use": "restored"}


def test_two_notebooks_of_one_folder_keep_their_own_lock_entries(project, tmp_path):
    a = write_notebook(project.root / "a.ipynb", ["%load_ext mlops_jupyter", "%%stage train\nx = 1"])
    b = write_notebook(project.root / "b.ipynb", ["%load_ext mlops_jupyter", "%%stage train\nx = 2"])
    for path in (a, b):
        assert run_notebook(path, output=tmp_path / f"{path.stem}.out.ipynb", progress=False).error is None
    runner = CliRunner()
    for path in (a, b):
        result = runner.invoke(main, ["status", str(path), "--json"])
        assert json.loads(result.output)["train"]["state"] == "fresh", (path.name, result.output)
    lock = Path("mlops.lock").read_text()
    assert "a.ipynb:" in lock and "b.ipynb:" in lock


def test_runs_of_nbconvert_know_their_notebook(project, tmp_path):
    path = write_notebook(project.root / "conv.ipynb", ["%load_ext mlops_jupyter", "%%stage only\nx = 1"])
    jupyter = Path(sys.executable).parent / "jupyter"
    done = subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute", str(path),
                           "--output", str(tmp_path / "conv.out.ipynb")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with RunStore(project.db_path) as store:
        [summary] = store.search()
    assert summary.run.notebook == "conv.ipynb"
    assert summary.run.cell_id == nbformat.read(path, as_version=4).cells[1].id

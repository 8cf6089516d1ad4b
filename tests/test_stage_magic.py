"""%%stage in a real IPython shell: runs, restores, re-runs exactly when it must."""

import base64
import re
import os
from pathlib import Path

import numpy as np
import pytest

from mlops_jupyter.core.store import RunStore

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def run(shell, cell):
    result = shell.run_cell(cell)
    return result


def counter(path="counter.txt") -> int:
    return int(Path(path).read_text()) if Path(path).exists() else 0


BUMP = "from pathlib import Path as _P; _P('counter.txt').write_text(str(int(_P('counter.txt').read_text()) + 1 if _P('counter.txt').exists() else 1))\n"


def runs_of(project, stage=None):
    with RunStore(project.db_path) as store:
        return store.search(stage=stage)


def test_first_run_executes_second_restores_in_order(shell, project, capsys):
    (project.root / "img.png").write_bytes(PNG)
    cell = (
        "%%stage make -o data/out.txt\n" + BUMP +
        "from IPython.display import Image, display\n"
        "print('text first')\n"
        "display(Image(filename='img.png'))\n"
        "Path('data').mkdir(exist_ok=True); Path('data/out.txt').write_text('payload')\n"
        "x = np.arange(5)\n"
        "x.sum() * 2"
    )
    shell.user_ns.update(np=np, Path=Path)
    first = run(shell, cell)
    assert first.success and counter() == 1
    assert first.result is None  # the value was shown by the inner cell, live
    out1 = capsys.readouterr().out
    assert "text first" in out1 and "20" in out1
    assert shell.shown[0].get("image/png")

    del shell.user_ns["x"]
    Path("data/out.txt").unlink()
    shell.shown.clear()
    second = run(shell, cell)
    assert second.success and counter() == 1  # the body did not run
    out2 = capsys.readouterr().out
    assert out2.index("text first") < out2.index("restored from run")
    assert "image/png" in shell.shown[0] and base64.b64decode(shell.shown[0]["image/png"]) == PNG
    assert repr(second.result) == "np.int64(20)"  # the execute_result, replayed as the cell's result
    assert list(shell.user_ns["x"]) == [0, 1, 2, 3, 4]
    assert Path("data/out.txt").read_text() == "payload"
    assert len(runs_of(project, "make")) == 1  # a restore is not a new run


def test_restored_out_is_a_copy_not_the_cache(shell, project):
    cell = "%%stage w -o model.bin\nfrom pathlib import Path\nPath('model.bin').write_bytes(b'weights')"
    run(shell, cell)
    Path("model.bin").unlink()
    run(shell, cell)
    with open("model.bin", "ab") as f:  # a user editing the restored file in place
        f.write(b" edited")
    Path("model.bin").unlink()
    run(shell, cell)
    assert Path("model.bin").read_bytes() == b"weights"


def test_param_change_reruns_exactly_the_affected_stages(shell, project):
    Path("params.yaml").write_text("a:\n  k: 1\nb:\n  k: 10\n")
    cells = {
        "one": "%%stage one -p a\n" + BUMP + "u = params.a.k",
        "two": "%%stage two -p b\nv = params.b.k",
        "three": "%%stage three\nw = u + v",
    }
    for cell in cells.values():
        assert run(shell, cell).success
    assert shell.user_ns["w"] == 11
    Path("params.yaml").write_text("a:\n  k: 1\nb:\n  k: 20\n")
    for cell in cells.values():
        run(shell, cell)
    assert counter() == 1  # "one" was restored
    assert [len(runs_of(project, s)) for s in cells] == [1, 2, 2]  # two and its downstream three re-ran
    assert shell.user_ns["w"] == 21


def test_undeclared_param_names_the_flag(shell, project, capsys):
    Path("params.yaml").write_text("train:\n  n: 1\n  lr: 0.1\n")
    result = run(shell, "%%stage t -p train.n\nprint(params.train.lr)")
    assert not result.success
    err = capsys.readouterr()
    assert "add -p train.lr to its %%stage line" in err.out + err.err


def test_dep_file_change_reruns(shell, project):
    Path("data.csv").write_text("a,b\n1,2\n")
    cell = "%%stage load -d data.csv\n" + BUMP + "rows = open('data.csv').read().count(chr(10))"
    run(shell, cell)
    run(shell, cell)
    assert counter() == 1
    Path("data.csv").write_text("a,b\n1,2\n3,4\n")
    run(shell, cell)
    assert counter() == 2 and shell.user_ns["rows"] == 3


def test_dep_folder_change_reruns(shell, project):
    Path("imgs").mkdir()
    for i in range(5):
        Path(f"imgs/{i}.txt").write_text(str(i))
    cell = "%%stage scan -d imgs\n" + BUMP + "n = 1"
    run(shell, cell)
    run(shell, cell)
    assert counter() == 1
    Path("imgs/new.txt").write_text("x")
    run(shell, cell)
    assert counter() == 2


def test_in_place_mutation_is_an_output(shell, project):
    run(shell, "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [4, 5, 6]})")
    cell = "%%stage clean\n" + BUMP + "df.drop(columns='b', inplace=True)"
    run(shell, cell)
    assert list(shell.user_ns["df"].columns) == ["a"]
    with RunStore(project.db_path) as store:
        detail = store.get_run(runs_of(project, "clean")[0].run.id)
    assert "df" in {a.name for a in detail.artifacts if a.kind == "variable"}
    # From the same starting value, the cache gives back the mutated frame without running.
    run(shell, "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [4, 5, 6]})")
    run(shell, cell)
    assert counter() == 1 and list(shell.user_ns["df"].columns) == ["a"]


def test_model_fit_mutation_is_an_output(shell, project):
    run(shell, "from sklearn.linear_model import LinearRegression\nimport numpy as np\nmodel = LinearRegression()")
    cell = "%%stage fit\n" + BUMP + "model.fit(np.arange(10).reshape(-1, 1), np.arange(10) * 3.0)"
    run(shell, cell)
    run(shell, "model = LinearRegression()")
    run(shell, cell)
    assert counter() == 1
    assert shell.user_ns["model"].coef_[0] == pytest.approx(3.0)


def test_corrupted_cache_object_is_detected_and_the_stage_reruns(shell, project, capsys):
    cell = "%%stage big\n" + BUMP + "arr = np.ones(1000)"
    shell.user_ns["np"] = np
    run(shell, cell)
    objects = [p for p in (project.cache_dir).rglob("*") if p.is_file()]
    npy = [p for p in objects if p.read_bytes()[:6] == b"\x93NUMPY"]
    assert npy
    os.chmod(npy[0], 0o644)
    with open(npy[0], "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)  # flip the last value
    shell.user_ns.pop("arr")
    capsys.readouterr()
    run(shell, cell)
    assert counter() == 2  # it ran again
    assert "unusable" in capsys.readouterr().err
    assert shell.user_ns["arr"].sum() == 1000  # never the corrupt value
    shell.user_ns.pop("arr")
    run(shell, cell)
    assert counter() == 2 and shell.user_ns["arr"].sum() == 1000  # cached again, cleanly


def test_unpicklable_output_runs_uncached_with_one_warning(shell, project, capsys):
    cell = "%%stage gen\n" + BUMP + "g = (i for i in range(3))"
    run(shell, cell)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stage 'gen' is not cached: output `g`" in err
    run(shell, cell)
    assert counter() == 2
    assert [s.run.status for s in runs_of(project, "gen")] == ["finished", "finished"]


def test_unhashable_input_runs_uncached_with_one_warning(shell, project, capsys):
    run(shell, "import threading\nlock = threading.Lock()")
    cell = "%%stage uses_lock\n" + BUMP + "with lock:\n    y = 1"
    run(shell, cell)
    run(shell, cell)
    err = capsys.readouterr().err
    assert counter() == 2
    assert "stage 'uses_lock' runs uncached: input `lock`" in err


@pytest.mark.parametrize(
    "line, message",
    [
        ("%%stage", "needs a stage name"),
        ("%%stage 1bad", "must be letters"),
        ("%%stage s --bogus", "unrecognized arguments: --bogus"),
        ("%%stage s -d", "expected one argument"),
        ("%%stage s --retries x", "invalid int value"),
        ("%%stage s --force --no-cache", "--no-cache alone"),
        ("%%stage s -p missing.key", "has no param 'missing.key'"),
        ("%%stage s -d nope.csv", "dep nope.csv does not exist"),
        ("%%stage s 'unclosed", "No closing quotation"),
    ],
)
def test_bad_flags_are_a_usage_error_with_nothing_recorded(shell, project, capsys, line, message):
    Path("params.yaml").write_text("a: 1\n")
    result = run(shell, line + "\n" + BUMP + "z = 1")
    assert not result.success and type(result.error_in_exec).__name__ == "UsageError"
    assert message in str(result.error_in_exec)
    assert counter() == 0 and runs_of(project) == []


def test_raising_stage_records_failed_and_shows_the_users_traceback(shell, project, capsys):
    result = run(shell, "%%stage boom\ndef inner():\n    return 1 / 0\ninner()")
    assert not result.success
    shown = capsys.readouterr()
    text = re.sub(r"\x1b\[[0-9;]*m", "", shown.out + shown.err)
    assert "ZeroDivisionError" in text and "return 1 / 0" in text
    assert "mlops_jupyter" not in text.split("ZeroDivisionError: division by zero")[0]  # no frames of ours
    assert "stage 'boom' failed" in text
    [summary] = runs_of(project, "boom")
    assert summary.run.status == "failed"
    run(shell, "%%stage boom\ndef inner():\n    return 1 / 0\ninner()")
    assert len(runs_of(project, "boom")) == 2  # a failure is never cached


def test_run_records_params_metrics_code_and_lineage(shell, project):
    Path("params.yaml").write_text("train:\n  n: 3\n")
    Path("m.json").write_text("{}")
    run(shell, "%%stage prep\ndata = list(range(10))")
    run(shell, "%%stage train -p train -m scores.json\nimport json, mlops_jupyter as mj\n"
               "total = sum(data) * params.train.n\nmj.log_metric('loss', 0.5)\n"
               "open('scores.json', 'w').write(json.dumps({'acc': 0.9, 'nested': {'f1': 0.8}}))")
    [prep] = runs_of(project, "prep")
    [train] = runs_of(project, "train")
    with RunStore(project.db_path) as store:
        detail = store.get_run(train.run.id)
    assert detail.params == {"train.n": 3}
    assert detail.metrics == {"loss": 0.5, "acc": 0.9, "nested.f1": 0.8}
    assert "total = sum(data)" in detail.code
    assert [(e.upstream_run_id, e.via, e.kind) for e in detail.lineage] == [(prep.run.id, "data", "variable")]
    assert detail.run.fingerprint and len(detail.run.fingerprint) == 64
    assert {a.name: a.kind for a in detail.artifacts} == {"scores.json": "out", "total": "variable"}
    lock = Path("mlops.lock").read_text()
    assert "train:" in lock and "scores.json" in lock and "n: 3" in lock


def test_mj_params_inside_a_stage(shell, project):
    Path("params.yaml").write_text("train:\n  n: 3\n")
    assert run(shell, "%%stage t -p train.n\nimport mlops_jupyter as mj\nseen = mj.params.train.n").success
    assert shell.user_ns["seen"] == 3
    outside = run(shell, "import mlops_jupyter as mj\nmj.params")
    assert not outside.success and "only inside a %%stage cell" in str(outside.error_in_exec)


def test_comment_and_whitespace_changes_keep_the_cache(shell, project):
    run(shell, "%%stage c\n" + BUMP + "value = 1 + 2")
    run(shell, "%%stage c\n" + BUMP + "# a comment\nvalue   =   1+2   # another\n")
    assert counter() == 1


def test_force_and_no_cache(shell, project):
    cell = "%%stage f{flags}\n" + BUMP + "q = 1"
    run(shell, cell.format(flags=""))
    run(shell, cell.format(flags=" --force"))
    assert counter() == 2
    run(shell, cell.format(flags=" --no-cache"))
    run(shell, cell.format(flags=" --no-cache"))
    assert counter() == 4


def test_mlops_line_magic(shell, project, capsys):
    run(shell, "%%stage a\nk = 1")
    run(shell, "%mlops runs")
    assert "a" in capsys.readouterr().out
    assert not run(shell, "%mlops bogus").success
    run(shell, "%mlops experiment other")
    run(shell, "%%stage b\nk2 = 2")
    assert runs_of(project, "b")[0].run.experiment == "other"


def test_a_notebook_defined_class_change_reruns(shell, project):
    """Values of classes defined in the notebook hash with their code, not just their name."""
    run(shell, "class Scaler:\n    def __init__(self):\n        self.k = 2\n    def apply(self, x):\n        return x * self.k\nscaler = Scaler()")
    cell = "%%stage use\n" + BUMP + "y = scaler.apply(3)"
    run(shell, cell)
    run(shell, cell)
    assert counter() == 1
    run(shell, "class Scaler:\n    def __init__(self):\n        self.k = 2\n    def apply(self, x):\n        return x * self.k + 1\nscaler = Scaler()")
    run(shell, cell)
    assert counter() == 2 and shell.user_ns["y"] == 7


def test_a_stage_name_used_by_two_cells_is_one_line(shell, project, capsys):
    shell.kernel = None
    for cell in ("cell-a", "cell-b"):
        shell.parent_header = {"metadata": {"cellId": cell}}
        assert shell.run_cell("%%stage same\nz = 1").success
    shell.parent_header = {}
    err = capsys.readouterr().err
    assert err.count("stage name 'same' is also used by another cell") == 1


def test_a_notebook_whose_stages_do_not_form_a_pipeline_is_one_line(shell, project, capsys, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbformat.write(new_notebook(cells=[new_code_cell("%%stage a --after nowhere\nz = 1")]), "nb.ipynb")
    monkeypatch.setenv("MLOPS_JUPYTER_NOTEBOOK", str(project.root / "nb.ipynb"))
    assert shell.run_cell("%%stage a --after nowhere\nz = 1").success
    assert shell.run_cell("%%stage a --after nowhere\nz = 1").success
    err = capsys.readouterr().err
    assert err.count("runs --after 'nowhere', which is not a stage of this notebook") == 1


def test_our_errors_in_a_cell_are_one_line_naming_the_cell_line(shell, project, capsys):
    result = shell.run_cell("import mlops_jupyter as mj\nx = 1\nmj.log_metric('loss', 'high')")
    assert not result.success
    out = capsys.readouterr()
    text = out.out + out.err
    assert "InvalidValue: metric 'loss' must be a number, got str 'high'" in text and "(line 3)" in text
    assert "Traceback" not in text and "tracking.py" not in text


def test_mlops_push_and_pull_in_the_kernel(shell, project, tmp_path, capsys):
    """%mlops remote/push/pull are the CLI's; a stage's result is pushed as it runs (the shared cache)."""
    remote = tmp_path / "remote"
    run(shell, f"%mlops remote add -d folder {remote}")
    run(shell, "%%stage a\nimport numpy as np\nk = np.arange(3)")
    assert any((remote / "stages").glob("*.json"))  # pushed after the run, by nobody's hand
    assert run(shell, "%mlops push").success
    assert "already there" in capsys.readouterr().out
    (project.root / "d.txt").write_text("data")
    assert run(shell, "%mlops add d.txt").success and run(shell, "%mlops push").success
    (project.root / "d.txt").unlink()
    assert run(shell, "%mlops pull").success
    assert (project.root / "d.txt").read_text() == "data"
    assert not run(shell, "%mlops push -r nowhere").success

"""`status` says what the next run does: it reads plain cells statically (constants, functions,
imports), says "unknown" where only the kernel knows, "uncached" where a stage cannot be cached,
and "cached" where a changed stage restores a result computed before. Each case is checked
against a real run in a fresh kernel."""

import json
from pathlib import Path

import nbformat
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.cli import main
from mlops_jupyter.execute import run_notebook


def write(path, cells):
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata=meta), path)
    return path


def status(path) -> dict[str, tuple[str, list[str]]]:
    result = CliRunner().invoke(main, ["status", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return {k: (v["state"], v["reasons"]) for k, v in json.loads(result.output).items()}


def run(path, tmp_path, **overrides) -> dict[str, str]:
    done = run_notebook(path, output=tmp_path / "out.ipynb", progress=False, overrides=overrides or None)
    assert done.error is None, done.error
    return {o.stage: o.status for o in done.outcomes}


def edit(path, index, old, new):
    nb = nbformat.read(path, as_version=4)
    assert old in nb.cells[index].source
    nb.cells[index].source = nb.cells[index].source.replace(old, new)
    nbformat.write(nb, path)


CELLS = [
    "%load_ext mlops_jupyter\nimport math",
    "threshold = 0.5\n\ndef rmse(a, b, squared=False):\n    d = (a - b) ** 2\n    return d if squared else math.sqrt(d)\n\n"
    "def report(value):\n    return f'{value:.3f}'",
    "%%stage score\nerror = rmse(3.0, 1.0)\nflag = error > threshold\nprint(report(error))",
    "%%stage use\nlabel = 'high' if flag else 'low'",
]


def test_plain_cell_constants_and_functions_count(project, tmp_path):
    path = write(project.root / "nb.ipynb", CELLS)
    assert run(path, tmp_path) == {"score": "ran", "use": "ran"}
    assert status(path) == {"score": ("fresh", []), "use": ("fresh", [])}
    for old, new, reason in [
        ("threshold = 0.5", "threshold = 0.7", "input threshold changed (cell 2)"),
        ("squared=False", "squared=True", "input rmse changed (cell 2)"),
        ("{value:.3f}", "{value:.4f}", "input report changed (cell 2)"),  # a helper the stage calls
    ]:
        edit(path, 1, old, new)
        state, reasons = status(path)["score"]
        assert state == "stale" and reason in reasons, (old, state, reasons)
        assert run(path, tmp_path)["score"] == "ran"  # the run agrees
        assert status(path)["score"] == ("fresh", [])
    edit(path, 1, "threshold = 0.7", "threshold = 0.5")
    assert run(path, tmp_path)["score"] == "ran"
    edit(path, 1, "threshold = 0.5", "threshold = 0.7")  # back to a value computed before
    state, reasons = status(path)["score"]
    assert state == "cached" and reasons[0] == "input threshold changed (cell 2)" and reasons[-1].startswith("restores run")
    assert run(path, tmp_path)["score"] == "restored"
    assert status(path)["use"] == ("fresh", [])


def test_a_two_level_helper_change_makes_the_stage_stale(project, tmp_path):
    path = write(project.root / "nb.ipynb", [
        "%load_ext mlops_jupyter",
        "def inner(x):\n    return x + 1\n\ndef outer(x):\n    return inner(x) * 2",
        "%%stage s\nvalue = outer(1)",
    ])
    run(path, tmp_path)
    edit(path, 1, "x + 1", "x + 2")
    assert status(path)["s"] == ("stale", ["input outer changed (cell 2)"])
    assert run(path, tmp_path) == {"s": "ran"}


def test_kernel_state_is_unknown(project, tmp_path):
    path = write(project.root / "nb.ipynb", [
        "%load_ext mlops_jupyter",
        "rows = [i * 2 for i in range(5)]",
        "%%stage s\ntotal = sum(rows)",
    ])
    run(path, tmp_path)
    assert status(path)["s"] == ("unknown", ["reads kernel state: rows (cell 2)"])


def test_an_override_run_then_status_agrees_with_the_next_run(project, tmp_path):
    Path("params.yaml").write_text("train:\n  n: 300\n")
    path = write(project.root / "nb.ipynb", [
        "%load_ext mlops_jupyter",
        "%%stage train -p train\nmodel = params.train.n * 2",
        "%%stage evaluate\nscore = model + 1",
    ])
    run(path, tmp_path)
    assert run(path, tmp_path, **{"train.n": 150}) == {"train": "ran", "evaluate": "ran"}
    states = status(path)
    assert states["train"][0] == "cached" and "param train.n 150 → 300" in states["train"][1]
    assert states["evaluate"][0] == "cached" and "input model changed (from stage train)" in states["evaluate"][1]
    assert run(path, tmp_path) == {"train": "restored", "evaluate": "restored"}
    assert status(path) == {"train": ("fresh", []), "evaluate": ("fresh", [])}


def test_a_stage_that_cannot_be_cached_says_so(project, tmp_path):
    path = write(project.root / "nb.ipynb", [
        "%load_ext mlops_jupyter",
        "%%stage gen\nnumbers = (i for i in range(3))",
    ])
    run(path, tmp_path)
    state, reasons = status(path)["gen"]
    assert state == "uncached" and reasons[0].startswith("not cacheable: output `numbers`")
    assert run(path, tmp_path) == {"gen": "ran"}

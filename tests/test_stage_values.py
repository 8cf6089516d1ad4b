"""Values of every shape a notebook holds: the stage caches them, or runs uncached with one line —
it never fails after its body ran."""

from pathlib import Path

import pandas as pd

BUMP = "from pathlib import Path as _P; _P('counter.txt').write_text(str(int(_P('counter.txt').read_text()) + 1 if _P('counter.txt').exists() else 1))\n"


def counter() -> int:
    return int(Path("counter.txt").read_text()) if Path("counter.txt").exists() else 0


def test_a_dataframe_with_list_and_dict_cells_is_cached(shell, project, capsys):
    shell.user_ns["pd"] = pd
    make = "%%stage make\n" + BUMP + "df = pd.DataFrame({'tags': [['a', 'b'], [], ['c']], 'meta': [{'k': 1}, {}, {'k': 2}], 'n': [1, 2, 3]})"
    use = "%%stage use\nrows = len(df)"
    for _ in range(2):
        assert shell.run_cell(make).success
        assert shell.run_cell(use).success
    assert counter() == 1  # cached, then restored
    assert shell.user_ns["df"].tags.tolist() == [["a", "b"], [], ["c"]] and shell.user_ns["rows"] == 3
    assert "Traceback" not in capsys.readouterr().err
    shell.user_ns["df"]["tags"].iloc[0].append("z")  # a cell's content counts
    assert shell.run_cell(use).success
    from mlops_jupyter.core.store import RunStore

    with RunStore(project.db_path) as store:
        assert len(store.search(stage="use")) == 2


def test_a_value_that_fails_to_hash_runs_uncached_with_one_line(shell, project, capsys):
    shell.run_cell("class Odd:\n    def __reduce_ex__(self, protocol):\n        raise TypeError('no way')\nodd = Odd()")
    cell = "%%stage uses\n" + BUMP + "seen = odd is not None"
    assert shell.run_cell(cell).success and shell.run_cell(cell).success
    assert counter() == 2 and shell.user_ns["seen"] is True
    err = capsys.readouterr().err
    assert err.count("runs uncached: input `odd`") == 2 and "Traceback" not in err


def test_a_closed_file_left_by_with_open_does_not_turn_caching_off(shell, project, capsys):
    Path("notes.txt").write_text("hello")
    cell = "%%stage read -d notes.txt\n" + BUMP + "with open('notes.txt') as f:\n    text = f.read()"
    assert shell.run_cell(cell).success and shell.run_cell(cell).success
    assert counter() == 1 and shell.user_ns["text"] == "hello"
    assert "not cached" not in capsys.readouterr().err


def test_loop_leftovers_are_not_cached_unless_kept(shell, project):
    cell = "%%stage loop{flags}\n" + BUMP + "total = 0\nfor i, row in enumerate([[1], [2]]):\n    total += row[0]"
    assert shell.run_cell(cell.format(flags="")).success
    for name in ("i", "row", "total"):
        shell.user_ns.pop(name)
    assert shell.run_cell(cell.format(flags="")).success and counter() == 1
    assert shell.user_ns["total"] == 3 and "i" not in shell.user_ns and "row" not in shell.user_ns
    assert shell.run_cell(cell.format(flags=" --keep i")).success
    shell.user_ns.pop("i")
    assert shell.run_cell(cell.format(flags=" --keep i")).success and counter() == 2
    assert shell.user_ns["i"] == 1


def test_figures_already_shown_as_images_are_not_pickled(shell, project):
    shell.run_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                   "from IPython.core.pylabtools import select_figure_formats\n"
                   "select_figure_formats(get_ipython(), {'png'})  # what %matplotlib inline sets up\n"
                   "from IPython.display import display")
    cell = ("%%stage plot\n" + BUMP + "fig, axes = plt.subplots(1, 2)\nlines = axes[0].plot([1, 2, 3])\n"
            "display(fig)\nsummary = {'points': 3}\nplt.close(fig)")
    assert shell.run_cell(cell).success
    from mlops_jupyter.core.store import RunStore

    with RunStore(project.db_path) as store:
        [summary] = store.search()
        variables = {a.name for a in store.get_run(summary.run.id).artifacts if a.kind == "variable"}
    assert variables == {"summary"}
    for name in ("fig", "axes", "lines", "summary"):
        shell.user_ns.pop(name)
    shell.shown.clear()
    assert shell.run_cell(cell).success and counter() == 1
    assert shell.user_ns["summary"] == {"points": 3} and "image/png" in shell.shown[0]


def test_restore_lines_carry_no_timings_unless_asked(shell, project, capsys):
    cell = "%%stage t\nv = 1"
    shell.run_cell(cell)
    shell.run_cell(cell)
    line = [l for l in capsys.readouterr().out.splitlines() if "restored from run" in l][0]
    assert line.endswith("(1 variable)") and "ms" not in line


def test_small_and_large_frames_and_series_come_back_whole(shell, project):
    import numpy as np

    shell.user_ns.update(pd=pd, np=np)
    cell = ("%%stage frames\n" + BUMP + "small = pd.Series([1.5, 2.5], name='s')\n"
            "big = pd.DataFrame({'a': np.arange(200_000), 'b': np.arange(200_000) * 0.5})\nbig_s = big.a.rename('x')")
    assert shell.run_cell(cell).success
    expected = {name: shell.user_ns.pop(name) for name in ("small", "big", "big_s")}
    assert shell.run_cell(cell).success and counter() == 1
    from mlops_jupyter.core.store import RunStore

    with RunStore(project.db_path) as store:
        [summary] = store.search()
        formats = {a.name: a.mime for a in store.get_run(summary.run.id).artifacts if a.kind == "variable"}
    assert formats == {"small": "pickle", "big": "parquet", "big_s": "parquet-series"}
    for name, value in expected.items():
        assert value.equals(shell.user_ns[name]) and type(value) is type(shell.user_ns[name])

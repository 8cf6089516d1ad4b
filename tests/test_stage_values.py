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

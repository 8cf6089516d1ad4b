"""When the machine, not the user, fails (a full disk, a read-only store, a broken mlops.lock), a
stage says so in one line and loses nothing: a body that ran is recorded as finished, nothing
half-written is ever restored."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.kernel import tracking

from .conftest import make_shell

BUMP = "from pathlib import Path as _P; _P('counter.txt').write_text(str(int(_P('counter.txt').read_text()) + 1 if _P('counter.txt').exists() else 1))\n"


def counter() -> int:
    return int(Path("counter.txt").read_text()) if Path("counter.txt").exists() else 0


@pytest.fixture
def disk_shell(small_disk, monkeypatch):
    """A shell whose project (store, cache) lives on the small disk."""
    project, _ = init_project(small_disk / "proj")
    monkeypatch.chdir(project.root)
    monkeypatch.delenv("MLOPS_JUPYTER_DIR", raising=False)
    fresh = tracking.Tracker()
    monkeypatch.setattr(tracking, "TRACKER", fresh)
    ip = make_shell()
    ip.user_ns["np"] = np
    yield ip, project
    ip.display_pub.__dict__.pop("publish", None)
    fresh.shutdown()
    for store, _ in fresh._stores.values():
        store.close()


def test_a_full_disk_while_caching_keeps_the_run_and_says_so_once(disk_shell, capsys):
    shell, project = disk_shell
    cell = "%%stage big\n" + BUMP + "big = np.ones(3_000_000)\nsmall = 1"  # 24 MB on a 16 MB disk
    result = shell.run_cell(cell)
    assert result.success, result.error_in_exec
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "not cached" in lines[0] and "space" in lines[0], err
    assert shell.user_ns["big"].shape == (3_000_000,) and shell.user_ns["small"] == 1
    with RunStore(project.db_path) as store:
        [summary] = store.search()
        assert summary.run.status == "finished"
        assert store.conn.execute("SELECT COUNT(*) FROM stage_cache").fetchone()[0] == 0
    assert not list(project.cache_dir.glob(".tmp-*"))  # the half-written object is gone
    assert "uncached:" in Path("mlops.lock").read_text()
    assert shell.run_cell(cell).success and counter() == 2  # nothing half-written was restored


def test_a_read_only_store_is_one_line_and_nothing_runs(disk_shell, small_disk):
    shell, project = disk_shell
    assert shell.run_cell("%%stage a\nx = 1").success
    tracking.TRACKER.shutdown()
    for store, _ in tracking.TRACKER._stores.values():
        store.close()
    tracking.TRACKER._stores.clear()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        result = shell.run_cell("%%stage b\n" + BUMP + "y = 2")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert not result.success and type(result.error_in_exec).__name__ == "UsageError"
    message = str(result.error_in_exec)
    assert "\n" not in message and ("read-only" in message or "cannot open" in message or "writable" in message), message
    assert counter() == 0


def test_a_broken_mlops_lock_costs_one_line_everywhere(shell, project, capsys):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    Path("mlops.lock").write_text("schema: '2'\nnotebooks:\n<<<<<<< HEAD\n  a: {}\n=======\n")
    assert shell.run_cell("%%stage s\nv = 1").success  # the stage ran and is cached
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mlops.lock entry was not written" in err and "not valid YAML" in err
    nbformat.write(new_notebook(cells=[new_code_cell("%%stage s\nv = 1")]), "nb.ipynb")
    status = subprocess.run([sys.executable, "-m", "mlops_jupyter.cli", "status", "nb.ipynb"],
                            capture_output=True, text=True)
    assert status.returncode == 1
    assert status.stderr.count("\n") == 1 and "not valid YAML" in status.stderr, status.stderr
    with RunStore(project.db_path) as store:
        assert [s.run.status for s in store.search()] == ["finished"]


def test_an_interrupted_stage_names_the_status_the_store_holds(shell, project):
    result = shell.run_cell("%%stage stop\nraise KeyboardInterrupt")
    assert not result.success
    assert "was interrupted: run" in str(result.error_in_exec) and "recorded as killed" in str(result.error_in_exec)
    with RunStore(project.db_path) as store:
        assert [s.run.status for s in store.search()] == ["killed"]

"""The project's own state (.mlops/, .git/) is never hashed, copied, cached or restored as user data.

Opening and closing a file of the store (to hash or copy it) drops the process's POSIX locks on it,
after which another process deletes the WAL this one still writes: runs vanish. So a dep, out or
artifact that holds the project folder must skip that state, and an out that would hold it is refused.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_jupyter.core.store import RunStore


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mlops_jupyter.cli", *args], cwd=cwd, capture_output=True, text=True)


def count_runs(project) -> int:
    result = cli("runs", "ls", "--json", "--limit", "0", cwd=project.root)
    assert result.returncode == 0, result.stderr
    return len(json.loads(result.stdout))


def test_dep_on_the_project_folder_loses_no_runs(shell, project):
    Path("data.txt").write_text("x")
    for i in range(6):
        assert shell.run_cell(f"%%stage s{i} -d .\nvalue = {i}").success
        assert count_runs(project) == i + 1  # another process opens and closes the store meanwhile
    shell.run_cell("import mlops_jupyter as mj\nmj.flush()")
    assert count_runs(project) == 6
    with RunStore(project.db_path) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(store.search()) == 6


def test_dep_on_the_project_folder_skips_mlops_and_git(shell, project):
    (project.root / ".git").mkdir()
    (project.root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    Path("data.txt").write_text("x")
    assert shell.run_cell("%%stage s -d .\nvalue = 1").success
    from mlops_jupyter.core.hashing import FileHasher

    manifest = dict(FileHasher().hash_path(project.root).manifest)
    assert "data.txt" in manifest
    assert not [p for p in manifest if p.startswith((".mlops/", ".git/"))]
    # A change inside .mlops/ (every run makes one) does not make the dep "changed".
    before = len(list(project.cache_dir.rglob("*")))
    assert shell.run_cell("%%stage s -d .\nvalue = 1").success
    assert shell.user_ns["value"] == 1
    with RunStore(project.db_path) as store:
        assert len(store.search(stage="s")) == 1  # restored, not re-run
    assert len(list(project.cache_dir.rglob("*"))) == before


def test_log_artifact_of_the_project_folder_loses_no_runs(shell, project):
    Path("report.txt").write_text("r")
    for i in range(5):
        assert shell.run_cell(f"%%stage a{i}\nimport mlops_jupyter as mj\nlogged = len(mj.log_artifact('.'))").success
        assert count_runs(project) == i + 1
    assert shell.user_ns["logged"] == 1  # report.txt only: nothing of .mlops/ (nor counter files of ours)
    with RunStore(project.db_path) as store:
        names = {a.name for s in store.search() for a in store.get_run(s.run.id).artifacts}
    assert not [n for n in names if "/.mlops/" in n or n.startswith(".mlops")]


@pytest.mark.parametrize("flag", ["-o .", "-o ./", "-O .", "-o .mlops", "-o .mlops/cache", "-o .git", "-d .mlops/runs.db"])
def test_outs_or_deps_holding_the_projects_state_are_refused(shell, project, flag):
    (project.root / ".git").mkdir()
    marker = project.root / "keep.txt"
    marker.write_text("mine")
    result = shell.run_cell(f"%%stage bad {flag}\nvalue = 1")
    assert not result.success and type(result.error_in_exec).__name__ == "UsageError"
    message = str(result.error_in_exec)
    assert "project's own state" in message and "\n" not in message
    assert "value" not in shell.user_ns
    with RunStore(project.db_path) as store:
        assert store.search() == []
    assert marker.read_text() == "mine" and project.db_path.exists()


def test_restoring_a_folder_out_never_deletes_project_state(shell, project):
    """A folder out checked out from the cache removes files the cached copy lacks, but never state."""
    Path("out").mkdir()
    cell = "%%stage w -o out\nfrom pathlib import Path\nPath('out/a.txt').write_text('a')"
    assert shell.run_cell(cell).success
    (project.root / "out" / ".git").mkdir()
    (project.root / "out" / ".git" / "config").write_text("[core]\n")
    (project.root / "out" / "extra.txt").write_text("not from the stage")
    assert shell.run_cell(cell).success
    assert not (project.root / "out" / "extra.txt").exists()
    assert (project.root / "out" / ".git" / "config").read_text() == "[core]\n"

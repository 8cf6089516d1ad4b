"""Schema, migrations and the store's failure modes, on real SQLite files."""

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest
from sqlite_utils import Database

from mlops_jupyter.core import schema
from mlops_jupyter.core.errors import StoreError
from mlops_jupyter.core.store import RunStore

from .conftest import run_python


def test_fresh_store_has_every_step_and_wal(project):
    with RunStore(project.db_path) as store:
        assert store.applied_migrations() == list(schema.STEP_NAMES)
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = set(Database(project.db_path).table_names())
    assert {"experiments", "runs", "params", "metrics", "latest_metrics", "tags", "artifacts", "lineage"} <= tables


def test_store_at_first_schema_version_is_upgraded_with_data_intact(tmp_path):
    path = tmp_path / "runs.db"
    db = Database(path)
    schema.migrations().apply(db, stop_before=list(schema.STEP_NAMES[1:]))
    assert [m.name for m in schema.migrations().applied(db)] == [schema.STEP_NAMES[0]]
    # Data written by the first version, with its columns only.
    db["experiments"].insert({"id": 1, "name": "old", "created_time": 1})
    db["runs"].insert({"num": 1, "id": "a" * 32, "experiment_id": 1, "stage": "train", "status": "finished",
                       "start_time": 1000, "end_time": 3000})
    db["params"].insert({"run": 1, "key": "n_est", "value": 100, "type": "int"})
    db["metrics"].insert({"run": 1, "key": "rmse", "step": 0, "value": 0.5, "timestamp": 2000})
    db["latest_metrics"].insert({"run": 1, "key": "rmse", "step": 0, "value": 0.5, "timestamp": 2000})
    db.close()

    with RunStore(path) as store:
        assert store.applied_migrations() == list(schema.STEP_NAMES)
        run = store.get_run("a" * 32)
        assert run.run.experiment == "old" and run.run.duration == 2.0
        assert run.params == {"n_est": 100} and run.metrics == {"rmse": 0.5}
        assert [s.run.id for s in store.search(filter="metrics.rmse < 1 and params.n_est = 100")] == ["a" * 32]


def test_store_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "runs.db"
    RunStore(path).close()
    db = Database(path)
    db["_sqlite_migrations"].insert({"migration_set": schema.MIGRATION_SET, "name": "m999_future", "applied_at": "x"})
    db.close()
    with pytest.raises(StoreError, match="newer mlops-jupyter"):
        RunStore(path)


def test_many_processes_opening_a_new_store_at_once(tmp_path):
    path = tmp_path / "runs.db"
    code = f"from mlops_jupyter.core.store import RunStore; RunStore({str(path)!r}).close()"
    import subprocess

    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    with RunStore(path) as store:
        assert store.applied_migrations() == list(schema.STEP_NAMES)


@pytest.mark.parametrize("content", [b"this is not sqlite at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_store_is_one_clear_error(tmp_path, content):
    path = tmp_path / "runs.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        RunStore(path)
    assert path.read_bytes() == content  # nothing written over it


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX users")
def test_read_only_store_is_one_clear_error(env):
    """As a user without write permission (root ignores file modes, so drop to nobody)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    tmp_path = Path(tempfile.mkdtemp())  # pytest's own tmp folders are private to root
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "runs.db"
    with RunStore(path) as store:
        run = store.create_run("e", environment=env)
        store.end_run(run.id, "finished")
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    os.chmod(tmp_path, 0o755)
    code = (
        "import os, psutil, mlops_jupyter.core.environment\n"
        "from mlops_jupyter.core.store import RunStore\n"
        "from mlops_jupyter.core.errors import StoreError\n"
        "os.setgid(65534); os.setuid(65534)  # after the imports: root's home is not readable\n"
        f"try:\n    s = RunStore({str(path)!r}); s.end_run({run.id!r}, 'failed')\n"
        "except StoreError as e:\n    print('ERR', e)\n"
    )
    result = run_python(code, cwd=tmp_path)
    assert result.stdout.startswith("ERR run store") and "read-only" in result.stdout, result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    os.chmod(folder, 0o755)
    with RunStore(path) as store:
        assert store.get_run(run.id).run.status == "finished"  # nothing changed
    shutil.rmtree(tmp_path)


def test_unwritable_folder_is_one_clear_error(tmp_path):
    missing = tmp_path / "no" / "such" / "runs.db"
    with pytest.raises(StoreError, match="cannot open run store"):
        RunStore(missing)


def test_failed_write_leaves_nothing_half_written(store, env):
    run = store.create_run("e", environment=env)
    store.log_params(run.id, {"a": 1})
    with pytest.raises(Exception):
        store.log_params(run.id, {"b": 2, "a": 3})  # "a" conflicts: "b" must not be written either
    assert store.get_run(run.id).params == {"a": 1}
    raw = sqlite3.connect(store.path).execute("SELECT COUNT(*) FROM params").fetchone()[0]
    assert raw == 1


def test_an_emptied_store_is_reported_never_silently_replaced(tmp_path):
    path = tmp_path / "runs.db"
    RunStore(path).close()
    assert path.stat().st_size > 0  # a store is created whole, never as an empty file
    path.write_bytes(b"")
    with pytest.raises(StoreError, match=r"is empty \(0 bytes\): it was truncated"):
        RunStore(path)
    assert path.read_bytes() == b""


def test_a_truncated_store_is_one_clear_error(tmp_path, env):
    path = tmp_path / "runs.db"
    with RunStore(path) as store:
        for _ in range(200):
            store.create_run("e", environment=env)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    for leftover in tmp_path.glob("runs.db-*"):
        leftover.unlink()
    with pytest.raises(StoreError, match="not a readable SQLite database|corrupt"):
        with RunStore(path) as store:
            store.search()


def test_opening_a_second_store_keeps_the_first_ones_locks(tmp_path, env):
    """Checking a store file must never open it outside SQLite: closing that descriptor would drop
    the POSIX locks of every connection of the process, and another process would then delete the
    WAL this one still writes."""
    import subprocess

    path = tmp_path / "runs.db"
    first = RunStore(path)
    for _ in range(3):
        first.create_run("e", environment=env)  # WAL, not yet checkpointed
        RunStore(path).close()  # another store of this process opens and closes the file
        subprocess.run([sys.executable, "-c", f"from mlops_jupyter.core.store import RunStore; RunStore({str(path)!r}).close()"], check=True)
    first.create_run("e", environment=env)
    first.close()
    with RunStore(path) as store:
        assert len(store.search()) == 4


def test_an_sql_error_of_a_query_is_not_called_corruption(store):
    """SQLite says "malformed JSON" for a bad JSON argument: that is no damaged file."""
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        store._query("SELECT json(?)", ["{"])

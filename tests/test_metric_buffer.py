"""Buffered metrics are never lost: bad values are refused at the call, a point the store refuses
is dropped alone, the flusher outlives any error, a full disk keeps points until space is back,
and a burst costs bounded memory."""

import os
import subprocess
import sys

import pytest

import mlops_jupyter as mj
from mlops_jupyter.core.errors import InvalidValue
from mlops_jupyter.core.store import RunStore


def history(project, run_id, key="m"):
    with RunStore(project.db_path) as store:
        return store.metric_history(run_id, key)


@pytest.mark.parametrize("call, message", [
    (lambda: mj.log_metric("m", 1.0, step=2**63), "does not fit in 64 bits"),
    (lambda: mj.log_metric("m", 10**400), "too large for a float"),
    (lambda: mj.log_metric("m", 1.0, step=-(2**63) - 1), "does not fit in 64 bits"),
])
def test_a_bad_point_is_refused_at_the_call_and_poisons_nothing(tracker, project, call, message):
    with mj.start_run() as run:
        with pytest.raises(InvalidValue, match=message):
            call()
        for i in range(100):
            mj.log_metric("m", float(i))
    assert [p.value for p in history(project, run.run_id)] == [float(i) for i in range(100)]
    with RunStore(project.db_path) as store:
        assert store.get_run(run.run_id).run.status == "finished"


def test_a_point_the_store_refuses_is_dropped_alone(tracker, project, capsys):
    with mj.start_run() as run:
        for i in range(10):
            mj.log_metric("m", float(i))
        buffer = tracker._buffers[run.store]
        buffer.insert(5, (run.run_id, "m", 2**64, 1.0, 0))  # past the call's checks: sqlite refuses it
        for i in range(10, 20):
            mj.log_metric("m", float(i))
    assert [p.step for p in history(project, run.run_id)] == list(range(20))
    err = capsys.readouterr().err
    assert err.count("cannot be stored and is dropped") == 1


FLUSHER = """
import sys, time
import mlops_jupyter as mj
from mlops_jupyter.kernel import tracking
run = mj.start_run()
store = tracking.TRACKER._stores[next(iter(tracking.TRACKER._stores))][0]
buffer = tracking.TRACKER._buffers[store]
buffer.append((run.run_id, "m", 2**64, 1.0, 0))  # an error that is not the product's own
time.sleep(0.5)
for i in range(6100):
    mj.log_metric("m", float(i))
time.sleep(0.5)
print(tracking.TRACKER._flusher.is_alive(), len(buffer), flush=True)
time.sleep(60)
"""


def test_the_flusher_survives_foreign_errors(project):
    project.config_path.write_text("[core]\nmetric_flush_interval = 0.05\n")
    child = subprocess.Popen([sys.executable, "-c", FLUSHER], cwd=project.root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        assert line == ["True", "0"], child.stderr.read() if not line else line
    finally:
        child.kill()
        child.wait()
    with RunStore(project.db_path) as store:
        [summary] = store.search()
        assert len(store.metric_history(summary.run.id, "m")) == 6100
        assert summary.run.status == "killed"


BURST = """
import resource, sys
import mlops_jupyter as mj
from mlops_jupyter.kernel import tracking
run = mj.start_run()
mj.log_metric("warm", 1.0)
mj.flush()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak = 0
for i in range(1_000_000):
    mj.log_metric("m", i * 0.5)
    if i % 1000 == 0:
        peak = max(peak, sum(map(len, tracking.TRACKER._buffers.values())))
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
run.end()
print(peak, grown // 1024)
"""


def test_a_burst_of_a_million_points_costs_bounded_memory(project):
    project.config_path.write_text("[core]\nmetric_flush_interval = 60.0\n")  # only back-pressure writes
    result = subprocess.run([sys.executable, "-c", BURST], cwd=project.root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    peak, grown_mb = map(int, result.stdout.split())
    from mlops_jupyter.kernel.tracking import BUFFER_LIMIT

    assert peak <= BUFFER_LIMIT
    assert grown_mb < 60, grown_mb  # was ~250 MB with every point held until the next flush
    with RunStore(project.db_path) as store:
        [summary] = store.search()
        assert store.conn.execute("SELECT COUNT(*) FROM metrics WHERE key = 'm'").fetchone()[0] == 1_000_000


DISK_FULL = """
from pathlib import Path
import sys, time
import mlops_jupyter as mj
run = mj.start_run()
for i in range(100):
    mj.log_metric("m", float(i))
mj.flush()
print(run.run_id, flush=True)
with open("filler", "wb", buffering=0) as f:  # fill the disk
    try:
        while True:
            f.write(b"x" * (1 << 16))
    except OSError:
        pass
for i in range(100, 6100):
    mj.log_metric("m", float(i))
time.sleep(1.0)  # several flushes fail meanwhile
print("full", flush=True)
while not Path("go").exists():  # the test frees the space
    time.sleep(0.05)
time.sleep(0.5)
run.end()
print("ended", flush=True)
"""


def test_a_full_disk_keeps_the_points_until_space_is_back(small_disk):
    from mlops_jupyter.core.project import init_project

    project, _ = init_project(small_disk / "proj")
    project.config_path.write_text("[core]\nmetric_flush_interval = 0.05\n")
    env = {k: v for k, v in os.environ.items() if k != "MLOPS_JUPYTER_DIR"}
    child = subprocess.Popen([sys.executable, "-c", DISK_FULL], cwd=project.root, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = child.stdout.readline().strip()
        assert child.stdout.readline().strip() == "full", child.stderr.read()
        (project.root / "filler").unlink()
        (project.root / "go").write_text("")
        assert child.stdout.readline().strip() == "ended", child.stderr.read()
        child.wait(timeout=60)
        err = child.stderr.read()
    finally:
        child.kill()
    assert child.returncode == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2 and "wait in memory" in lines[0] and "disk" in lines[0] and "saved" in lines[1], err
    with RunStore(project.db_path) as store:
        assert [p.value for p in store.metric_history(run_id, "m")] == [float(i) for i in range(6100)]
        assert store.get_run(run_id).run.status == "finished"


@pytest.mark.parametrize("setting", ["metric_flush_interval = 0", "metric_flush_interval = -1", "busy_timeout = -5"])
def test_settings_that_make_no_sense_are_refused(project, setting):
    project.config_path.write_text(f"[core]\n{setting}\n")
    from mlops_jupyter.core.errors import ProjectError

    with pytest.raises(ProjectError, match="must be at least"):
        project.config()

"""A run left `running` by a process that no longer exists becomes `killed`."""

import os
import signal
import subprocess
import sys
import time

from mlops_jupyter.core.store import RunStore

CHILD = """
import sys, time
import mlops_jupyter as mj
run = mj.start_run(stage="train")
for i in range(5):
    mj.log_metric("loss", 1.0 / (i + 1))
mj.flush()
print(run.run_id, flush=True)
time.sleep(600)
"""


def start_child(project):
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=project.root, stdout=subprocess.PIPE, text=True)
    run_id = child.stdout.readline().strip()
    assert len(run_id) == 32, run_id
    return child, run_id


def test_killed_process_leaves_a_killed_run(project):
    child, run_id = start_child(project)
    try:
        with RunStore(project.db_path) as store:  # the process is alive: its run stays running
            assert store.get_run(run_id).run.status == "running"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    with RunStore(project.db_path) as store:
        detail = store.get_run(run_id)
        last_point = max(p.timestamp for p in store.metric_history(run_id, "loss"))
    assert detail.run.status == "killed"
    assert detail.run.end_time == last_point  # it died no earlier than its last metric
    assert detail.metric_steps == {"loss": 5}  # what was flushed survives


def test_reused_pid_does_not_keep_a_dead_run_alive(store, env):
    # The pid is alive (it is ours) but belongs to a process that started later.
    fake = env.__class__(**{**env.__dict__, "pid": os.getpid(), "pid_start_time": time.time() - 10**6})
    run = store.create_run("e", environment=fake)
    assert store.recover_killed_runs() == [run.id]
    assert store.get_run(run.id).run.status == "killed"


def test_runs_of_other_hosts_are_left_alone(store, env):
    remote = env.__class__(**{**env.__dict__, "host": "another-machine", "pid": 1})
    run = store.create_run("e", environment=remote)
    assert store.recover_killed_runs() == []
    assert store.get_run(run.id).run.status == "running"


SAVER = """
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.history import HistoryAccessor
HistoryAccessor.enabled = False
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "mlops_jupyter")
ip.run_cell("%%stage big\\nimport numpy as np\\nbig = np.full(60_000_000, 7.0)")  # 480 MB to save
"""


def test_kill_while_saving_a_large_variable_leaves_nothing_half_written(project):
    """kill -9 in the middle of a save: the run is killed, its temporary file is cleaned up by the
    next process, no result is cached, and the next run computes it whole."""
    from pathlib import Path

    child = subprocess.Popen([sys.executable, "-c", SAVER], cwd=project.root)
    deadline = time.monotonic() + 120
    try:
        while not list(project.cache_dir.glob(f".tmp-{child.pid}-*")):
            assert child.poll() is None and time.monotonic() < deadline, "the save never started"
            time.sleep(0.002)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    [partial] = project.cache_dir.glob(f".tmp-{child.pid}-*")
    with RunStore(project.db_path) as store:
        [summary] = store.search()
        assert summary.run.status == "killed"
        assert store.conn.execute("SELECT COUNT(*) FROM stage_cache").fetchone()[0] == 0
    code = ("import mlops_jupyter as mj\nfrom mlops_jupyter.kernel import tracking\ntracking.TRACKER.open()\n")
    subprocess.run([sys.executable, "-c", code], cwd=project.root, check=True)
    assert not partial.exists()
    again = subprocess.run([sys.executable, "-c", SAVER + "print(ip.user_ns['big'].sum())"], cwd=project.root,
                           capture_output=True, text=True, check=True)
    assert again.stdout.split()[-1] == str(7.0 * 60_000_000)
    assert not list(Path(project.cache_dir).glob(".tmp-*"))


def test_kill_of_the_cli_mid_run_leaves_a_killed_run_and_a_correct_next_run(project):
    """kill -9 of `mlops-jupyter run` while its kernel runs a stage: the kernel follows it, the run
    becomes killed, nothing is cached, and the next run computes the stage whole."""
    import json

    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    cells = ["%load_ext mlops_jupyter",
             "%%stage slow\nimport time\nfrom pathlib import Path\nPath('started').write_text('')\n"
             "if not Path('quick').exists():\n    time.sleep(60)\nx = 41 + 1"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells], metadata=meta), project.root / "nb.ipynb")
    cli = [sys.executable, "-m", "mlops_jupyter.cli"]
    child = subprocess.Popen([*cli, "run", "nb.ipynb", "-q", "-o", "out.ipynb"], cwd=project.root,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = project.root / "started"
    deadline = time.monotonic() + 120
    while not started.exists():
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    while True:  # the orphaned kernel notices and exits; the next open of the store marks its run
        listed = subprocess.run([*cli, "runs", "ls", "--json"], cwd=project.root, capture_output=True, text=True)
        runs = json.loads(listed.stdout)
        if runs and runs[0]["status"] == "killed":
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.5)
    with RunStore(project.db_path) as store:
        assert store.conn.execute("SELECT COUNT(*) FROM stage_cache").fetchone()[0] == 0
    (project.root / "quick").write_text("")
    again = subprocess.run([*cli, "run", "nb.ipynb", "-q", "-o", "out.ipynb"], cwd=project.root,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "1 ran" in again.stdout

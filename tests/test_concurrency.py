"""Several processes writing one store at once: every row lands, no lock error reaches the user."""

import subprocess
import sys

from mlops_jupyter.core.store import RunStore

PROCESSES, POINTS, PARAMS = 8, 10_000, 50

WRITER = f"""
import sys
import mlops_jupyter as mj
worker = int(sys.argv[1])
with mj.start_run(stage=f"w{{worker}}") as run:
    for i in range({POINTS}):
        mj.log_metric("m", worker * 1e6 + i)
        if i % {POINTS // PARAMS} == 0:
            mj.log_param(f"p{{i // {POINTS // PARAMS}}}", i)
print(run.run_id)
"""


def test_eight_processes_log_into_one_store(project):
    # A flush every 50 ms maximizes contention between the writers.
    project.config_path.write_text("[core]\nmetric_flush_interval = 0.05\n")
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(w)], cwd=project.root,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for w in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
    run_ids = [out.strip() for out, _ in outputs]
    with RunStore(project.db_path) as store:
        summaries = {s.run.id: s for s in store.search()}
        assert set(summaries) == set(run_ids)
        for worker, run_id in enumerate(run_ids):
            summary = summaries[run_id]
            assert summary.run.status == "finished"
            assert len(summary.params) == PARAMS
            history = store.metric_history(run_id, "m")
            assert [p.step for p in history] == list(range(POINTS))
            assert [p.value for p in history] == [worker * 1e6 + i for i in range(POINTS)]
            assert summary.metrics == {"m": worker * 1e6 + POINTS - 1}


KERNEL = """
import sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.history import HistoryAccessor
HistoryAccessor.enabled = False
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "mlops_jupyter")
tag = sys.argv[1]
for i in range(15):
    cell = f"%%stage k{tag}_{i % 5} -o out_{tag}.txt\\nimport numpy as np\\nvalue = np.full(10_000, {i})\\n"
    cell += f"open('out_{tag}.txt', 'w').write(str({i}))"
    result = ip.run_cell(cell)
    assert result.success, result.error_in_exec
    assert ip.user_ns["value"][0] == i
print("kernel done")
"""

POLL = """
import subprocess, sys, time
from pathlib import Path
rounds = 0
while not Path("stop").exists():
    done = subprocess.run([sys.executable, "-m", "mlops_jupyter.cli", "runs", "ls", "--json", "--limit", "0"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rounds += 1
print(rounds)
"""


def test_writers_kernels_and_a_polling_cli_at_once(project):
    """8 processes x 10,000 points while two kernels run stages and `runs ls` polls: nothing lost,
    nothing duplicated, no lock error anywhere."""
    project.config_path.write_text("[core]\nmetric_flush_interval = 0.05\n")

    def start(code, *args):
        return subprocess.Popen([sys.executable, "-c", code, *args], cwd=project.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    poller = start(POLL)
    kernels = [start(KERNEL, tag) for tag in "AB"]
    writers = [start(WRITER, str(w)) for w in range(PROCESSES)]
    results = [p.communicate(timeout=600) for p in (*writers, *kernels)]
    (project.root / "stop").write_text("")
    poll_out, poll_err = poller.communicate(timeout=120)
    for p, (out, err) in zip((*writers, *kernels, poller), (*results, (poll_out, poll_err))):
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err, err
    assert int(poll_out) > 0
    run_ids = [out.strip() for out, _ in results[:PROCESSES]]
    with RunStore(project.db_path) as store:
        for worker, run_id in enumerate(run_ids):
            history = store.metric_history(run_id, "m")
            assert [p.step for p in history] == list(range(POINTS))  # none lost, none twice
        kernel_runs = [s for s in store.search() if s.run.stage and s.run.stage.startswith("k")]
        assert {s.run.status for s in kernel_runs} == {"finished"}
        assert len(kernel_runs) == 2 * 15 and store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

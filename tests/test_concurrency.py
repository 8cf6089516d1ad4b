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

"""Experiments benchmark: `mj.experiments()` against `mj.runs()`, and the REST API's first page.

    .venv/bin/python bench/bench_experiments.py            # 10,000 executions of a 3-stage chain
    .venv/bin/python bench/bench_experiments.py --quick    # 1,000 executions

The store holds N executions of prepare → train → evaluate (3 N runs), as the example notebook
makes them: prepare logs 2 params, train 4 params and a 5-step metric and reads prepare's output,
evaluate logs 2 metrics and reads train's model and prepare's test set (three lineage edges).

(a) `mj.experiments()` — N rows, each evaluate run with the 6 params and 3 metrics of its lineage —
    against `mj.runs(stage="evaluate")`, the same N sink runs with their own columns only; best of
    5 wall times each, after a warm-up. Target: experiments <= 2x runs. For information: a filter
    and a sort on joined keys.
(b) `GET experiments?limit=100` (the sidebar's first page) on a real `jupyter server` with the
    extension, p50 / p90 of 50 after 5 warm-ups, and a filtered and a sorted page. Target: first
    page p50 <= 150 ms.

Every figure is printed; the summary marks each target PASS or MISS for information and the script
always exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from common import fmt_ratio, fmt_seconds, start_jupyter

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.models import LineageEdge
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore

TOKEN = "bench-token"
TARGET_RATIO = 2.0
TARGET_FIRST_PAGE = 0.150
FILTER = "metrics.accuracy > 0.9 and params.train.n_est < 200"
SORT = "metrics.cv_accuracy DESC"


def fill(root: Path, executions: int) -> None:
    project, _ = init_project(root)
    env = capture(root)
    rng = random.Random(0)
    t = 1_700_000_000_000
    with RunStore(project.db_path) as store:
        for i in range(executions):
            prepare = store.create_run("bench", environment=env, stage="prepare", notebook="wine.ipynb", start_time=t)
            store.log_params(prepare.id, {"prepare.test_size": 0.3, "prepare.seed": i % 50})
            store.end_run(prepare.id, "finished", end_time=t + 100)
            train = store.create_run("bench", environment=env, stage="train", notebook="wine.ipynb", start_time=t + 100)
            store.add_lineage(train.id, [LineageEdge(prepare.id, "train", "variable")])
            store.log_params(train.id, {"train.n_est": rng.randrange(50, 500), "train.max_depth": rng.randrange(2, 10),
                                        "train.folds": 5, "train.seed": 0})
            store.log_metric_points([(train.id, "cv_accuracy", s, rng.random(), t + 100 + s) for s in range(5)])
            store.end_run(train.id, "finished", end_time=t + 900)
            evaluate = store.create_run("bench", environment=env, stage="evaluate", notebook="wine.ipynb",
                                        start_time=t + 900)
            store.add_lineage(evaluate.id, [LineageEdge(train.id, "model", "variable"),
                                            LineageEdge(train.id, "features", "variable"),
                                            LineageEdge(prepare.id, "test", "variable")])
            store.log_metric_points([(evaluate.id, "accuracy", 0, rng.random(), t + 950),
                                     (evaluate.id, "f1_macro", 0, rng.random(), t + 950)])
            store.end_run(evaluate.id, "finished", end_time=t + 1000)
            t += 1000


def best_of(fn, repeats: int = 5) -> tuple[float, object]:
    result = fn()  # warm-up (and the result checked by the caller)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read()


def timed(url: str, repeats: int = 50) -> tuple[float, float, bytes]:
    for _ in range(5):
        body = get(url)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        body = get(url)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)], body


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 executions")
    args = parser.parse_args()
    executions = 1_000 if args.quick else args.executions
    root = Path(tempfile.mkdtemp(prefix="bench-experiments-"))
    started = time.perf_counter()
    fill(root, executions)
    print(f"store: {executions:,} executions of prepare → train → evaluate ({3 * executions:,} runs) "
          f"in {time.perf_counter() - started:.1f} s")

    os.environ["MLOPS_JUPYTER_DIR"] = str(root)
    import mlops_jupyter as mj

    runs_time, runs = best_of(lambda: mj.runs(stage="evaluate"))
    exp_time, frame = best_of(lambda: mj.experiments())
    assert len(runs) == len(frame) == executions, (len(runs), len(frame))
    assert {"params.prepare.seed", "params.train.n_est", "metrics.cv_accuracy", "metrics.accuracy"} <= set(frame.columns)
    filtered_time, filtered = best_of(lambda: mj.experiments(filter=FILTER))
    sorted_time, _ = best_of(lambda: mj.experiments(order_by=SORT, max_results=100))
    ratio = exp_time / runs_time

    print("\n(a) in Python, best of 5")
    lines = [
        ('mj.runs(stage="evaluate")', runs_time, f"{runs.shape[0]:,} rows x {runs.shape[1]} columns"),
        ("mj.experiments()", exp_time, f"{frame.shape[0]:,} rows x {frame.shape[1]} columns"),
        (f"mj.experiments(filter={FILTER!r})", filtered_time, f"{len(filtered):,} rows"),
        (f"mj.experiments(order_by={SORT!r}, max_results=100)", sorted_time, ""),
    ]
    for label, seconds, note in lines:
        print(f"  {label:<72} {fmt_seconds(seconds):>10}  {note}")
    print(f"  {'mj.experiments() / mj.runs()':<72} {fmt_ratio(ratio):>10}")

    server, root_url = start_jupyter("server", root, TOKEN, "--ServerApp.jpserver_extensions={'mlops_jupyter': True}")
    base = f"{root_url}/mlops-jupyter/experiments"
    try:
        cases = [
            ("GET experiments, first page (limit=100)", f"{base}?limit=100"),
            ("GET experiments, filtered on joined keys", f"{base}?limit=100&filter={urllib.parse.quote(FILTER)}"),
            ("GET experiments, sorted by a joined metric", f"{base}?limit=100&sort={urllib.parse.quote(SORT)}"),
        ]
        print(f"\n(b) REST, p50 / p90 of 50\n  {'request':<72}{'p50':>10}{'p90':>10}{'bytes':>10}")
        figures = {}
        for label, url in cases:
            p50, p90, body = timed(url)
            figures[label] = p50
            print(f"  {label:<72}{fmt_seconds(p50):>10}{fmt_seconds(p90):>10}{len(body):>10,}")
        total = json.loads(get(f"{base}?limit=1"))["total"]
        assert total == executions, total
    finally:
        server.terminate()
        server.wait(timeout=30)

    first = figures[cases[0][0]]
    print("\nsummary")
    print(f"  mj.experiments() <= {TARGET_RATIO:g}x mj.runs() over the sink runs: {fmt_ratio(ratio)}  {verdict(ratio <= TARGET_RATIO)}")
    print(f"  GET experiments first page p50 <= {TARGET_FIRST_PAGE * 1000:.0f} ms: {fmt_seconds(first)}  "
          f"{verdict(first <= TARGET_FIRST_PAGE)}")


if __name__ == "__main__":
    main()

"""Model registry and MLflow sync benchmark, side by side with MLflow.

    .venv/bin/python bench/bench_models.py             # 1,000 runs to sync (several minutes: MLflow is slow)
    .venv/bin/python bench/bench_models.py --runs 100  # a smaller sync

(a) `mj.log_model(rf, registered_model_name=...)` (log + register in one call, as MLflow's) of a
    RandomForest (200 trees, wine data) against `mlflow.sklearn.log_model(rf, name=...,
    registered_model_name=..., serialization_format="cloudpickle")` on a sqlite backend (`sqlite:///<tmp>/mlflow.db`, artifacts in the
    same folder), each inside a fresh run; best of 5 after a warm-up. Both load back and predict the
    same. Target: mlops-jupyter >= 10x faster.
(b) Sync of N runs x 20 params x 10 metrics x 100 steps to a real MLflow server (`mlflow server`,
    sqlite backend): `mlops-jupyter sync mlflow` against (i) the mlflow-export-import way, one run at
    a time through `MlflowClient.log_batch` in batches of 1,000, and (ii) the raw client loop, one
    `log_metric` call per point, timed on 2 runs and scaled to N (the full loop would take hours).
    Each writes into a fresh experiment of the same server; counts are checked afterwards.

Every figure is printed; the summary marks each target PASS or MISS for information and the script
always exits 0.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import fmt_ratio, fmt_seconds

sys.path.insert(0, str(Path(__file__).parent.parent))

from tests.mlflow_server import mlflow_server  # noqa: E402  (the tests' server, started the same way)

TARGET = 10.0


def best_of(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def bench_log_model(root: Path) -> tuple[float, float]:
    import mlflow
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_wine(return_X_y=True)
    model = RandomForestClassifier(n_estimators=200, random_state=0).fit(X, y)

    os.environ["MLOPS_JUPYTER_DIR"] = str(root / "mj")
    (root / "mj").mkdir()
    import mlops_jupyter as mj

    def ours():
        with mj.start_run():
            mj.log_model(model, "model", registered_model_name="wine")

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifact_location=str(root / "mlruns")))

    def theirs():
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name="wine",
                                     serialization_format="cloudpickle")  # a pickle, as ours (3.x defaults to skops)

    mine, other = best_of(ours), best_of(theirs)
    assert (mj.load_model("models:/wine/latest").predict(X) == model.predict(X)).all()
    assert (mlflow.sklearn.load_model("models:/wine/latest").predict(X) == model.predict(X)).all()
    return mine, other


def fill(root: Path, runs: int) -> None:
    from mlops_jupyter.core.environment import capture
    from mlops_jupyter.core.project import init_project
    from mlops_jupyter.core.store import RunStore

    project, _ = init_project(root)
    env = capture(root)
    rng = random.Random(0)
    with RunStore(project.db_path) as store:
        for i in range(runs):
            with store.transaction():
                run = store.create_run("sync-bench", environment=env, start_time=1_700_000_000_000 + i)
                store.log_params(run.id, {f"p{k}": rng.randrange(100) for k in range(20)})
                store.log_metric_points([(run.id, f"m{k}", step, rng.random(), 1_700_000_000_000 + step)
                                         for k in range(10) for step in range(100)])
                store.end_run(run.id, "finished", end_time=1_700_000_100_000 + i)


def export_import_copy(uri: str, root: Path, experiment: str) -> None:
    """The mlflow-export-import way: each run in turn, its params and metrics by log_batch."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    from mlops_jupyter.core.store import RunStore

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(experiment)
    with RunStore(root / ".mlops" / "runs.db") as store:
        for summary in store.search():
            run = client.create_run(experiment_id, start_time=summary.run.start_time)
            params = [Param(k, str(v)) for k, v in summary.params.items()]
            points = [Metric(key, p.value, p.timestamp, p.step)
                      for key in summary.metrics for p in store.metric_history(summary.run.id, key)]
            client.log_batch(run.info.run_id, params=params)
            for start in range(0, len(points), 1000):
                client.log_batch(run.info.run_id, metrics=points[start:start + 1000])
            client.set_terminated(run.info.run_id, end_time=summary.run.end_time)


def raw_loop(uri: str, root: Path, experiment: str, runs: int) -> None:
    from mlflow import MlflowClient

    from mlops_jupyter.core.store import RunStore

    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(experiment)
    with RunStore(root / ".mlops" / "runs.db") as store:
        for summary in store.search(limit=runs):
            run = client.create_run(experiment_id, start_time=summary.run.start_time)
            for key, value in summary.params.items():
                client.log_param(run.info.run_id, key, value)
            for key in summary.metrics:
                for p in store.metric_history(summary.run.id, key):
                    client.log_metric(run.info.run_id, key, p.value, timestamp=p.timestamp, step=p.step)
            client.set_terminated(run.info.run_id, end_time=summary.run.end_time)


def count_points(uri: str, experiment: str) -> tuple[int, int]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=50_000)
    sample = runs[0]
    return len(runs), sum(len(client.get_metric_history(sample.info.run_id, f"m{k}")) for k in range(10))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-models-"))

    (root / "log").mkdir()
    mine, other = bench_log_model(root / "log")
    print("(a) log_model + register_model of a RandomForest (200 trees), best of 5")
    print(f"  mj.log_model(..., registered_model_name=)              {fmt_seconds(mine):>10}")
    print(f"  mlflow.sklearn.log_model(..., registered_model_name=)  {fmt_seconds(other):>10}")
    print(f"  speed-up                                               {fmt_ratio(other / mine):>10}")

    store_root = root / "store"
    store_root.mkdir()
    started = time.perf_counter()
    fill(store_root, args.runs)
    print(f"\n(b) sync of {args.runs:,} runs x 20 params x 10 metrics x 100 steps "
          f"({args.runs * 1000:,} points; store filled in {time.perf_counter() - started:.1f} s)")
    with mlflow_server(root) as uri:
        ours_name, theirs_name, raw_name = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("ours", "export", "raw"))
        started = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "mlops-jupyter"), "-C", str(store_root), "sync", "mlflow",
                        uri, "--experiment", ours_name], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        export_import_copy(uri, store_root, theirs_name)
        export = time.perf_counter() - started
        sample = 2
        started = time.perf_counter()
        raw_loop(uri, store_root, raw_name, sample)
        raw = (time.perf_counter() - started) / sample * args.runs
        for name in (ours_name, theirs_name):
            runs, points = count_points(uri, name)
            assert (runs, points) == (args.runs, 1000), (name, runs, points)
    print(f"  mlops-jupyter sync mlflow ({4} requests in flight)      {fmt_seconds(ours):>10}")
    print(f"  one run at a time, log_batch of 1,000 (export-import)    {fmt_seconds(export):>10}  "
          f"({fmt_ratio(export / ours)} ours)")
    print(f"  raw client loop, one call per point (from {sample} runs)     {fmt_seconds(raw):>10}  "
          f"({fmt_ratio(raw / ours)} ours)")
    print("\nsummary")
    print(f"  log_model + register >= {TARGET:g}x MLflow: {fmt_ratio(other / mine)}  "
          f"{'PASS' if other / mine >= TARGET else 'MISS'}")


if __name__ == "__main__":
    main()

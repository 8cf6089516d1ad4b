"""Tracking benchmark: mlops-jupyter against MLflow (sqlite backend), side by side.

Run from the repository root:

    .venv/bin/python bench/bench_tracking.py           # full: a few minutes (MLflow is slow)
    .venv/bin/python bench/bench_tracking.py --quick   # small sizes, well under a minute

What it measures (each tool writes into its own fresh temporary folder; MLflow
uses ``sqlite:///<tmp>/mlflow.db`` with artifacts in the same folder):

(a) ``log_metric``, one point per call, inside one run (explicit ``step=i``).
    mlops-jupyter: 200,000 calls (20,000 with --quick); the figure "incl. flush"
    also counts the final ``mj.flush()`` and the run end, so every point is on
    disk (checked by counting rows in the store afterwards). MLflow: 300 calls
    (100 with --quick); every MLflow call is a synchronous write.
    Target: mlops-jupyter (incl. flush) >= 1000x MLflow points/s.

(b) 2,000 runs x 20 params x 10 metrics (200 runs with --quick), the same
    generated data in both tools, then the best-of-N wall time of
    ``mj.runs()`` against ``mlflow.search_runs()`` on all runs and on the filter
    ``metrics.m0 < 0.5 and params.p0 = 3`` (``params.p0 = '3'`` in MLflow,
    whose params are strings). Row counts must agree with each other and with
    the data. Target: mlops-jupyter >= 20x faster. Run creation time is shown
    for information.

(c) Start-up, in fresh subprocesses (median of several): ``import mlops_jupyter``
    raw and net of ``python -c pass``; ``mlops-jupyter --help`` wall time
    (target <= 0.25 s); ``import mlflow`` for comparison. Also checks, with
    ``python -X importtime``, that ``mlops-jupyter --help`` and
    ``mlops-jupyter runs ls`` import neither pandas nor IPython. Each is run
    twice and the second run is judged: a process that has to migrate the
    store's schema imports sqlite-utils, and sqlite-utils imports pandas.

The summary table at the end marks each target PASS or FAIL. That is
information only: the script always exits 0. If MLflow cannot be imported,
its columns read n/a and the mlops-jupyter parts still run.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from common import fmt_ratio, fmt_seconds

perf_counter = time.perf_counter

EXPERIMENT = "bench"
FILTER_MJ = "metrics.m0 < 0.5 and params.p0 = 3"
FILTER_MLFLOW = "metrics.m0 < 0.5 and params.p0 = '3'"

TARGET_LOG_RATIO = 1000.0  # mlops-jupyter points/s (incl. flush) / MLflow points/s
TARGET_QUERY_RATIO = 20.0  # MLflow search_runs time / mj.runs time
TARGET_HELP_SECONDS = 0.25  # mlops-jupyter --help wall time


@dataclass(frozen=True)
class Sizes:
    mj_points: int
    mlflow_points: int
    runs: int
    params: int
    metrics: int
    query_repeats: int
    process_repeats: int
    mlflow_import_repeats: int


FULL = Sizes(200_000, 300, 2_000, 20, 10, 5, 10, 5)
QUICK = Sizes(20_000, 100, 200, 20, 10, 3, 5, 3)


# --- formatting ---------------------------------------------------------------------


def fmt_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:,.0f}/s"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def heading(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def show(label: str, value: str) -> None:
    print(f"  {label:<58} {value}", flush=True)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out)


# --- setup --------------------------------------------------------------------------


def import_mlflow():
    """mlflow, quietened; or None (with the reason printed) when it cannot be imported."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_TRACKING_SILENT", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    warnings.filterwarnings("ignore")
    try:
        import mlflow
    except Exception as e:  # noqa: BLE001 - any failure means "no MLflow"
        print(f"MLflow is not importable ({type(e).__name__}: {e}); running the mlops-jupyter parts only.")
        return None
    for name in ("mlflow", "alembic", "sqlalchemy", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return mlflow


def mlflow_experiment(mlflow, folder: Path, name: str) -> str:
    """Point MLflow at a fresh sqlite store in ``folder``; return a new experiment's id."""
    folder.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    return mlflow.create_experiment(name, artifact_location=(folder / "artifacts").as_uri())


def mj_project(folder: Path) -> Path:
    """Make ``folder`` the mlops-jupyter project (the env var wins over ``project=``)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["MLOPS_JUPYTER_DIR"] = str(folder)
    return folder


def sqlite_count(db: Path, sql: str, params: tuple = ()) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def guarded(title: str, fn: Callable[[], Any]) -> Any:
    """Run one section; a crash is printed and the benchmark goes on."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a benchmark reports, it does not stop
        print(f"\n!!! {title} crashed:", flush=True)
        traceback.print_exc()
        sys.stderr.flush()
        return None


# --- (a) log_metric -----------------------------------------------------------------


def metric_values(n: int) -> list[float]:
    return [math.sin(i * 0.001) for i in range(n)]


def bench_mj_log_metric(mj, folder: Path, n: int, *, with_step: bool = True) -> dict:
    root = mj_project(folder)
    values = metric_values(n)
    log = mj.log_metric
    run = mj.start_run(EXPERIMENT, project=root)
    with run:
        t0 = perf_counter()
        if with_step:
            for i, value in enumerate(values):
                log("loss", value, step=i)
        else:
            for value in values:
                log("loss", value)
        t1 = perf_counter()
        mj.flush()
        t2 = perf_counter()
    t3 = perf_counter()
    on_disk = sqlite_count(root / ".mlops" / "runs.db", "SELECT COUNT(*) FROM metrics JOIN runs ON runs.num = metrics.run WHERE runs.id = ?", (run.run_id,))
    return {
        "n": n,
        "calls": t1 - t0,
        "flush": t2 - t1,
        "end": t3 - t2,
        "total": t3 - t0,
        "on_disk": on_disk,
    }


def bench_mlflow_log_metric(mlflow, folder: Path, n: int) -> dict:
    experiment_id = mlflow_experiment(mlflow, folder, "log-metric")
    values = metric_values(n)
    log = mlflow.log_metric
    run = mlflow.start_run(experiment_id=experiment_id)
    t0 = perf_counter()
    for i, value in enumerate(values):
        log("loss", value, step=i)
    t1 = perf_counter()
    mlflow.end_run()
    t2 = perf_counter()
    on_disk = len(mlflow.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    return {"n": n, "calls": t1 - t0, "end": t2 - t1, "total": t2 - t0, "on_disk": on_disk}


def report_log_metric(mj_res: dict | None, mj_nostep: dict | None, ml_res: dict | None) -> dict:
    heading("(a) log_metric, one point per call, in one run")
    out: dict[str, Any] = {}
    if mj_res:
        n = mj_res["n"]
        out["mj_call_rate"] = n / mj_res["calls"]
        out["mj_rate"] = n / mj_res["total"]
        out["mj_call_s"] = mj_res["calls"] / n
        out["mj_total_per_point"] = mj_res["total"] / n
        show(f"mlops-jupyter: {n:,} calls (step=i)", fmt_seconds(mj_res["calls"]))
        show("  + mj.flush()", fmt_seconds(mj_res["flush"]))
        show("  + run end", fmt_seconds(mj_res["end"]))
        show("  points on disk afterwards", f"{mj_res['on_disk']:,} {'(all)' if mj_res['on_disk'] == n else '(MISSING POINTS!)'}")
        show("  calls only", f"{fmt_rate(out['mj_call_rate'])}, {fmt_seconds(out['mj_call_s'])} a call")
        show("  incl. flush + run end", f"{fmt_rate(out['mj_rate'])}, {fmt_seconds(out['mj_total_per_point'])} a point")
    if mj_nostep:
        n = mj_nostep["n"]
        show(f"mlops-jupyter: {n:,} calls (step omitted)", f"{fmt_rate(n / mj_nostep['calls'])} calls only, "
             f"{fmt_rate(n / mj_nostep['total'])} incl. flush + end")
    if ml_res:
        n = ml_res["n"]
        out["ml_call_rate"] = n / ml_res["calls"]
        out["ml_rate"] = n / ml_res["total"]
        out["ml_call_s"] = ml_res["calls"] / n
        show(f"MLflow: {n:,} calls (step=i)", fmt_seconds(ml_res["calls"]))
        show("  + end_run()", fmt_seconds(ml_res["end"]))
        show("  points on disk afterwards", f"{ml_res['on_disk']:,}")
        show("  calls only", f"{fmt_rate(out['ml_call_rate'])}, {fmt_seconds(out['ml_call_s'])} a call")
        show("  incl. end_run", fmt_rate(out["ml_rate"]))
    out["ratio_calls"] = ratio(out.get("mj_call_rate"), out.get("ml_call_rate"))
    out["ratio"] = ratio(out.get("mj_rate"), out.get("ml_rate"))
    show("ratio, calls only (mj / MLflow)", fmt_ratio(out["ratio_calls"]))
    show(f"ratio, mj incl. flush (target >= {TARGET_LOG_RATIO:,.0f}x)", fmt_ratio(out["ratio"]))
    return out


# --- (b) many runs, then search -----------------------------------------------------


def make_runs(sizes: Sizes, seed: int = 0) -> list[tuple[dict, dict]]:
    """(params, metrics) per run: ints, floats and strings; p0 in 0..3, metrics in [0, 1)."""
    rng = random.Random(seed)
    choices = ("adam", "sgd", "rmsprop", "adagrad")
    data = []
    for _ in range(sizes.runs):
        params: dict[str, Any] = {"p0": rng.randrange(4)}
        for j in range(1, sizes.params):
            kind = j % 3
            if kind == 0:
                params[f"p{j}"] = rng.randrange(100)
            elif kind == 1:
                params[f"p{j}"] = round(rng.random(), 4)
            else:
                params[f"p{j}"] = rng.choice(choices)
        metrics = {f"m{k}": rng.random() for k in range(sizes.metrics)}
        data.append((params, metrics))
    return data


def expected_matches(data: list[tuple[dict, dict]]) -> int:
    return sum(1 for params, metrics in data if metrics["m0"] < 0.5 and params["p0"] == 3)


def progress(tool: str, done: int, total: int, started: float) -> None:
    if done % max(1, total // 10) == 0 or done == total:
        elapsed = perf_counter() - started
        print(f"    {tool}: {done:,}/{total:,} runs, {elapsed:.1f} s", flush=True)


def create_mj_runs(mj, folder: Path, data) -> float:
    root = mj_project(folder)
    t0 = perf_counter()
    for i, (params, metrics) in enumerate(data, 1):
        with mj.start_run(EXPERIMENT, project=root):
            mj.log_params(params)
            mj.log_metrics(metrics)
        progress("mlops-jupyter", i, len(data), t0)
    return perf_counter() - t0


def create_mlflow_runs(mlflow, experiment_id: str, data) -> float:
    t0 = perf_counter()
    for i, (params, metrics) in enumerate(data, 1):
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
        progress("MLflow", i, len(data), t0)
    return perf_counter() - t0


@dataclass
class Timing:
    first: float  # the first call (imports pandas, warms caches)
    best: float
    median: float
    result: Any


def time_calls(fn: Callable[[], Any], repeats: int) -> Timing:
    t0 = perf_counter()
    result = fn()
    first = perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = perf_counter()
        result = fn()
        times.append(perf_counter() - t0)
    return Timing(first, min(times), statistics.median(times), result)


def sorted_m0(frame) -> list[float]:
    return sorted(frame["metrics.m0"].tolist()) if len(frame) else []


def bench_queries(mj, mlflow, folders: dict[str, Path], sizes: Sizes) -> dict:
    heading(f"(b) {sizes.runs:,} runs x {sizes.params} params x {sizes.metrics} metrics, then search")
    data = make_runs(sizes)
    expected = expected_matches(data)
    out: dict[str, Any] = {"runs": sizes.runs, "expected": expected}

    print("  creating runs ...", flush=True)
    out["mj_create"] = create_mj_runs(mj, folders["mj"], data)
    mj_root = folders["mj"]
    out["mj_all"] = time_calls(lambda: mj.runs(experiment=EXPERIMENT, project=mj_root), sizes.query_repeats)
    out["mj_filter"] = time_calls(
        lambda: mj.runs(experiment=EXPERIMENT, filter=FILTER_MJ, project=mj_root), sizes.query_repeats
    )
    if mlflow is not None:
        experiment_id = mlflow_experiment(mlflow, folders["mlflow"], EXPERIMENT)
        out["ml_create"] = create_mlflow_runs(mlflow, experiment_id, data)
        out["ml_all"] = time_calls(lambda: mlflow.search_runs(experiment_ids=[experiment_id]), sizes.query_repeats)
        out["ml_filter"] = time_calls(
            lambda: mlflow.search_runs(experiment_ids=[experiment_id], filter_string=FILTER_MLFLOW),
            sizes.query_repeats,
        )
    report_queries(out, sizes)
    return out


def report_queries(out: dict, sizes: Sizes) -> None:
    n, expected = out["runs"], out["expected"]
    has_ml = "ml_all" in out
    show("creation, mlops-jupyter", f"{fmt_seconds(out['mj_create'])} ({fmt_seconds(out['mj_create'] / n)} a run)")
    if has_ml:
        show("creation, MLflow", f"{fmt_seconds(out['ml_create'])} ({fmt_seconds(out['ml_create'] / n)} a run)")
    show("filter (mj)", FILTER_MJ)
    show("filter (MLflow)", FILTER_MLFLOW)
    show("rows the filter should select (from the data)", f"{expected:,}")
    for kind, label in (("all", "all runs"), ("filter", "filter")):
        mj_t: Timing = out[f"mj_{kind}"]
        show(f"mj.runs(), {label}: best / median / first",
             f"{fmt_seconds(mj_t.best)} / {fmt_seconds(mj_t.median)} / {fmt_seconds(mj_t.first)}"
             f"  ({len(mj_t.result):,} rows x {mj_t.result.shape[1]} columns)")
        if has_ml:
            ml_t: Timing = out[f"ml_{kind}"]
            show(f"mlflow.search_runs(), {label}: best / median / first",
                 f"{fmt_seconds(ml_t.best)} / {fmt_seconds(ml_t.median)} / {fmt_seconds(ml_t.first)}"
                 f"  ({len(ml_t.result):,} rows x {ml_t.result.shape[1]} columns)")
            out[f"ratio_{kind}"] = ratio(ml_t.best, mj_t.best)
            show(f"ratio, {label} (MLflow / mj, best; target >= {TARGET_QUERY_RATIO:g}x)", fmt_ratio(out[f"ratio_{kind}"]))
    rows_ok = len(out["mj_all"].result) == n and len(out["mj_filter"].result) == expected
    if has_ml:
        rows_ok = rows_ok and len(out["ml_all"].result) == n and len(out["ml_filter"].result) == expected
        same_values = sorted_m0(out["mj_filter"].result) == sorted_m0(out["ml_filter"].result)
        show("filtered runs have the same metrics.m0 values", "yes" if same_values else "NO")
        rows_ok = rows_ok and same_values
    out["rows_ok"] = rows_ok
    show("row counts agree (tools and data)", "yes" if rows_ok else "NO — ROW COUNT MISMATCH")


# --- (c) start-up -------------------------------------------------------------------


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("mlops-jupyter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlops_jupyter.cli"]


def clean_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLOPS_JUPYTER_DIR", None)
    return env


def wall_times(command: list[str], repeats: int) -> list[float]:
    """Wall times of ``command`` in fresh processes, after one untimed warm-up run."""
    env = clean_env()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    times = []
    for _ in range(repeats):
        t0 = perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
        times.append(perf_counter() - t0)
    return times


def imported_top_level(args: list[str]) -> tuple[set[str], int]:
    """Top-level modules the CLI imports with ``args`` (from -X importtime), and its exit code."""
    command = cli_command()
    if command[0] != sys.executable:  # run the console script file under the same interpreter
        command = [sys.executable, *command]
    command = [command[0], "-X", "importtime", *command[1:], *args]
    done = subprocess.run(command, capture_output=True, text=True, env=clean_env(), check=False)
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                modules.add(name.split(".")[0])
    return modules, done.returncode


def bench_startup(sizes: Sizes, mj_store_folder: Path | None, with_mlflow: bool) -> dict:
    heading("(c) start-up, fresh processes")
    py = sys.executable
    repeats = sizes.process_repeats
    out: dict[str, Any] = {}
    out["pass"] = statistics.median(wall_times([py, "-c", "pass"], repeats))
    out["import_mj"] = statistics.median(wall_times([py, "-c", "import mlops_jupyter"], repeats))
    out["help"] = statistics.median(wall_times([*cli_command(), "--help"], repeats))
    show("command for the CLI", " ".join(cli_command()))
    show(f"python -c pass (median of {repeats})", fmt_seconds(out["pass"]))
    show("python -c 'import mlops_jupyter': raw / net",
         f"{fmt_seconds(out['import_mj'])} / {fmt_seconds(out['import_mj'] - out['pass'])}")
    show(f"mlops-jupyter --help (target <= {TARGET_HELP_SECONDS} s)", fmt_seconds(out["help"]))
    if mj_store_folder is not None:
        ls = [*cli_command(), "-C", str(mj_store_folder), "runs", "ls"]
        out["runs_ls"] = statistics.median(wall_times(ls, repeats))
        show("mlops-jupyter runs ls (50 of the runs of (b))", fmt_seconds(out["runs_ls"]))
    if with_mlflow:
        n = sizes.mlflow_import_repeats
        out["import_mlflow"] = statistics.median(wall_times([py, "-c", "import mlflow"], n))
        show(f"python -c 'import mlflow' (median of {n}): raw / net",
             f"{fmt_seconds(out['import_mlflow'])} / {fmt_seconds(out['import_mlflow'] - out['pass'])}")

    checks = {"--help": ["--help"]}
    if mj_store_folder is not None:
        checks["runs ls"] = ["-C", str(mj_store_folder), "runs", "ls"]
    out["heavy"] = {}
    for label, args in checks.items():
        # Twice: the first run can differ when it migrates the store's schema (sqlite-utils imports pandas).
        runs = [imported_top_level(args) for _ in range(2)]
        heavy = [sorted(modules & {"pandas", "IPython"}) for modules, _ in runs]
        out["heavy"][label] = heavy[1]
        for nth, (modules, code), found in zip(("1st", "2nd"), runs, heavy):
            status = "no" if not found else "YES: " + ", ".join(found)
            show(f"mlops-jupyter {label} imports pandas/IPython ({nth} run)",
                 f"{status} (exit code {code}, {len(modules)} top-level modules)")
    return out


# --- summary ------------------------------------------------------------------------


def summary(a: dict | None, b: dict | None, c: dict | None, sizes: Sizes) -> None:
    heading("summary")
    a, b, c = a or {}, b or {}, c or {}
    rows: list[list[str]] = []
    if a:
        rows.append(["(a) log_metric, calls only", fmt_rate(a.get("mj_call_rate")), fmt_rate(a.get("ml_call_rate")),
                     fmt_ratio(a.get("ratio_calls")), "", "info"])
        ratio_ok = None if a.get("ratio") is None else a["ratio"] >= TARGET_LOG_RATIO
        rows.append(["(a) log_metric, incl. flush + end", fmt_rate(a.get("mj_rate")), fmt_rate(a.get("ml_rate")),
                     fmt_ratio(a.get("ratio")), f">= {TARGET_LOG_RATIO:,.0f}x", verdict(ratio_ok)])
        rows.append(["(a) time per call", fmt_seconds(a.get("mj_call_s")), fmt_seconds(a.get("ml_call_s")), "", "", "info"])
    if b:
        n = b["runs"]
        rows.append([f"(b) create {n:,} runs", fmt_seconds(b.get("mj_create")), fmt_seconds(b.get("ml_create")),
                     fmt_ratio(ratio(b.get("ml_create"), b.get("mj_create"))), "", "info"])
        for kind, label in (("all", f"(b) runs() all {n:,} (best)"), ("filter", "(b) runs() filter (best)")):
            mj_t, ml_t = b.get(f"mj_{kind}"), b.get(f"ml_{kind}")
            r = b.get(f"ratio_{kind}")
            rows.append([label, fmt_seconds(mj_t.best if mj_t else None), fmt_seconds(ml_t.best if ml_t else None),
                         fmt_ratio(r), f">= {TARGET_QUERY_RATIO:g}x", verdict(None if r is None else r >= TARGET_QUERY_RATIO)])
        mj_rows = len(b["mj_filter"].result) if "mj_filter" in b else None
        ml_rows = len(b["ml_filter"].result) if "ml_filter" in b else None
        rows.append(["(b) filter rows", str(mj_rows), "n/a" if ml_rows is None else str(ml_rows), "",
                     f"= {b['expected']:,}", verdict(b.get("rows_ok"))])
    if c:
        net_mj = c["import_mj"] - c["pass"]
        net_ml = c["import_mlflow"] - c["pass"] if "import_mlflow" in c else None
        rows.append(["(c) import (net of python -c pass)", fmt_seconds(net_mj), fmt_seconds(net_ml),
                     fmt_ratio(ratio(net_ml, net_mj)), "", "info"])
        rows.append(["(c) mlops-jupyter --help", fmt_seconds(c["help"]), "", "", f"<= {TARGET_HELP_SECONDS} s",
                     verdict(c["help"] <= TARGET_HELP_SECONDS)])
        for label, heavy in c.get("heavy", {}).items():
            rows.append([f"(c) {label} imports pandas/IPython (2nd)", "no" if not heavy else ", ".join(heavy), "", "", "no",
                         verdict(not heavy)])
    print(table(["measure", "mlops-jupyter", "MLflow", "ratio", "target", "result"], rows))
    print("\nPASS/FAIL is information only; this benchmark always exits 0.")


# --- main ---------------------------------------------------------------------------


def describe(mlflow, sizes: Sizes, quick: bool) -> None:
    import mlops_jupyter

    print(f"mlops-jupyter {mlops_jupyter.__version__} vs MLflow {getattr(mlflow, '__version__', 'n/a')}"
          f" ({'--quick' if quick else 'full'} mode)")
    print(f"Python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs, "
          f"SQLite {sqlite3.sqlite_version}")
    print(f"sizes: {sizes}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a quick check that everything works")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    import mlops_jupyter as mj

    mlflow = import_mlflow()
    describe(mlflow, sizes, args.quick)
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        tmp_path = Path(tmp)
        mj_a = guarded("mlops-jupyter log_metric", lambda: bench_mj_log_metric(mj, tmp_path / "mj-a", sizes.mj_points))
        mj_a2 = guarded("mlops-jupyter log_metric (no step)",
                        lambda: bench_mj_log_metric(mj, tmp_path / "mj-a2", sizes.mj_points, with_step=False))
        ml_a = None
        if mlflow is not None:
            ml_a = guarded("MLflow log_metric", lambda: bench_mlflow_log_metric(mlflow, tmp_path / "mlflow-a", sizes.mlflow_points))
        a = report_log_metric(mj_a, mj_a2, ml_a)

        folders = {"mj": tmp_path / "mj-b", "mlflow": tmp_path / "mlflow-b"}
        b = guarded("run creation and search", lambda: bench_queries(mj, mlflow, folders, sizes))
        store_folder = folders["mj"] if (folders["mj"] / ".mlops" / "runs.db").exists() else None
        c = guarded("start-up", lambda: bench_startup(sizes, store_folder, mlflow is not None))
        summary(a, b, c, sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

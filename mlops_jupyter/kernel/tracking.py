"""The tracking API behind ``import mlops_jupyter as mj``.

One tracker per process holds the stack of active runs and a buffer of metric
points per store. ``log_metric`` only appends to that buffer; a background
thread writes it every ``core.metric_flush_interval`` seconds, and it is also
written at run end, on ``flush()``, before ``runs()`` reads, and at exit. A
crash loses at most the last interval.

Nothing here imports IPython: the API works in scripts as well as in kernels.
"""

from __future__ import annotations

import atexit
import gc
import mimetypes
import operator
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..core.environment import capture
from ..core.errors import InvalidValue, MlopsError, NoActiveRun, StoreError
from ..core.models import Artifact, Run
from ..core.hashing import walk_files
from ..core.objects import ObjectStore
from ..core.project import Config, Project, find_project, is_state_path
from ..core.store import RunStore
from ..core.values import check_key, metric_value


# Points a store's buffer holds before the logging thread writes them itself (back-pressure: a
# burst costs a bounded amount of memory, ~9 MB), and the most it holds while the store cannot
# be written at all (~180 MB) before log_metric refuses more.
BUFFER_LIMIT = 50_000
HELD_LIMIT = 1_000_000


class ActiveRun:
    """A run this process is writing to; a context manager that ends it."""

    def __init__(self, tracker: Tracker, store: RunStore, project: Project, run: Run, *, implicit: bool = False):
        self._tracker = tracker
        self.store = store
        self.project = project
        self.run = run
        self.implicit = implicit  # started by a log call, ended at exit
        self._steps: dict[str, int] = {}  # metric key -> last step; also marks checked keys
        self._buffer = tracker._buffer_for(store)
        self.status: str | None = None

    @property
    def run_id(self) -> str:
        return self.run.id

    def __repr__(self) -> str:
        return f"<ActiveRun {self.run.id[:8]} experiment={self.run.experiment!r} stage={self.run.stage!r}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or (exc_type is SystemExit and not exc.code):
            status = "finished"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "killed"
        else:
            status = "failed"
        self.end(status)

    def end(self, status: str = "finished") -> None:
        """Write its buffered metrics and record how it ended (once). Metrics the store cannot
        take now stay buffered (and are retried); the status is recorded all the same."""
        if self.status is not None:
            return
        try:
            self._tracker.flush()
        except StoreError as e:
            self._tracker.report(e)
        self.store.end_run(self.run.id, status)
        self.status = status
        self._tracker._forget(self)

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        steps = self._steps
        last = steps.get(key)
        if last is None:
            check_key("metric", key)
            last = -1
        if type(value) is not float:
            value = metric_value(key, value)
        if step is None:
            step = last + 1
        else:
            try:
                step = operator.index(step)
            except TypeError:
                raise InvalidValue(f"metric {key!r}: step must be an integer, got {step!r}") from None
            if not -(2**63) <= step < 2**63:
                raise InvalidValue(f"metric {key!r}: step {step} does not fit in 64 bits; use a smaller step")
        if step > last:
            steps[key] = step
        buffer = self._buffer
        buffer.append((self.run.id, key, step, value, time.time_ns() // 1_000_000))
        if len(buffer) >= BUFFER_LIMIT:
            self._tracker.relieve(buffer)


class Tracker:
    def __init__(self) -> None:
        self._stores: dict[Path, tuple[RunStore, Project]] = {}
        self._stack: list[ActiveRun] = []
        self._buffers: dict[RunStore, list] = {}
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._interval = 1.0
        self._experiment: str | None = None
        self._configs: dict[Path, Config] = {}  # of each opened project, read again when its file changes
        self._config_stamps: dict[Path, int | None] = {}  # config.toml mtime_ns the config was read at
        self._waiting = False  # points wait in memory because the store could not be written
        self._retry_at = 0.0  # monotonic time before which back-pressure does not retry a write
        self.crashed = False  # set by the excepthook: runs left open at exit end as failed

    # --- stores -----------------------------------------------------------------

    def open(self, project: str | os.PathLike | Project | None = None) -> tuple[RunStore, Project]:
        if not isinstance(project, Project):
            project = find_project(project)
        opened = self._stores.get(project.root)
        if opened is None:
            config = self.config(project.ensure())
            store = RunStore(project.db_path, busy_timeout=config.core.busy_timeout)
            ObjectStore(project.cache_dir).remove_stale_temps()  # left by writers that were killed
            self._interval = config.core.metric_flush_interval
            opened = self._stores[project.root] = (store, project)
        return opened

    def config(self, project: Project) -> Config:
        """The project's settings, read again when ``config.toml`` changed (a remote added meanwhile)."""
        try:
            stamp = project.config_path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        known = self._config_stamps.get(project.root)
        if known != stamp or project.root not in self._configs:
            self._configs[project.root] = project.config()
            self._config_stamps[project.root] = stamp
        return self._configs[project.root]

    def _buffer_for(self, store: RunStore) -> list:
        return self._buffers.setdefault(store, [])

    # --- runs -------------------------------------------------------------------

    def experiment(self, project: Project) -> str:
        return (self._experiment or os.environ.get("MLOPS_JUPYTER_EXPERIMENT")
                or self.config(project).core.experiment)

    def set_experiment(self, name: str) -> None:
        self._experiment = check_key("experiment", name)

    def start_run(
        self,
        experiment: str | None = None,
        *,
        stage: str | None = None,
        tags: dict[str, Any] | None = None,
        project: str | os.PathLike | Project | None = None,
        implicit: bool = False,
        **run_fields: Any,
    ) -> ActiveRun:
        store, project = self.open(project)
        run = store.create_run(
            experiment or self.experiment(project),
            stage=stage,
            environment=capture(project.root),
            **run_fields,
        )
        active = ActiveRun(self, store, project, run, implicit=implicit)
        self._stack.append(active)
        if tags:
            store.set_tags(run.id, tags)
        self._ensure_flusher()
        return active

    def current(self) -> ActiveRun:
        """The innermost active run; one is started if there is none (as MLflow does)."""
        if self._stack:
            return self._stack[-1]
        return self.start_run(implicit=True)

    def active(self) -> ActiveRun | None:
        return self._stack[-1] if self._stack else None

    def _forget(self, run: ActiveRun) -> None:
        if run in self._stack:
            self._stack.remove(run)

    # --- flushing ---------------------------------------------------------------

    def _ensure_flusher(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._stop.clear()
            self._flusher = threading.Thread(target=self._flush_loop, name="mlops-jupyter-flush", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception as e:  # the points stay buffered; the next round retries
                self.report(e)

    def report(self, error: Exception) -> None:
        """Say once that metrics wait in memory, until they are written again."""
        if not self._waiting:
            self._waiting = True
            waiting = sum(map(len, self._buffers.values()))
            print(f"mlops-jupyter: {waiting:,} metric points wait in memory, retried every "
                  f"{self._interval:g}s: {error}", file=sys.stderr)

    def relieve(self, buffer: list) -> None:
        """Back-pressure from a logging thread whose buffer is full: it writes the buffer itself.
        While the store cannot be written, points are held up to ``HELD_LIMIT``, then refused."""
        if time.monotonic() >= self._retry_at:
            try:
                self.flush()
            except StoreError as e:
                self._retry_at = time.monotonic() + self._interval
                self.report(e)
        if len(buffer) >= HELD_LIMIT:
            buffer.pop()
            raise StoreError(f"{len(buffer):,} metric points already wait in memory for the run store, "
                             "which cannot be written; fix it (free disk space?) and log again")

    def flush(self) -> None:
        """Write every buffered metric point now; raises ``StoreError`` (points kept) while the
        store cannot be written."""
        with self._flush_lock:
            for store, buffer in list(self._buffers.items()):
                # log_metric appends without the lock: write a prefix, drop it once written.
                if buffer:
                    self._write(store, buffer, len(buffer))
            if self._waiting:
                self._waiting = False
                print("mlops-jupyter: the metrics that waited are saved", file=sys.stderr)

    def _write(self, store: RunStore, buffer: list, count: int) -> None:
        """Write the first ``count`` points, removing them from ``buffer`` as they are written.

        A store that cannot be written (disk full, locked) raises and keeps them; a point the
        store refuses for itself is found by halving and dropped alone, with one line."""
        try:
            store.log_metric_points(buffer[:count])
        except StoreError:
            raise
        except Exception as e:
            if count == 1:
                run_id, key, step, value, _ = buffer.pop(0)
                print(f"mlops-jupyter: metric {key!r} = {value!r} (step {step}) of run {run_id[:8]} "
                      f"cannot be stored and is dropped: {e}", file=sys.stderr)
                return
            half = count // 2
            self._write(store, buffer, half)
            self._write(store, buffer, count - half)
            return
        del buffer[:count]

    def shutdown(self) -> None:
        """At exit: end the runs still open (as MLflow does), write what is buffered."""
        self._stop.set()
        try:
            for run in reversed(list(self._stack)):
                run.end("failed" if self.crashed else "finished")
            self.flush()
        except MlopsError as e:
            print(f"mlops-jupyter: could not save the last metrics: {e}", file=sys.stderr)

    # --- artifacts --------------------------------------------------------------

    def log_artifact(self, path: str | os.PathLike, name: str | None = None) -> list[Artifact]:
        run = self.current()
        source = Path(path)
        if is_state_path(source.absolute()):
            raise MlopsError(f"log_artifact: {source} is inside the project's own state (.mlops/, .git/, mlops.lock), "
                             "which is never an artifact")
        if not source.exists():
            raise MlopsError(f"log_artifact: {source} does not exist")
        # A folder's files, without tool state: copying the store's files would also drop this
        # process's SQLite locks on them.
        files = [source] if source.is_file() else sorted(Path(p) for p, _ in walk_files(str(source)))
        base = name or source.name
        objects = ObjectStore(run.project.cache_dir)
        logged = []
        for file in files:
            digest, size = objects.put_file(file)
            artifact_name = base if file == source else f"{base}/{file.relative_to(source).as_posix()}"
            artifact = Artifact(
                name=artifact_name,
                kind="file",
                hash=digest,
                size=size,
                mime=mimetypes.guess_type(file.name)[0] or "application/octet-stream",
            )
            run.store.add_artifact(run.run_id, artifact)
            logged.append(artifact)
        return logged


_stage_params = None  # the ParamsView of the %%stage cell running now


def set_stage_params(view) -> None:
    global _stage_params
    _stage_params = view


def stage_params():
    """``mj.params``: the declared params of the running stage."""
    if _stage_params is None:
        raise NoActiveRun("mj.params exists only inside a %%stage cell; declare params with -p")
    return _stage_params


TRACKER = Tracker()
atexit.register(TRACKER.shutdown)


def _note_crash(*exc_info, _previous=sys.excepthook) -> None:
    TRACKER.crashed = True
    _previous(*exc_info)


sys.excepthook = _note_crash


# --- the public functions -----------------------------------------------------


def start_run(
    experiment: str | None = None,
    *,
    stage: str | None = None,
    tags: dict[str, Any] | None = None,
    project: str | os.PathLike | None = None,
) -> ActiveRun:
    """Start a run; use it as ``with mj.start_run(): ...`` so it ends with the block.

    ``experiment`` defaults to the one set by ``set_experiment``, else
    ``$MLOPS_JUPYTER_EXPERIMENT``, else ``core.experiment`` in the project config.
    """
    return TRACKER.start_run(experiment, stage=stage, tags=tags, project=project)


def end_run(status: str = "finished") -> None:
    """End the innermost active run."""
    run = TRACKER.active()
    if run is None:
        raise NoActiveRun("no active run to end")
    run.end(status)


def active_run() -> ActiveRun | None:
    return TRACKER.active()


def set_experiment(name: str) -> None:
    """Make ``name`` the experiment of the runs this process starts next."""
    TRACKER.set_experiment(name)


def log_metric(key: str, value: Any, step: int | None = None) -> None:
    """Log one metric point. ``step`` defaults to one past the key's last step (from 0)."""
    (TRACKER._stack[-1] if TRACKER._stack else TRACKER.current()).log_metric(key, value, step)


def log_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
    run = TRACKER.current()
    for key, value in metrics.items():
        run.log_metric(key, value, step)


def log_param(key: str, value: Any) -> None:
    """Params are write-once per run: logging another value for a key is an error."""
    log_params({key: value})


def log_params(params: dict[str, Any]) -> None:
    run = TRACKER.current()
    run.store.log_params(run.run_id, params)


def set_tag(key: str, value: Any) -> None:
    run = TRACKER.current()
    run.store.set_tags(run.run_id, {key: value})


def set_tags(tags: dict[str, Any]) -> None:
    run = TRACKER.current()
    run.store.set_tags(run.run_id, tags)


def log_artifact(path: str | os.PathLike, name: str | None = None) -> list[Artifact]:
    """Copy a file (or every file of a folder) into the object cache and record it on the run."""
    return TRACKER.log_artifact(path, name)


def flush() -> None:
    """Write buffered metrics now (they are also written every second and at exit)."""
    TRACKER.flush()


def runs(
    experiment=None,
    stage=None,
    status=None,
    filter: str | None = None,
    order_by=None,
    max_results: int | None = None,
    project: str | os.PathLike | None = None,
):
    """Runs as a pandas DataFrame shaped like ``mlflow.search_runs``.

    Columns: ``run_id, experiment, stage, status, start_time, end_time,
    duration`` (seconds), ``notebook``, then ``metrics.*``, ``params.*`` and
    ``tags.*``. ``filter`` is the filter language, e.g.
    ``"metrics.rmse < 0.7 and params.n_est = 100"``.
    """
    with _page_of(project) as store:
        return page_frame(store.search_page(
            experiment=experiment, stage=stage, status=status, filter=filter, order_by=order_by, limit=max_results
        ))


@contextmanager
def _page_of(project):
    """The store of ``project``, its buffered metrics written, for reading one page with the
    collector off: a page is a burst of short-lived rows, and a full collection in the middle of it
    is pure cost."""
    TRACKER.flush()
    store, _ = TRACKER.open(project)
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield store
    finally:
        if collecting:
            gc.enable()


def experiments(
    experiment=None,
    stage=None,
    status=None,
    filter: str | None = None,
    order_by=None,
    max_results: int | None = None,
    project: str | os.PathLike | None = None,
):
    """Experiments as a pandas DataFrame: one row per pipeline result, with every param and metric of
    its lineage (``core.experiments`` says how keys are named).

    The rows are the runs of the pipeline's sink stages (``stage`` picks other stages' runs), with the
    columns of ``runs()`` plus ``upstream_run_ids`` (the runs it was made from, nearest first).
    ``filter`` and ``order_by`` apply to the joined columns, e.g.
    ``"metrics.accuracy > 0.95 and params.train.n_est < 200"``.
    """
    from ..core import experiments as views

    with _page_of(project) as store:
        page = views.page(store, experiment=experiment, stage=stage, status=status, filter=filter,
                          order_by=order_by, limit=max_results)
        return page_frame(page, upstream_run_ids=[[run_id for run_id, _ in runs] for runs in page.upstream])


def page_frame(page, **extra):
    """The DataFrame of ``runs()``, column by column from the store's page: no object per run;
    ``extra`` columns follow ``notebook``.

    A param column whose values are all ints is int64 (``Int64`` when some runs lack the key), all
    floats float64, any other mix with numbers object; strings and booleans are as pandas reads them.
    """
    import numpy as np
    import pandas as pd

    fields = list(zip(*page.rows)) or [()] * 11  # (num, *Run's fields)
    _, ids, experiments, stages, statuses, starts, ends, notebooks = (list(values) for values in fields[:8])
    seconds = (np.array(ends, dtype=float) - np.array(starts, dtype=float)) / 1000.0  # Run.duration; NaN while running
    columns: dict[str, Any] = {
        "run_id": ids,
        "experiment": experiments,
        "stage": stages,
        "status": statuses,
        "start_time": pd.to_datetime(starts, unit="ms", utc=True),
        "end_time": pd.to_datetime(ends, unit="ms", utc=True),
        "duration": seconds,
        "notebook": notebooks,
        **extra,
    }
    for prefix, values in (("metrics", page.metrics), ("params", page.params), ("tags", page.tags)):
        for key in sorted(values):
            columns[f"{prefix}.{key}"] = _column(*values[key], len(ids), prefix != "tags", pd, np)
    return pd.DataFrame(columns)


def _column(positions: list, values: list, count: int, numeric: bool, pd, np):
    """One metrics./params./tags. column: a key's values at the positions of the runs having it."""
    kinds = set(map(type, values)) if numeric else set()
    if kinds == {float}:
        column = np.full(count, np.nan)
        column[positions] = values
        return column
    if kinds == {int}:
        data = np.zeros(count, dtype=np.int64)
        try:
            data[positions] = values
        except OverflowError:  # past 64 bits: an object column of Python ints, below
            pass
        else:
            if len(positions) == count:
                return data
            missing = np.ones(count, dtype=bool)
            missing[positions] = False
            return pd.arrays.IntegerArray(data, missing)
    column = [None] * count
    for position, value in zip(positions, values):
        column[position] = value
    return pd.Series(column, dtype=object) if kinds & {int, float} else column

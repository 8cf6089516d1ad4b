"""The run store: one SQLite file (WAL) shared by kernels and CLI processes.

Writes are short ``BEGIN IMMEDIATE`` transactions, so a writer waits for the
lock (up to the busy timeout) instead of failing on a lock upgrade. All SQL is
parameterized; the only SQL text built at run time comes from fixed tables in
``filters``.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from . import experiment_summaries, filters, schema, summaries
from .errors import AmbiguousRunId, FilterError, ParamConflict, RunNotFound, StoreError
from .models import (
    STATUSES,
    Artifact,
    Environment,
    LineageEdge,
    MetricPoint,
    Run,
    RunDetail,
    RunSummary,
)
from .summaries import Columns
from .values import check_key, decode_param, encode_param

_CHUNK = 10_000  # ids bound in one IN (...): below SQLite's variable limit
_RUN_COLUMNS = (
    "r.id, e.name, r.stage, r.status, r.start_time, r.end_time, "
    "r.notebook, r.cell_id, r.fingerprint, r.code_hash"
)  # in the order of Run's fields
_FROM_RUNS = "FROM runs r JOIN experiments e ON e.id = r.experiment_id"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _as_tuple(value) -> tuple:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# The params, latest metrics and tags of a page of runs, the page bound as one JSON array of run
# numbers: params and metrics from the runs' summaries, in page order (json_each's key); tags as rows
# carrying their run's position on the page.
_PAGE_SUMMARIES = (
    "SELECT r.params_json, r.metrics_json FROM json_each(?) j JOIN runs r ON r.num = j.value ORDER BY j.key"
)
_PAGE_TAGS = "SELECT j.key, t.key, t.value FROM json_each(?) j JOIN tags t ON t.run = j.value"
_SQLITE_LIMITS = ("too many", "too large", "too complex", "stack overflow", "at most")  # its messages for limits



_STAGE_ENTRIES = (
    "SELECT c.fingerprint, c.stage, c.manifest, r.id, c.seconds, c.origin"
    " FROM stage_cache c LEFT JOIN runs r ON r.num = c.run"
)


@dataclass(frozen=True)
class CachedEntry:
    """A row of the stage cache: a fingerprint's result (its manifest object) and the run that made it."""

    fingerprint: str
    stage: str
    manifest: str
    run_id: str | None
    seconds: float | None
    origin: str | None  # the remote it was pulled from; None when made here


@dataclass(frozen=True)
class RunPage:
    """The runs a search found, column-wise (what ``mj.runs()`` makes a DataFrame of without an
    object per run): ``rows`` are ``(num, *Run's fields)``; ``params`` (decoded), ``metrics`` (a NULL
    is a NaN) and ``tags`` map each key to the positions in ``rows`` of the runs having it and their
    values."""

    rows: list[tuple]
    params: Columns
    metrics: Columns
    tags: Columns

    def summaries(self) -> list[RunSummary]:
        params, metrics, tags = (_per_run(columns, len(self.rows)) for columns in (self.params, self.metrics, self.tags))
        return [RunSummary(Run(*row[1:]), *values) for row, *values in zip(self.rows, params, metrics, tags)]


def _per_run(columns: Columns, count: int) -> list[dict]:
    """The same values run by run, keys in order."""
    runs: list[dict] = [{} for _ in range(count)]
    for key in sorted(columns):
        positions, values = columns[key]
        for position, value in zip(positions, values):
            runs[position][key] = value
    return runs


class RunStore:
    """Runs, params, metrics, tags, artifacts and lineage of one project."""

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float = 30.0, recover: bool = True):
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.RLock()
        self._experiment_ids: dict[str, int] = {}
        self._nums: dict[str, int] = {}  # run id -> row number (run ids never change)
        if not self.path.exists():
            self._create()
        self.conn = self._connect(self.path)
        try:
            self._migrate()
            if recover:
                self.recover_killed_runs()
        except BaseException:
            self.conn.close()
            raise

    # --- connection and errors ------------------------------------------------

    def _create(self) -> None:
        """A new store, built and migrated under a temporary name, then linked into place: so a
        store file is never empty, and an empty one is damage, not a fresh start."""
        tmp = self.path.with_name(f"{self.path.name}-new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            self.conn = self._connect(tmp)
            try:
                self._migrate()
            finally:
                self.conn.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it meanwhile: theirs is as good
        except FileNotFoundError:
            raise StoreError(f"cannot create run store {self.path}: its folder does not exist") from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)

    def _connect(self, path: Path) -> sqlite3.Connection:
        # Never open the file ourselves to check it: closing any descriptor of it would drop the
        # POSIX locks of every SQLite connection of this process (SQLite's own errors tell).
        if path.is_file() and path.stat().st_size == 0:
            raise StoreError(
                f"run store {path} is empty (0 bytes): it was truncated; restore it from a backup, "
                "or move it aside and the next run creates a fresh one"
            )
        with self._errors():
            conn = sqlite3.connect(
                path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with self._errors():
                conn.execute("PRAGMA foreign_keys = ON")
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")  # durable across app crashes in WAL mode
        except BaseException:
            conn.close()
            raise
        return conn

    def _corrupt(self) -> StoreError:
        return StoreError(
            f"run store {self.path} is not a readable SQLite database (corrupt?): "
            "move it aside and the next run creates a fresh one"
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3's errors into one line that says what to do."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            message = str(e).lower()
            if "readonly" in message or "read-only" in message:
                raise StoreError(
                    f"run store {self.path} is read-only: make it and its folder writable "
                    "(SQLite writes -wal and -shm files beside it)"
                ) from None
            if "not a database" in message or "disk image is malformed" in message:
                raise self._corrupt() from None
            if "disk is full" in message or "disk i/o error" in message:
                raise StoreError(
                    f"run store {self.path} cannot be written: {e} (free disk space; nothing written before is lost)"
                ) from None
            if "locked" in message or "busy" in message:
                raise StoreError(
                    f"run store {self.path} stayed locked by another process for "
                    f"{self.busy_timeout:g}s; raise core.busy_timeout in .mlops/config.toml"
                ) from None
            if "unable to open" in message:
                raise StoreError(
                    f"cannot open run store {self.path}: check the folder exists and is writable"
                ) from None
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction (nested calls join the outer one)."""
        with self._lock, self._errors():
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock, self._errors():
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- schema -----------------------------------------------------------------

    def applied_migrations(self) -> list[str]:
        has_table = self._query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
        )
        if not has_table:
            return []
        rows = self._query(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY id",
            [schema.MIGRATION_SET],
        )
        return [name for (name,) in rows]

    def _migrate(self) -> None:
        applied = self.applied_migrations()
        unknown = set(applied) - set(schema.STEP_NAMES)
        if unknown:
            raise StoreError(
                f"run store {self.path} was written by a newer mlops-jupyter "
                f"(schema steps {', '.join(sorted(unknown))}); upgrade mlops-jupyter"
            )
        if len(applied) == len(schema.STEP_NAMES):
            return
        from sqlite_utils import Database

        with self._write():  # one process migrates; the others wait, then find nothing to do
            db = Database(self.conn, execute_plugins=False, recursive_triggers=False)
            schema.migrations().apply(db)

    # --- run numbers ------------------------------------------------------------

    def _num(self, run_id: str) -> int:
        """The row number of a run; raises ``RunNotFound``."""
        num = self._nums.get(run_id)
        if num is None:
            rows = self._query("SELECT num FROM runs WHERE id = ?", [run_id])
            if not rows:
                raise RunNotFound(f"no run {run_id!r}; `mlops-jupyter runs ls` lists the runs")
            num = self._nums[run_id] = rows[0][0]
        return num

    # --- writing ----------------------------------------------------------------

    def experiment_id(self, name: str) -> int:
        check_key("experiment", name)
        cached = self._experiment_ids.get(name)
        if cached is not None:
            return cached
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO experiments (name, created_time) VALUES (?, ?)", [name, now_ms()]
            )
            (eid,) = conn.execute("SELECT id FROM experiments WHERE name = ?", [name]).fetchone()
        self._experiment_ids[name] = eid
        return eid

    def create_run(
        self,
        experiment: str,
        *,
        environment: Environment,
        stage: str | None = None,
        notebook: str | None = None,
        cell_id: str | None = None,
        code: str | None = None,
        code_hash: str | None = None,
        fingerprint: str | None = None,
        start_time: int | None = None,
        run_id: str | None = None,
    ) -> Run:
        """A new run (``run_id``: keep the id of a run imported from elsewhere)."""
        run = Run(
            id=run_id or uuid.uuid4().hex,
            experiment=experiment,
            stage=stage,
            status="running",
            start_time=start_time if start_time is not None else now_ms(),
            end_time=None,
            notebook=notebook,
            cell_id=cell_id,
            fingerprint=fingerprint,
            code_hash=code_hash,
        )
        eid = self.experiment_id(experiment)
        env = environment
        with self._write() as conn:
            self._nums[run.id] = conn.execute(
                "INSERT INTO runs (id, experiment_id, stage, notebook, cell_id, status, start_time,"
                " code, code_hash, fingerprint, python, platform, packages, git_commit, git_dirty,"
                " host, pid, pid_start_time, params_json, metrics_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', '{}')",
                [
                    run.id, eid, stage, notebook, cell_id, run.status, run.start_time,
                    code, code_hash, fingerprint, env.python, env.platform,
                    json.dumps(env.packages, sort_keys=True), env.git_commit,
                    None if env.git_dirty is None else int(env.git_dirty),
                    env.host, env.pid, env.pid_start_time,
                ],
            ).lastrowid
        return run

    def end_run(self, run_id: str, status: str, end_time: int | None = None) -> None:
        if status not in STATUSES or status == "running":
            raise ValueError(f"a run ends as finished, failed or killed, not {status!r}")
        num = self._num(run_id)
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE num = ?",
                [status, end_time if end_time is not None else now_ms(), num],
            )
            experiment_summaries.refresh(conn, [num])

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Write-once: the same value again is fine, another value is a ``ParamConflict``."""
        encoded = {check_key("param", key): encode_param(key, value) for key, value in params.items()}
        num = self._num(run_id)
        if not encoded:
            return
        with self._write() as conn:
            keys = list(encoded)
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                for key, value, kind in conn.execute(
                    f"SELECT key, value, type FROM params WHERE run = ? AND key IN ({marks})", [num, *chunk]
                ):
                    if (value, kind) != encoded[key]:
                        old = decode_param(value, kind)
                        raise ParamConflict(
                            f"param {key!r} of run {run_id[:8]} is already {old!r}; params are "
                            f"write-once: start a new run to use {params[key]!r}"
                        )
            conn.executemany(
                "INSERT OR IGNORE INTO params (run, key, value, type) VALUES (?, ?, ?, ?)",
                [(num, key, value, kind) for key, (value, kind) in encoded.items()],
            )
            summaries.rebuild(conn, "params", [num])
            experiment_summaries.refresh(conn, [num])

    def log_metric_points(self, points: Sequence[tuple[str, str, int, float, int]]) -> None:
        """Append (run_id, key, step, value, timestamp) points and update the latest values."""
        if not points:
            return
        nums = {run_id: self._num(run_id) for run_id in {point[0] for point in points}}
        rows = []
        latest: dict[tuple[int, str], tuple] = {}  # points come in time order: the last of the top step wins
        for run_id, key, step, value, ts in points:
            row = (nums[run_id], key, step, None if value != value else value, ts)
            rows.append(row)
            current = latest.get(row[:2])
            if current is None or step >= current[2]:
                latest[row[:2]] = row
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO metrics (run, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)", rows
            )
            conn.executemany(
                "INSERT INTO latest_metrics (run, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run, key) DO UPDATE SET"
                " value = excluded.value, step = excluded.step, timestamp = excluded.timestamp"
                " WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step"
                " AND excluded.timestamp >= latest_metrics.timestamp)",
                list(latest.values()),
            )
            summaries.rebuild(conn, "latest_metrics", list(nums.values()))
            experiment_summaries.refresh(conn, list(nums.values()))

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        num = self._num(run_id)
        rows = [(num, check_key("tag", key), str(value)) for key, value in tags.items()]
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO tags (run, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (run, key) DO UPDATE SET value = excluded.value",
                rows,
            )

    def add_artifact(self, run_id: str, artifact: Artifact) -> None:
        num = self._num(run_id)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO artifacts (run, name, kind, hash, size, mime) VALUES (?, ?, ?, ?, ?, ?)",
                [num, artifact.name, artifact.kind, artifact.hash, artifact.size, artifact.mime],
            )

    def add_lineage(self, run_id: str, edges: Iterable[LineageEdge]) -> None:
        num = self._num(run_id)
        rows = [(num, self._num(e.upstream_run_id), e.via, e.kind) for e in edges]
        with self._write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO lineage (run, upstream, via, kind) VALUES (?, ?, ?, ?)", rows
            )
            experiment_summaries.refresh(conn, [num])

    def recover_killed_runs(self) -> list[str]:
        """Mark ``killed`` the runs left ``running`` by processes of this host that are gone."""
        from .environment import process_is_gone

        rows = self._query(
            "SELECT id, pid, pid_start_time FROM runs WHERE status = 'running' AND host = ?",
            [socket.gethostname()],
        )
        dead = [run_id for run_id, pid, started in rows if pid is None or process_is_gone(pid, started)]
        if dead:
            with self._write() as conn:
                # It ended no earlier than its last metric: the best guess of when it died. With
                # no metric, when it died is unknown (NULL: shown as —, never as 0 ms).
                conn.executemany(
                    "UPDATE runs SET status = 'killed', end_time = (SELECT MAX(MAX(timestamp), runs.start_time)"
                    " FROM metrics WHERE run = runs.num) WHERE id = ? AND status = 'running'",
                    [(run_id,) for run_id in dead],
                )
                experiment_summaries.refresh(conn, [self._num(run_id) for run_id in dead])
        return dead

    # --- reading ----------------------------------------------------------------

    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the run whose id is, or starts with, ``prefix``."""
        prefix = prefix.strip().lower()
        if not prefix:
            raise RunNotFound("no run id given")
        rows = self._query(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2", [prefix, prefix + "\uffff"]
        )
        if rows and rows[0][0] == prefix:
            return prefix
        if not rows:
            raise RunNotFound(f"no run {prefix!r}; `mlops-jupyter runs ls` lists the runs")
        if len(rows) > 1:
            raise AmbiguousRunId(f"run id {prefix!r} is ambiguous; give more characters")
        return rows[0][0]

    def _where(self, experiment=None, stage=None, status=None, filter: str | None = None,
               notebook=None, tables: dict[str, str] = filters.RUN_TABLES) -> tuple[str, list]:
        clauses, params = ["1"], []
        for column, values in (("e.name", _as_tuple(experiment)), ("r.stage", _as_tuple(stage)),
                               ("r.notebook", _as_tuple(notebook))):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                params.extend(values)
        statuses = _as_tuple(status)
        for value in statuses:
            if value not in STATUSES:
                raise FilterError(f"unknown status {value!r}; one of: {', '.join(STATUSES)}")
        if statuses:
            clauses.append(f"r.status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if filter is not None and (not isinstance(filter, str) or filter.strip()):
            sql, filter_params = filters.compile_filter(filter, tables)
            clauses.append(sql)
            params.extend(filter_params)
        return " AND ".join(clauses), params

    def _order(self, order_by, tables: dict[str, str] = filters.RUN_TABLES) -> tuple[str, list, str]:
        joins, params, terms = [], [], []
        for i, (field, descending) in enumerate(filters.parse_order_by(order_by)):
            if field.namespace == "attributes":
                column = filters.ATTRIBUTES[field.name][0]
            else:
                table = tables[field.namespace]
                joins.append(f"LEFT JOIN {table} o{i} ON o{i}.run = r.num AND o{i}.key = ?")
                params.append(field.name)
                column = f"o{i}.value"
            terms.append(f"{column} IS NULL, {column} {'DESC' if descending else 'ASC'}")
        terms.append("r.start_time DESC, r.num DESC")
        return " ".join(joins), params, ", ".join(terms)

    @contextmanager
    def _limits(self) -> Iterator[None]:
        """A search SQLite refuses for one of its limits is a filter to simplify (``filters`` keeps
        below the limits it knows; this is the net for the others)."""
        try:
            yield
        except sqlite3.OperationalError as e:
            if any(limit in str(e).lower() for limit in _SQLITE_LIMITS):
                raise FilterError(f"the search is too large for SQLite ({e}); shorten the filter") from None
            raise

    def search(self, **conditions) -> list[RunSummary]:
        """Runs matching every given condition, newest first unless ``order_by`` says otherwise
        (the conditions of ``search_page``)."""
        return self.search_page(**conditions).summaries()

    def search_page(
        self,
        *,
        experiment=None,
        stage=None,
        status=None,
        filter: str | None = None,
        notebook=None,
        order_by=None,
        limit: int | None = None,
        offset: int = 0,
    ) -> RunPage:
        """The runs ``search`` finds, column-wise."""
        where, where_params = self._where(experiment, stage, status, filter, notebook)
        joins, join_params, order = self._order(order_by)
        with self._limits():
            rows = self._query(
                f"SELECT r.num, {_RUN_COLUMNS} {_FROM_RUNS} {joins} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*join_params, *where_params, -1 if limit is None else limit, offset],
            )
        return RunPage(rows, *self._values([row[0] for row in rows]))

    def count(self, *, experiment=None, stage=None, status=None, filter: str | None = None) -> int:
        where, params = self._where(experiment, stage, status, filter)
        with self._limits():
            return self._query(f"SELECT COUNT(*) {_FROM_RUNS} WHERE {where}", params)[0][0]

    def _values(self, nums: list[int]) -> tuple[Columns, Columns, Columns]:
        """Params, latest metrics and tags of the runs numbered ``nums``, column-wise."""
        if not nums:
            return {}, {}, {}
        page = [json.dumps(nums)]
        texts = list(zip(*self._query(_PAGE_SUMMARIES, page))) or [(), ()]
        with self._lock, self._errors():
            params, metrics = (summaries.page_columns(self.conn, table, nums, table_texts)
                               for table, table_texts in zip(summaries.COLUMNS, texts))
        tags: Columns = {}
        for position, key, value in self._query(_PAGE_TAGS, page):
            column = tags.get(key) or tags.setdefault(key, ([], []))
            column[0].append(position)
            column[1].append(value)
        return params, metrics, tags

    def _attach(self, nums: list[int]) -> tuple[dict, dict, dict]:
        """Params, latest metrics and tags of the runs numbered ``nums``, keyed by number."""
        return tuple(
            {nums[i]: values for i, values in enumerate(_per_run(columns, len(nums))) if values}
            for columns in self._values(nums)
        )

    def get_run(self, run_id: str) -> RunDetail:
        rows = self._query(
            f"SELECT r.num, {_RUN_COLUMNS}, r.code, r.python, r.platform, r.packages, r.git_commit,"
            f" r.git_dirty, r.host, r.pid, r.pid_start_time {_FROM_RUNS} WHERE r.id = ?",
            [run_id],
        )
        if not rows:
            raise RunNotFound(f"no run {run_id!r}; `mlops-jupyter runs ls` lists the runs")
        num, *row = rows[0]
        run = Run(*row[:10])
        code, python, platform, packages, commit, dirty, host, pid, pid_start = row[10:]
        params, metrics, tags = self._attach([num])
        steps = dict(self._query("SELECT key, COUNT(*) FROM metrics WHERE run = ? GROUP BY key", [num]))
        artifacts = tuple(
            Artifact(*r)
            for r in self._query(
                "SELECT name, kind, hash, size, mime FROM artifacts WHERE run = ? ORDER BY name", [num]
            )
        )
        lineage = tuple(
            LineageEdge(*r)
            for r in self._query(
                "SELECT u.id, l.via, l.kind FROM lineage l JOIN runs u ON u.num = l.upstream"
                " WHERE l.run = ? ORDER BY l.via",
                [num],
            )
        )
        environment = Environment(
            python=python,
            platform=platform,
            packages=json.loads(packages) if packages else {},
            git_commit=commit,
            git_dirty=None if dirty is None else bool(dirty),
            host=host,
            pid=pid,
            pid_start_time=pid_start,
        )
        return RunDetail(
            run=run,
            params=params.get(num, {}),
            metrics=metrics.get(num, {}),
            tags=tags.get(num, {}),
            code=code,
            environment=environment,
            metric_steps=steps,
            artifacts=artifacts,
            lineage=lineage,
        )

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        nan = float("nan")
        return [
            MetricPoint(step, nan if value is None else value, ts)
            for step, value, ts in self._query(
                "SELECT step, value, timestamp FROM metrics WHERE run = ? AND key = ? ORDER BY step, timestamp",
                [self._num(run_id), key],
            )
        ]

    def experiments(self) -> list[str]:
        return [name for (name,) in self._query("SELECT name FROM experiments ORDER BY name")]

    # --- stat cache and stage cache -------------------------------------------

    def stat_entries(self, folder: str) -> dict[str, tuple[str, int, int, int, str]]:
        """Known (path, inode, mtime_ns, size, hash) of every file under ``folder`` (absolute), by path."""
        prefix = folder.rstrip("/") + "/"
        rows = self._query(
            "SELECT path, inode, mtime_ns, size, hash FROM stat_cache WHERE path = ? OR (path >= ? AND path < ?)",
            [folder, prefix, prefix[:-1] + "0"],  # '0' follows '/': the range of paths under folder/
        )
        return {row[0]: row for row in rows}

    def save_stat_entries(self, rows: Sequence[tuple[str, int, int, int, str]]) -> None:
        if rows:
            with self._write() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO stat_cache (path, inode, mtime_ns, size, hash) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )

    def cached_stage(self, fingerprint: str) -> CachedEntry | None:
        """The stage cache's entry for a fingerprint."""
        rows = self._query(f"{_STAGE_ENTRIES} WHERE c.fingerprint = ?", [fingerprint])
        return CachedEntry(*rows[0]) if rows else None

    def cached_stages(self) -> list[CachedEntry]:
        """Every entry of the stage cache."""
        return [CachedEntry(*row) for row in self._query(f"{_STAGE_ENTRIES} ORDER BY c.created_time")]

    def save_stage(self, fingerprint: str, stage: str, run_id: str, manifest: str, seconds: float,
                   origin: str | None = None) -> None:
        """``origin``: the remote the entry was pulled from (None: made here)."""
        num = self._num(run_id)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO stage_cache (fingerprint, stage, run, manifest, seconds, created_time, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [fingerprint, stage, num, manifest, seconds, now_ms(), origin],
            )

    def artifact_hashes(self) -> set[str]:
        """The hash of every artifact of every run (objects of the cache, or of uncached outs)."""
        return {digest for (digest,) in self._query("SELECT DISTINCT hash FROM artifacts")}

    def has_run(self, run_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM runs WHERE id = ?", [run_id]))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction around several writes (each joins it): all of them, or none."""
        with self._write():
            yield

    def forget_stage(self, fingerprint: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM stage_cache WHERE fingerprint = ?", [fingerprint])

    def producer_of(self, path: str, digest: str) -> str | None:
        """The latest run that wrote ``path`` with this content (an ``out`` artifact)."""
        rows = self._query(
            "SELECT r.id FROM artifacts a JOIN runs r ON r.num = a.run"
            " WHERE a.kind = 'out' AND a.name = ? AND a.hash = ? ORDER BY r.start_time DESC LIMIT 1",
            [path, digest],
        )
        return rows[0][0] if rows else None

    # --- what the sidebar asks for ----------------------------------------------

    def stages(self) -> list[str]:
        return [s for (s,) in self._query("SELECT DISTINCT stage FROM runs WHERE stage IS NOT NULL ORDER BY stage")]

    def keys(self, table: str) -> list[str]:
        """Every param or metric key in the store (``table``: params or latest_metrics)."""
        if table not in ("params", "latest_metrics"):
            raise ValueError(table)
        # A skip scan over the key index: one probe per distinct key, not a scan of every row
        # (8 ms → 0.03 ms for 200,000 params of 10,000 runs).
        return [k for (k,) in self._query(
            f"WITH RECURSIVE k(key) AS (SELECT MIN(key) FROM {table}"
            f" UNION ALL SELECT (SELECT MIN(key) FROM {table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL)"
            " SELECT key FROM k WHERE key IS NOT NULL"
        )]

    def histories(self, run_ids: Sequence[str], keys: Sequence[str] | None = None) -> dict[str, dict[str, list]]:
        """{run id: {key: [[step, value, timestamp], ...]}} for several runs at once."""
        result: dict[str, dict[str, list]] = {}
        nan = float("nan")
        for run_id in run_ids:
            sql = "SELECT key, step, value, timestamp FROM metrics WHERE run = ?"
            params: list[Any] = [self._num(run_id)]
            if keys:
                sql += f" AND key IN ({','.join('?' * len(keys))})"
                params += list(keys)
            series: dict[str, list] = {}
            for key, step, value, ts in self._query(sql + " ORDER BY key, step, timestamp", params):
                series.setdefault(key, []).append([step, nan if value is None else value, ts])
            result[run_id] = series
        return result

    def artifact(self, run_id: str, name: str) -> Artifact:
        rows = self._query(
            "SELECT name, kind, hash, size, mime FROM artifacts WHERE run = ? AND name = ?", [self._num(run_id), name]
        )
        if not rows:
            raise RunNotFound(f"run {run_id[:8]} has no artifact {name!r}")
        return Artifact(*rows[0])

    def version(self) -> str:
        """Changes whenever a run is created, ends or changes status: cheap to poll."""
        count, last, ended, running = self._query(
            "SELECT COUNT(*), COALESCE(MAX(num), 0), COALESCE(SUM(end_time), 0),"
            " COALESCE(SUM(status = 'running'), 0) FROM runs"
        )[0]
        return f"{count}.{last}.{ended}.{running}"

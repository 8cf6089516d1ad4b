"""Experiments: one row per pipeline result, with every param and metric of its lineage.

An experiment is a run together with its lineage closure: every run upstream of it through the
variables and files it read, transitively. It is computed in SQL, by a recursive CTE over
``lineage``, as a view with the shape of the store's own tables (``x_params``, ``x_metrics`` and
``x_tags`` hold ``run, key, value`` rows, ``run`` being the experiment), so that the filter
language and the sort fields apply to the joined columns unchanged.

- Rows are the runs of the sink stages, the stages of a notebook that no run of another stage read
  from (a run without a stage is a row of its own); or the runs of the stages asked for. A stage
  restored from the cache made no run: the runs downstream of it name the run it was restored
  from, and that is the run in their closure.
- Params keep their keys. Where two runs of one closure hold a key, the nearest wins: the
  experiment's own run, then the newest upstream run (a run is newer than every run it read from).
- Tags are those of the experiment's own run: they annotate a run (``--desc``, an owner), and an
  upstream stage's description is not the result's.
- Metrics (latest values) keep their keys too, but a key logged by several runs of one closure is
  named ``STAGE/KEY`` for the upstream ones (``metrics.train/accuracy``); the experiment's own run
  keeps the plain key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .models import Experiment, Run, UpstreamRun
from .store import _RUN_COLUMNS, Columns, RunPage, RunStore, _per_run
from .values import decode_param

VIEW_TABLES = {"metrics": "x_metrics", "params": "x_params", "tags": "x_tags"}

# The sinks: the (notebook, stage) pairs no run of another stage read from, found with one probe per
# stage (stopping at its first downstream edge) on the (stage, notebook) index.
_SINKS = (
    "x_stages(notebook, stage) AS MATERIALIZED (SELECT DISTINCT notebook, stage FROM runs WHERE stage IS NOT NULL),"
    " x_sinks(notebook, stage) AS MATERIALIZED (SELECT s.notebook, s.stage FROM x_stages s WHERE NOT EXISTS ("
    "SELECT 1 FROM runs u JOIN lineage l ON l.upstream = u.num JOIN runs d ON d.num = l.run"
    " WHERE u.stage = s.stage AND u.notebook IS s.notebook"
    " AND (d.stage IS NOT u.stage OR d.notebook IS NOT u.notebook)))"
)

# The view over ``x_seeds(pos, seed)``: an experiment's position (its run's number, or its place
# on a page) and its run. The closure is walked newest first; UNION keeps each run once.
_VIEW = """
x_closure(pos, seed, run) AS MATERIALIZED (
  SELECT pos, seed, seed FROM x_seeds
  UNION SELECT c.pos, c.seed, l.upstream FROM x_closure c JOIN lineage l ON l.run = c.run
  ORDER BY 1, 3 DESC),
x_params(run, key, value, type) AS MATERIALIZED (
  SELECT pos, key, value, type FROM (
    SELECT c.pos, p.key, p.value, p.type, MAX(c.run) FROM x_closure c JOIN params p ON p.run = c.run
    GROUP BY c.pos, p.key)),
x_tags(run, key, value) AS MATERIALIZED (SELECT s.pos, t.key, t.value FROM x_seeds s JOIN tags t ON t.run = s.seed),
x_mgroups(pos, seed, key, runs, nearest, value) AS MATERIALIZED (
  SELECT c.pos, c.seed, m.key, COUNT(*), MAX(c.run), m.value FROM x_closure c JOIN latest_metrics m ON m.run = c.run
  GROUP BY c.pos, m.key),
x_metrics(run, key, value) AS MATERIALIZED (
  SELECT pos, key, value FROM x_mgroups WHERE runs = 1 OR nearest = seed
  UNION ALL SELECT pos, name, value FROM (
    SELECT g.pos, COALESCE(u.stage, 'run') || '/' || g.key AS name, m.value, MAX(c.run)
    FROM x_mgroups g JOIN x_closure c ON c.pos = g.pos AND c.run != g.seed
      JOIN latest_metrics m ON m.run = c.run AND m.key = g.key JOIN runs u ON u.num = c.run
    WHERE g.runs > 1 GROUP BY g.pos, name))"""

# A page's values in one statement (the closure is walked once): kind, position, key, value and,
# for params, the type when the value does not read back as stored (see values.decode_param).
_PAGE_VALUES = """
SELECT 0, run, key, value, CASE WHEN type IN ('int', 'str', 'null') OR typeof(value) = 'real' THEN NULL ELSE type END
  FROM x_params
UNION ALL SELECT 1, run, key, value, NULL FROM x_metrics
UNION ALL SELECT 2, run, key, value, NULL FROM x_tags
UNION ALL SELECT 3, c.pos, u.id, u.stage, c.run FROM x_closure c JOIN runs u ON u.num = c.run WHERE c.run != c.seed"""


@dataclass(frozen=True)
class ExperimentPage(RunPage):
    """A page of experiments, column-wise as ``RunPage`` (``rows`` are their own runs), plus each
    row's upstream runs, nearest first."""

    upstream: list[tuple[UpstreamRun, ...]]
    total: int | None = None  # how many experiments match, when asked for (``page(with_total=True)``)

    def experiments(self) -> list[Experiment]:
        params, metrics, tags = (_per_run(columns, len(self.rows)) for columns in (self.params, self.metrics, self.tags))
        return [Experiment(Run(*row[1:]), p, m, t, upstream)
                for row, p, m, t, upstream in zip(self.rows, params, metrics, tags, self.upstream)]


def _with(store: RunStore, experiment, stage, status, notebook) -> tuple[str, list]:
    """The view's WITH clause, seeded with every experiment the plain conditions allow: the runs of
    ``stage``, else those of the sinks and the runs without a stage (each its own experiment)."""
    where, params = store._where(experiment, stage, status, None, notebook)
    named = "JOIN experiments e ON e.id = r.experiment_id" if experiment else ""  # e.name is asked for
    if stage:
        seeds = f"SELECT r.num, r.num FROM runs r {named} WHERE {where}"
    else:
        seeds = (f"SELECT r.num, r.num FROM x_sinks s JOIN runs r ON r.stage = s.stage AND r.notebook IS s.notebook"
                 f" {named} WHERE {where} UNION ALL SELECT r.num, r.num FROM runs r {named} WHERE r.stage IS NULL AND {where}")
        params = [*params, *params]
    return f"WITH RECURSIVE {_SINKS}, x_seeds(pos, seed) AS MATERIALIZED ({seeds}), {_VIEW}", params


def page(store: RunStore, *, experiment=None, stage=None, status=None, filter: str | None = None, notebook=None,
         order_by=None, limit: int | None = None, offset: int = 0, with_total: bool = False) -> ExperimentPage:
    """The experiments matching every condition, newest first unless ``order_by`` says otherwise.

    ``stage`` picks the runs of these stages as rows instead of the sinks' runs; ``filter`` and
    ``order_by`` apply to the joined columns. ``with_total`` counts every match in the same walk."""
    view, view_params = _with(store, experiment, stage, status, notebook)
    where, where_params = store._where(filter=filter, tables=VIEW_TABLES)
    joins, join_params, order = store._order(order_by, VIEW_TABLES)
    # Without a filter every seed matches: counting them is cheaper than a window over the matches.
    counted = "" if not with_total else ", COUNT(*) OVER ()" if where != "1" else ", (SELECT COUNT(*) FROM x_seeds)"
    with store._limits():
        rows = store._query(
            f"{view} SELECT r.num, {_RUN_COLUMNS}{counted} FROM runs r JOIN experiments e ON e.id = r.experiment_id"
            f" {joins} WHERE r.num IN (SELECT seed FROM x_seeds) AND {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*view_params, *join_params, *where_params, -1 if limit is None else limit, offset],
        )
    total = None
    if with_total:
        total = rows[0][-1] if rows else (0 if not offset else count(
            store, experiment=experiment, stage=stage, status=status, filter=filter, notebook=notebook))
        rows = [row[:-1] for row in rows]
    return ExperimentPage(rows, *values(store, [row[0] for row in rows]), total=total)


def count(store: RunStore, *, experiment=None, stage=None, status=None, filter: str | None = None,
          notebook=None) -> int:
    view, view_params = _with(store, experiment, stage, status, notebook)
    where, where_params = store._where(filter=filter, tables=VIEW_TABLES)
    with store._limits():
        return store._query(
            f"{view} SELECT COUNT(*) FROM runs r JOIN experiments e ON e.id = r.experiment_id"
            f" WHERE r.num IN (SELECT seed FROM x_seeds) AND {where}",
            [*view_params, *where_params],
        )[0][0]


def get(store: RunStore, run_id: str) -> Experiment:
    """The experiment of any run (a sink's or not): ``run_id`` is a full id (``resolve_run_id``)."""
    num = store._num(run_id)
    rows = store._query(
        f"SELECT r.num, {_RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.num = ?", [num]
    )
    return ExperimentPage(rows, *values(store, [num])).experiments()[0]


def columns(store: RunStore, *, stage=None) -> dict[str, list[str]]:
    """The param and metric keys of every experiment (of the sinks, or of ``stage``), sorted."""
    view, params = _with(store, None, stage, None, None)
    found = store._query(
        f"{view} SELECT DISTINCT 'params', key FROM x_params UNION ALL SELECT DISTINCT 'metrics', key FROM x_metrics",
        params,
    )
    return {kind: sorted(key for namespace, key in found if namespace == kind) for kind in ("params", "metrics")}


def sink_stages(store: RunStore) -> list[str]:
    """The names of the sink stages (of any notebook): the stages whose runs are the default rows."""
    return [stage for (stage,) in store._query(f"WITH {_SINKS} SELECT DISTINCT stage FROM x_sinks ORDER BY stage")]


def values(store: RunStore, nums: list[int]) -> tuple[Columns, Columns, Columns, list[tuple[UpstreamRun, ...]]]:
    """Params, latest metrics and tags of the experiments of the runs ``nums`` (column-wise, by
    position in ``nums``), and their upstream runs."""
    if not nums:
        return {}, {}, {}, []
    seeds = "x_seeds(pos, seed) AS (SELECT key, value FROM json_each(?))"
    found: tuple[Columns, Columns, Columns] = ({}, {}, {})
    upstream: list[list] = [[] for _ in nums]
    nan = float("nan")
    for kind, position, key, value, extra in store._query(f"WITH RECURSIVE {seeds}, {_VIEW} {_PAGE_VALUES}",
                                                          [json.dumps(nums)]):
        if kind == 3:
            upstream[position].append((extra, UpstreamRun(key, value)))
            continue
        if kind == 0 and extra is not None:
            value = decode_param(value, extra)
        elif kind == 1 and value is None:  # a NULL metric is a NaN
            value = nan
        columns = found[kind]
        column = columns.get(key) or columns.setdefault(key, ([], []))
        column[0].append(position)
        column[1].append(value)
    return (*found, [tuple(run for _, run in sorted(runs, key=lambda r: -r[0])) for runs in upstream])

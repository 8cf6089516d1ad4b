"""Experiments: one row per pipeline result, with every param and metric of its lineage.

An experiment is a run together with its lineage closure: every run upstream of it through the
variables and files it read, transitively. It is computed in SQL, by a recursive CTE over
``lineage``, as a view with the shape of the store's own tables (``x_params``, ``x_metrics`` and
``x_tags`` hold ``run, key, value`` rows, ``run`` being the experiment), so that the filter
language and the sort fields apply to the joined columns unchanged (``experiment_summaries.VIEW``).
Pages read each ended run's experiment from its summary, kept current at write time.

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

from . import experiment_summaries
from .experiment_summaries import COLUMN as SUMMARY
from .experiment_summaries import VIEW
from .models import Experiment, Run, UpstreamRun
from .store import _PAGE_TAGS, _RUN_COLUMNS, Columns, RunPage, RunStore, _per_run
from .summaries import columns_of

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

@dataclass(frozen=True)
class ExperimentPage(RunPage):
    """A page of experiments, column-wise as ``RunPage`` (``rows`` are their own runs), plus each
    row's upstream runs as ``[run id, stage]`` pairs, nearest first."""

    upstream: list[list[list]]
    total: int | None = None  # how many experiments match, when asked for (``page(with_total=True)``)

    def experiments(self) -> list[Experiment]:
        params, metrics, tags = (_per_run(columns, len(self.rows)) for columns in (self.params, self.metrics, self.tags))
        return [Experiment(Run(*row[1:]), p, m, t, tuple(UpstreamRun(*run) for run in upstream))
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
    return f"WITH RECURSIVE {_SINKS}, x_seeds(pos, seed) AS MATERIALIZED ({seeds}), {VIEW}", params


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
        found = store._query(
            f"{view} SELECT r.num{counted} FROM runs r JOIN experiments e ON e.id = r.experiment_id"
            f" {joins} WHERE r.num IN (SELECT seed FROM x_seeds) AND {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*view_params, *join_params, *where_params, -1 if limit is None else limit, offset],
        )
    total = None
    if with_total:
        total = found[0][-1] if found else (0 if not offset else count(
            store, experiment=experiment, stage=stage, status=status, filter=filter, notebook=notebook))
    return _page(store, [row[0] for row in found], total)


# The runs of a page and their summaries, the page bound as one JSON array of run numbers. The page
# is sorted before (sorting rows that carry their summaries costs more than putting them in order).
_PAGE_ROWS = (f"SELECT r.num, {_RUN_COLUMNS}, r.{SUMMARY} FROM json_each(?) j JOIN runs r ON r.num = j.value"
              " JOIN experiments e ON e.id = r.experiment_id")


def _page(store: RunStore, nums: list[int], total: int | None = None) -> ExperimentPage:
    """The page of the runs ``nums``, in this order."""
    by_num = {row[0]: row for row in store._query(_PAGE_ROWS, [json.dumps(nums)])}
    rows = [by_num[num] for num in nums]
    return ExperimentPage([row[:-1] for row in rows], *values(store, nums, [row[-1] for row in rows]), total=total)


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
    return _page(store, [store._num(run_id)]).experiments()[0]


def columns(store: RunStore, *, stage=None) -> dict[str, list[str]]:
    """The param and metric keys of every experiment (of the sinks, or of ``stage``), sorted."""
    view, params = _with(store, None, stage, None, None)
    rows = store._query(f"{view} SELECT r.num, r.{SUMMARY} FROM x_seeds s JOIN runs r ON r.num = s.seed", params)
    with store._lock, store._errors():
        found = experiment_summaries.read(store.conn, [num for num, _ in rows], [text for _, text in rows])
    return {kind: sorted(set().union(*(experiment[kind] for experiment in found))) for kind in ("params", "metrics")}


def sink_stages(store: RunStore) -> list[str]:
    """The names of the sink stages (of any notebook): the stages whose runs are the default rows."""
    return [stage for (stage,) in store._query(f"WITH {_SINKS} SELECT DISTINCT stage FROM x_sinks ORDER BY stage")]


def values(store: RunStore, nums: list[int], texts: list[str | None]) -> tuple[Columns, Columns, Columns, list]:
    """Params, latest metrics and tags of the experiments of the runs ``nums`` whose summaries are
    ``texts`` (column-wise, by position in ``nums``), and their upstream runs."""
    if not nums:
        return {}, {}, {}, []
    with store._lock, store._errors():
        found = experiment_summaries.read(store.conn, nums, texts)
    tags: Columns = {}
    for position, key, value in store._query(_PAGE_TAGS, [json.dumps(nums)]):
        column = tags.get(key) or tags.setdefault(key, ([], []))
        column[0].append(position)
        column[1].append(value)
    return (columns_of([experiment["params"] for experiment in found]),
            columns_of([experiment["metrics"] for experiment in found]), tags,
            [experiment["upstream"] for experiment in found])

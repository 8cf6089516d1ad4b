"""Experiment summaries: the values of a run's experiment — the params and latest metrics of its
lineage closure, and its upstream runs — computed by ``VIEW`` and kept as one JSON object on the
run's row (``runs.experiment_json``), so that a page of experiments reads one value per row
instead of walking the lineage for each (as ``summaries`` does for a run's own values).

``VIEW`` is the definition (see ``experiments`` for its rules); a summary is its answer for one
run, rewritten in the transaction of every write that could change it: the end of the run, and a
write of params, metrics or lineage to any run of its closure. A running run has none (NULL:
walk the lineage), nor has a run whose values would not read back exactly
(``summaries.summary_json``). Tags are not in it: they are the experiment's own run's.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Sequence

from .summaries import read_summary, summary_json
from .values import decode_param

COLUMN = "experiment_json"
_CHUNK = 10_000

# The view over ``x_seeds(pos, seed)``: an experiment's position (its run's number, or its place
# on a page) and its run. The closure is walked newest first; UNION keeps each run once.
VIEW = """
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

# The experiments of the runs bound as one JSON array, each at its place in the array: kind,
# position, key, value and, for params, the type when the value does not read back as stored
# (see values.decode_param); the upstream runs as (3, position, id, stage, number).
_VALUES = f"""
WITH RECURSIVE x_seeds(pos, seed) AS (SELECT key, value FROM json_each(?)), {VIEW}
SELECT 0, run, key, value, CASE WHEN type IN ('int', 'str', 'null') OR typeof(value) = 'real' THEN NULL ELSE type END
  FROM x_params
UNION ALL SELECT 1, run, key, value, NULL FROM x_metrics
UNION ALL SELECT 3, c.pos, u.id, u.stage, c.run FROM x_closure c JOIN runs u ON u.num = c.run WHERE c.run != c.seed"""

# The ended runs among those bound and every run downstream of them: whose summaries a write to
# the bound runs changes.
_AFFECTED = """
WITH RECURSIVE d(num) AS (SELECT value FROM json_each(?) UNION SELECT l.run FROM lineage l JOIN d ON l.upstream = d.num)
SELECT d.num FROM d JOIN runs r ON r.num = d.num WHERE r.status != 'running'"""


def compute(conn: sqlite3.Connection, nums: Sequence[int]) -> list[dict]:
    """The experiments of the runs ``nums`` by walking their lineage, in order: for each, its
    ``params``, ``metrics`` (a NULL is a NaN) and ``upstream`` runs ``[id, stage]``, nearest first."""
    found = [{"params": {}, "metrics": {}, "upstream": []} for _ in nums]
    nan = float("nan")
    for kind, position, key, value, extra in conn.execute(_VALUES, [json.dumps(list(nums))]):
        experiment = found[position]
        if kind == 3:
            experiment["upstream"].append((extra, [key, value]))
        elif kind == 0:
            experiment["params"][key] = value if extra is None else decode_param(value, extra)
        else:
            experiment["metrics"][key] = nan if value is None else value
    for experiment in found:
        experiment["upstream"] = [run for _, run in sorted(experiment["upstream"], key=lambda r: -r[0])]
    return found


def read(conn: sqlite3.Connection, nums: list[int], texts: Sequence[str | None]) -> list[dict]:
    """The experiments of the runs ``nums`` (as ``compute``) from their summaries ``texts``, walking
    the lineage only for the runs without one."""
    experiments = [None if text is None else read_summary(text) for text in texts]
    missing = [position for position, experiment in enumerate(experiments) if experiment is None]
    for position, experiment in zip(missing, compute(conn, [nums[position] for position in missing])):
        experiments[position] = experiment
    return experiments


def refresh(conn: sqlite3.Connection, nums: Sequence[int]) -> None:
    """Rewrite the summaries a write to the runs ``nums`` changed (inside the caller's transaction)."""
    affected = [num for (num,) in conn.execute(_AFFECTED, [json.dumps(list(nums))])]
    for start in range(0, len(affected), _CHUNK):
        chunk = affected[start : start + _CHUNK]
        conn.executemany(f"UPDATE runs SET {COLUMN} = ? WHERE num = ?",
                         [(summary_json(experiment), num) for num, experiment in zip(chunk, compute(conn, chunk))])

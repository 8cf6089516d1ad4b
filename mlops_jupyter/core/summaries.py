"""Run summaries: each run's params and latest metrics as one JSON object on its row
(``runs.params_json``, ``runs.metrics_json``), as W&B keeps a run summary. A page of runs reads two
values per run instead of one row per key.

The ``params`` and ``latest_metrics`` tables stay the facts: filters search them and writes check
them; the store rebuilds a run's summary from them in the transaction that changes them. A NULL
summary means "read the rows": a run whose values the fast JSON reader would not read back exactly
(ints past 64 bits, which orjson turns into floats) has none.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

import orjson

from .values import decode_param

Columns = dict  # key -> (positions on the page, values): the runs of a page that have the key
COLUMNS = {"params": "params_json", "latest_metrics": "metrics_json"}  # table -> its summary column of runs
_ROWS = {
    "params": "SELECT p.run, p.key, p.value, p.type FROM json_each(?) j JOIN params p ON p.run = j.value",
    "latest_metrics": "SELECT m.run, m.key, m.value FROM json_each(?) j JOIN latest_metrics m ON m.run = j.value",
}

_INT_RANGE = (-(2**63), 2**64)  # what orjson reads as an int


def rebuild(conn: sqlite3.Connection, table: str, nums: Sequence[int]) -> None:
    """Rewrite the summaries of the runs ``nums`` from their rows of ``table`` (inside the caller's
    transaction)."""
    by_run = rows_by_run(conn, table, nums)
    conn.executemany(
        f"UPDATE runs SET {COLUMNS[table]} = ? WHERE num = ?", [(summary_json(by_run.get(num, {})), num) for num in nums]
    )


def rows_by_run(conn: sqlite3.Connection, table: str, nums: Sequence[int]) -> dict[int, dict]:
    """The decoded params (or latest metrics: a NULL is a NaN) of the runs ``nums``, from the rows."""
    by_run: dict[int, dict] = {}
    for num, key, value, *kind in conn.execute(_ROWS[table], [json.dumps(list(nums))]):
        if kind:
            value = decode_param(value, kind[0])
        elif value is None:
            value = float("nan")
        by_run.setdefault(num, {})[key] = value
    return by_run


def page_columns(conn: sqlite3.Connection, table: str, nums: list[int], texts: Sequence[str | None]) -> Columns:
    """The values of ``table`` for a page of runs ``nums`` whose summaries are ``texts``, column-wise."""
    runs = [None if text is None else read_summary(text) for text in texts]
    unsummarized = [num for num, run in zip(nums, runs) if run is None]
    if unsummarized:
        by_run = rows_by_run(conn, table, unsummarized)
        runs = [by_run.get(num, {}) if run is None else run for num, run in zip(nums, runs)]
    return columns_of(runs)


def summary_json(values: dict[str, Any]) -> str | None:
    """The summary text of a run's decoded params or latest metrics (a NaN metric is a NaN): keys
    sorted, so runs with the same keys read back in the same order; None when it would not read back."""
    return json.dumps(values, sort_keys=True) if _readable(values) else None


def _readable(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return _INT_RANGE[0] <= value < _INT_RANGE[1]
    if isinstance(value, dict):
        return all(_readable(item) for item in value.values())
    if isinstance(value, list):
        return all(_readable(item) for item in value)
    return True


def read_summary(text: str) -> dict[str, Any]:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN and infinities are JSON to Python's reader only
        return json.loads(text)


def columns_of(runs: list[dict]) -> Columns:
    """The params (or metrics) of a page's runs, one dict each in page order, column-wise. When every
    run has the same keys (one experiment's runs, mostly) the columns are cut out at C speed."""
    keys = tuple(runs[0]) if runs else ()
    if keys and all(tuple(run) == keys for run in runs):
        positions = list(range(len(runs)))
        return {key: (positions, list(values)) for key, values in zip(keys, zip(*(run.values() for run in runs)))}
    columns: Columns = {}
    for position, run in enumerate(runs):
        for key, value in run.items():
            column = columns.get(key) or columns.setdefault(key, ([], []))
            column[0].append(position)
            column[1].append(value)
    return columns

"""Run summaries (``runs.params_json`` / ``runs.metrics_json``) always say what the rows say.

Pages of runs read params and latest metrics from the summaries; the ``params`` and
``latest_metrics`` tables are the facts. Each test compares the two straight from SQL, on real
stores: after every kind of write, after a migration from the previous schema, and for the values
the fast JSON reader cannot read (NaN, infinities, ints past 64 bits).
"""

import json
import math
import sqlite3

import pytest
from sqlite_utils import Database

from mlops_jupyter.core import schema, summaries
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.core.values import decode_param


def facts(path) -> dict[str, tuple[dict, dict]]:
    """run id -> (params, latest metrics), read from the tables with plain SQL."""
    conn = sqlite3.connect(path)
    out = {run_id: ({}, {}) for (run_id,) in conn.execute("SELECT id FROM runs")}
    for run_id, key, value, kind in conn.execute(
        "SELECT r.id, p.key, p.value, p.type FROM params p JOIN runs r ON r.num = p.run"
    ):
        out[run_id][0][key] = decode_param(value, kind)
    for run_id, key, value in conn.execute(
        "SELECT r.id, m.key, m.value FROM latest_metrics m JOIN runs r ON r.num = m.run"
    ):
        out[run_id][1][key] = float("nan") if value is None else value
    conn.close()
    return out


def same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


def assert_pages_hold_the_facts(store: RunStore) -> None:
    expected = facts(store.path)
    pages = [store.search_page()] + [store.search_page(limit=3, offset=offset) for offset in range(0, len(expected), 3)]
    for page in pages:
        for summary in page.summaries():
            params, metrics = expected[summary.run.id]
            assert same(summary.params, params), (summary.params, params)
            assert same(summary.metrics, metrics), (summary.metrics, metrics)
    assert sum(len(page.rows) for page in pages[1:]) == len(expected)


def test_every_write_keeps_the_summaries_true(store, env):
    odd = {"nan": float("nan"), "inf": float("-inf"), "big": 2**70, "nested": [1, [2**64, 0.1]], "none": None,
           "flag": True, "exact": 0.1 + 0.2, "tiny": 5e-324, "word": "ünï", "deep": {"b": [1.5], "a": None}}
    for i in range(12):
        run = store.create_run("exp", environment=env, stage=("a", "b")[i % 2])
        store.log_params(run.id, {"n": i, "lr": 1 / (i + 3)})
        if i % 2:
            store.log_params(run.id, {"n": i, "later": f"v{i}"})  # a second call adds keys, repeats one
        if i % 3 == 0:
            store.log_params(run.id, {key: value for key, value in odd.items() if hash(key) % 3 != i % 3 or i == 0})
        points = [(run.id, "loss", step, 1 / (step + 1) + i, 1_000 + step) for step in (3, 1, 2)]  # steps out of order
        points += [(run.id, "acc", 0, float("nan") if i % 4 == 0 else 0.5, 1_000)]
        if i % 5 == 0:
            points += [(run.id, "ratio", 0, float("inf"), 1_000)]
        store.log_metric_points(points[:2])
        store.log_metric_points(points[2:])
        store.log_metric_points([(run.id, "loss", 3, 42.0 + i, 2_000)])  # same top step, later: wins
        store.log_metric_points([(run.id, "loss", 1, -1.0, 3_000)])  # older step: never the latest
        store.end_run(run.id, "finished")
    assert_pages_hold_the_facts(store)
    # The values the fast reader would misread have no summary and come from the rows.
    nulls = store.conn.execute("SELECT count(*) FROM runs WHERE params_json IS NULL").fetchone()[0]
    assert nulls >= 1


def test_runs_with_nothing_logged_have_empty_summaries(store, env):
    run = store.create_run("exp", environment=env)
    assert store.conn.execute("SELECT params_json, metrics_json FROM runs").fetchall() == [("{}", "{}")]
    (summary,) = store.search_page().summaries()
    assert summary.run.id == run.id and summary.params == {} and summary.metrics == {}


def test_a_store_of_the_previous_schema_gets_its_summaries(tmp_path, env):
    path = tmp_path / "runs.db"
    db = Database(path)
    previous = schema.STEP_NAMES.index("m005_run_summaries")
    schema.migrations().apply(db, stop_before=list(schema.STEP_NAMES[previous:]))
    db["experiments"].insert({"id": 1, "name": "old", "created_time": 1})
    for num in range(1, 6):
        db["runs"].insert({"num": num, "id": f"{num:032x}", "experiment_id": 1, "status": "finished",
                           "start_time": num, "end_time": num + 1})
        if num != 5:  # run 5 has nothing logged
            db["params"].insert_all([{"run": num, "key": "n", "value": num, "type": "int"},
                                     {"run": num, "key": "big", "value": str(2**70 + num), "type": "bigint"}])
            db["latest_metrics"].insert_all([{"run": num, "key": "m", "step": 0, "value": num / 7, "timestamp": 1},
                                             {"run": num, "key": "nan", "step": 0, "value": None, "timestamp": 1}])
    db.close()
    with RunStore(path) as store:
        assert store.applied_migrations() == list(schema.STEP_NAMES)
        assert_pages_hold_the_facts(store)
        assert store.get_run(f"{2:032x}").params == {"big": 2**70 + 2, "n": 2}
        indexes = {name for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "idx_params_run_key_value_type" not in indexes and "idx_params_key_value" in indexes


@pytest.mark.parametrize("values, readable", [
    ({"a": 1, "b": [2, {"c": 0.1}]}, True),
    ({"a": 2**64 - 1, "b": -(2**63)}, True),
    ({"a": 2**64}, False),
    ({"a": [1, [-(2**63) - 1]]}, False),
    ({"a": {"b": 2**100}}, False),
    ({"a": float("nan"), "b": float("inf"), "c": True}, True),
])
def test_a_summary_is_written_only_when_it_reads_back_exactly(values, readable):
    text = summaries.summary_json(values)
    assert (text is not None) == readable
    if readable:
        assert same(summaries.read_summary(text), json.loads(text)) and same(summaries.read_summary(text), values)
        assert list(summaries.read_summary(text)) == sorted(values)

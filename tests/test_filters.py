"""The filter language: parsing, errors, hostile input, and results on a real store."""

import re
import sqlite3

import pytest

from mlops_jupyter.core.errors import FilterError
from mlops_jupyter.core.filters import compile_filter, parse

RUNS = [
    # stage, status, params, metrics, tags
    ("prepare", "finished", {"split": 0.2}, {}, {}),
    ("train", "finished", {"n_est": 100, "kind": "rf", "x": "1"}, {"rmse": 0.65, "acc": 0.9}, {"owner": "Ana"}),
    ("train", "finished", {"n_est": 200, "kind": "gbm", "x": 1}, {"rmse": 0.72, "acc": 0.8}, {"owner": "bo"}),
    ("train", "failed", {"n_est": 300, "kind": "rf", "deep": True}, {"rmse": float("nan")}, {}),
    ("evaluate", "finished", {}, {"rmse": float("inf")}, {"owner": "ana"}),
]


@pytest.fixture
def filled(store, env):
    ids = []
    for i, (stage, status, params, metrics, tags) in enumerate(RUNS):
        run = store.create_run("exp" if i < 4 else "other", environment=env, stage=stage, start_time=1_000_000 + i * 1000)
        store.log_params(run.id, params)
        store.log_metric_points([(run.id, k, 0, v, 1) for k, v in metrics.items()])
        if tags:
            store.set_tags(run.id, tags)
        store.end_run(run.id, status, end_time=run.start_time + 500 * (i + 1))
        ids.append(run.id)
    return store, ids


def matches(filled, expression):
    store, ids = filled
    found = {s.run.id for s in store.search(filter=expression)}
    return sorted(ids.index(run_id) for run_id in found)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("metrics.rmse < 0.7", [1]),
        ("metrics.rmse < 0.7 and params.n_est = 100", [1]),
        ("metrics.rmse >= 0.7", [2, 4]),  # NaN compares false; inf is large
        ("metrics.rmse != 0.65", [2, 4]),
        ("params.n_est > 100", [2, 3]),
        ("params.n_est = '100'", [1]),  # a string literal compares the text form
        ("params.x = '1'", [1, 2]),
        ("params.x = 1", [2]),  # a number compares numbers only
        ("params.deep = true", [3]),
        ("params.kind in ('rf', 'xgb')", [1, 3]),
        ("params.kind not in ('rf')", [0, 2, 4]),
        ("tags.owner like 'a%'", [4]),  # like is case-sensitive
        ("tags.owner ilike 'a%'", [1, 4]),
        ("tags.owner not like 'a%'", [1, 2]),
        ("metrics.acc is null", [0, 3, 4]),
        ("metrics.acc is not null", [1, 2]),
        ("stage = 'train' and status = 'finished'", [1, 2]),
        ("(stage = 'prepare' or stage = 'evaluate') and not status = 'failed'", [0, 4]),
        ("stage != 'train'", [0, 4]),
        ("attributes.stage in ('prepare')", [0]),
        ("experiment = 'other'", [4]),
        ("duration >= 1.5", [2, 3, 4]),
        ("start_time >= 1002000", [2, 3, 4]),
        ("status = 'failed' or metrics.rmse > 1e9", [3, 4]),
    ],
)
def test_filter_results(filled, expression, expected):
    assert matches(filled, expression) == expected


def test_time_attributes_take_dates(filled, store, env):
    run = store.create_run("exp", environment=env)  # now, far after 1970
    store_, ids = filled
    found = {s.run.id for s in store.search(filter="start_time > '2020-01-01'")}
    assert found == {run.id}


def test_order_by(filled):
    store, ids = filled
    ordered = [ids.index(s.run.id) for s in store.search(order_by=["metrics.rmse DESC"])]
    assert ordered[:3] == [4, 2, 1]  # runs with no value (or NaN) come last
    assert [ids.index(s.run.id) for s in store.search(order_by="params.n_est")][:3] == [1, 2, 3]
    assert [ids.index(s.run.id) for s in store.search()] == [4, 3, 2, 1, 0]  # newest first
    with pytest.raises(FilterError, match="cannot sort by"):
        store.search(order_by="metrics.rmse sideways")


@pytest.mark.parametrize(
    "expression, message",
    [
        ("", "empty"),
        ("metrics.rmse <", "expected a number or a quoted string at the end"),
        ("metrics.rmse 0.7", "expected a comparison"),
        ("rmse < 0.7", "unknown field 'rmse'"),
        ("metric.rmse < 0.7 and", "expected a field"),
        ("metrics.rmse < 'low'", "compare it with a number"),
        ("stage = 3", "quote the value"),
        ("status = 'done'", "unknown status 'done'"),
        ("foo.bar = 1", "unknown field prefix 'foo'"),
        ("(stage = 'a'", "expected ')'"),
        ("stage = 'a' stage = 'b'", "expected 'and', 'or' or the end"),
        ("start_time > 'yesterday'", "not a date/time"),
        ("metrics.x is 3", "'null' after 'is'"),
        ("stage = 'a' # comment", "unexpected '#'"),
    ],
)
def test_malformed_filters_say_what_is_wrong(expression, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        compile_filter(expression)


@pytest.mark.parametrize(
    "hostile",
    [
        "params.x = '1'; DROP TABLE runs --",
        "params.x = '1' OR 1=1 --",
        "params.`x' OR '1'='1` = 1",
        "metrics.rmse < 0.7) UNION SELECT * FROM params --",
        "params.x = '1''); DROP TABLE runs; --'",
        'tags."a""; DROP TABLE tags; --" = \'v\'',
    ],
)
def test_hostile_input_is_refused_or_harmless(filled, hostile):
    store, ids = filled
    try:
        sql, params = compile_filter(hostile)
    except FilterError:
        pass
    else:
        # It parsed: every piece of user text must be a bound parameter, not SQL.
        assert "DROP" not in sql.upper() and "UNION" not in sql.upper() and "1=1" not in sql
        store.search(filter=hostile)
    tables = {row[0] for row in sqlite3.connect(store.path).execute("SELECT name FROM sqlite_master")}
    assert {"runs", "params", "tags"} <= tables
    assert len(store.search()) == len(ids)


def test_and_binds_tighter_than_or():
    tree = parse("stage = 'a' or metrics.m > 2 and not params.p = 'x'")
    assert tree.op == "or" and tree.items[1].op == "and"
    assert type(tree.items[1].items[1]).__name__ == "Not"

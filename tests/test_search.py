"""Searching runs at the limits: huge and hostile filters, sort fields, typed param columns.

Every bad filter is one ``FilterError`` line that says what to do, on a real store, and one
``Error: ...`` line from the real CLI process; legitimate large filters (a 50,000-id ``in`` list,
a 5,000-term ``or``) work.
"""

import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.core.errors import FilterError
from mlops_jupyter.core.filters import MAX_COMPARISONS, MAX_NESTING, MAX_SORT_FIELDS, compile_filter

CLI = [str(Path(sys.executable).with_name("mlops-jupyter"))]


@pytest.fixture
def runs(store, env):
    """Three runs: n = 0, 1, 2; m = 0.5, 1.5, 2.5; t = 'a', 'b', 'c'."""
    ids = []
    for i in range(3):
        run = store.create_run("exp", environment=env, stage="train", start_time=1_700_000_000_000 + i)
        store.log_params(run.id, {"n": i, "name": f"r{i}"})
        store.log_metric_points([(run.id, "m", 0, i + 0.5, 1)])
        store.set_tags(run.id, {"t": "abc"[i]})
        store.end_run(run.id, "finished", end_time=1_700_000_001_000 + i)
        ids.append(run.id)
    return store, ids


def found(store, ids, expression, **kwargs):
    return sorted(ids.index(s.run.id) for s in store.search(filter=expression, **kwargs))


def refused(store, expression, message):
    with pytest.raises(FilterError, match=message) as error:
        store.search(filter=expression)
    line = str(error.value)
    assert "\n" not in line and len(line) < 400, line  # one short line, even for a huge filter
    return line


# --- large filters that are legitimate work ------------------------------------------------------


def test_an_in_list_of_50000_run_ids_works(runs):
    store, ids = runs
    others = [f"{i:032x}" for i in range(50_000)]
    listed = ", ".join(f"'{run_id}'" for run_id in [*others[:25_000], ids[0], ids[2], *others[25_000:]])
    assert found(store, ids, f"run_id in ({listed})") == [0, 2]
    assert found(store, ids, f"run_id not in ({listed})") == [1]
    assert store.count(filter=f"run_id in ({listed})") == 2


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("params.n in ({numbers})", [1, 2]),
        ("params.n not in ({numbers})", [0]),
        ("params.name in ({texts})", [1]),
        ("params.n in ({texts})", [2]),  # a string compares the text form
        ("metrics.m in ({floats})", [0, 2]),
        ("tags.t in ({texts})", [0]),
        ("stage in ({texts})", []),
        ("start_time in ({numbers})", [2]),
    ],
)
def test_in_lists_of_100000_values_work(runs, expression, expected):
    store, ids = runs
    numbers = ", ".join(str(i) for i in range(1, 100_000, 1)) + ", 1700000000002"
    texts = ", ".join(f"'x{i}'" for i in range(100_000)) + ", 'r1', '2', 'a'"
    floats = ", ".join(f"{i + 0.25}" for i in range(100_000)) + ", 0.5, 2.5, 1e999"
    assert found(store, ids, expression.format(numbers=numbers, texts=texts, floats=floats)) == expected


def test_in_lists_compare_exactly(store, env):
    tricky = [0.1 + 0.2, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e23, -0.0, math.inf]
    ids = []
    for value in tricky:
        run = store.create_run("exp", environment=env)
        store.log_metric_points([(run.id, "m", 0, value, 1)])
        store.log_params(run.id, {"p": value, "q": "it's \"quoted\" \\ é ☃ 😀\n"})
        ids.append(run.id)
    near = [math.nextafter(v, 0) for v in tricky if v and v not in (5e-324, math.inf)]  # one step off: no match
    listed = ", ".join(repr(v) if math.isfinite(v) else "1e999" for v in [*tricky, *near])
    assert found(store, ids, f"metrics.m in ({listed})") == list(range(len(tricky)))
    assert found(store, ids, f"params.p in ({listed})") == list(range(len(tricky)))
    only_near = ", ".join(repr(v) for v in near)
    assert found(store, ids, f"metrics.m in ({only_near})") == []
    assert found(store, ids, "params.q in ('it''s \"quoted\" \\\\ é ☃ 😀\n', 'x')") == list(range(len(tricky)))


@pytest.mark.parametrize("op", ["or", "and"])
def test_a_5000_term_chain_works(runs, op):
    store, ids = runs
    if op == "or":  # inequalities on alternating fields: nothing folds into an `in` list
        terms = [f"params.n > {1000 + i}" if i % 2 else f"metrics.m < {-1 - i}" for i in range(5_000)] + ["tags.t = 'b'"]
        expected = [1]
    else:
        terms = [f"metrics.m > {-i}" if i % 2 else f"params.n < {1000 + i}" for i in range(5_000)] + ["tags.t != 'b'"]
        expected = [0, 2]
    started = time.monotonic()
    assert found(store, ids, f" {op} ".join(terms)) == expected
    assert time.monotonic() - started < 30


def test_a_5000_term_or_of_one_field_folds_into_one_list(runs):
    store, ids = runs
    chain = " or ".join([*(f"run_id = '{i:032x}'" for i in range(5_000)), f"run_id = '{ids[1]}'"])
    assert found(store, ids, chain) == [1]
    sql, params = compile_filter(chain)
    assert len(params) == 1  # one JSON array, not 5,001 SQL variables


# --- what cannot work is one FilterError that states the limit -----------------------------------


def test_a_chain_past_the_comparison_limit_is_refused_at_once(runs):
    store, ids = runs
    chain = " or ".join(f"params.n > {i}" for i in range(MAX_COMPARISONS + 1))
    started = time.monotonic()
    line = refused(store, chain, f"more than {MAX_COMPARISONS:,} comparisons")
    assert "in (...)" in line and time.monotonic() - started < 5


@pytest.mark.parametrize("kind", ["parentheses", "not", "mixed"])
def test_deep_nesting_is_refused_with_the_limit(runs, kind):
    store, ids = runs
    depth = 10_000
    expression = {
        "parentheses": "(" * depth + "params.n = 1" + ")" * depth,
        "not": "not " * depth + "params.n = 1",
        "mixed": "(not " * depth + "params.n = 1" + ")" * depth,
    }[kind]
    line = refused(store, expression, "nests")
    assert str(MAX_NESTING) in line


def test_nesting_up_to_the_limit_works_in_sqlite(runs):
    """The deepest filter allowed, alternating not / or / and around every kind of comparison."""
    store, ids = runs
    leaves = ["params.n = 1", "metrics.m > 1", "tags.t in ('b', 'c')", "stage != 'x'", "params.name like 'r%'"]
    expression, depth, level = "params.n = 1", 0, 0
    while depth < MAX_NESTING:
        leaf, other = leaves[level % 5], leaves[(level + 1) % 5]
        if level % 2 and MAX_NESTING - depth >= 2:
            expression, depth = f"not ({expression} or {leaf} or {other})", depth + 2
        else:
            expression, depth = f"({expression} and {leaf} and {other})", depth + 1
        level += 1
    store.search(filter=expression)  # parses, compiles and runs: no SQLite limit is hit
    store.search(filter=" or ".join([expression] * 50) + " or " + " or ".join(f"params.n > {i}" for i in range(5_000)))
    refused(store, f"({expression})", str(MAX_NESTING))


@pytest.mark.parametrize(
    "expression, message",
    [
        ("start_time > 1e400", "not a time"),
        ("end_time < 99999999999999999999999", "not a time"),
        ("start_time > '0001-01-01T00:00:00+14:00'", "not a date/time"),
        ("start_time > '0001-01-01'", "not a date/time"),
        ("tags.t = '\ud800'", "not valid text"),
        ("params.`\udcff` = 1", "not valid text"),
        ("tags.t like '" + "a" * 60_000 + "'", "50,000"),
        ("tags.t ilike '" + "%" * 60_000 + "'", "50,000"),
    ],
)
def test_values_out_of_range_are_refused(runs, expression, message):
    store, ids = runs
    refused(store, expression, re.escape(message))


def test_numbers_beyond_64_bits_compare_as_floats(runs):
    store, ids = runs
    assert found(store, ids, "metrics.m < 99999999999999999999") == [0, 1, 2]
    assert found(store, ids, "params.n < " + "9" * 5_000) == [0, 1, 2]  # past Python's int-string limit
    assert found(store, ids, "params.n > -" + "9" * 30) == [0, 1, 2]
    assert found(store, ids, "metrics.m in (1e999, -1e999, 0.5)") == [0]


def test_a_long_number_is_not_quadratic(runs):
    store, ids = runs
    started = time.monotonic()
    refused(store, "metrics.m = " + "1" * 200_000 + "x", "unexpected")
    refused(store, "metrics.m = " + "1" * 200_000 + ".5.5", "unexpected")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("value", [5, b"params.n = 1", ["params.n = 1"]])
def test_a_filter_that_is_not_text_is_refused(runs, value):
    store, ids = runs
    with pytest.raises(FilterError, match="must be a string"):
        store.search(filter=value)
    with pytest.raises(FilterError, match="must be a string"):
        store.count(filter=value)


@pytest.mark.parametrize(
    "order_by, message",
    [
        (5, "field name"),
        ([None], "field name"),
        (["metrics.m", 3], "field name"),
        (["metrics.m"] * (MAX_SORT_FIELDS + 1), f"at most {MAX_SORT_FIELDS}"),
        ([f"params.p{i}" for i in range(100)], f"at most {MAX_SORT_FIELDS}"),
        ("metrics.`\ud800`", "not valid text"),
        ("", "cannot sort by"),
        ("metrics.m desc desc", "cannot sort by"),
        ("(metrics.m)", "cannot sort by"),
        ("metrics.m " + "1" * 100_000, "cannot sort by"),
    ],
)
def test_bad_sort_fields_are_refused(runs, order_by, message):
    store, ids = runs
    with pytest.raises(FilterError, match=re.escape(message)) as error:
        store.search(order_by=order_by)
    assert "\n" not in str(error.value) and len(str(error.value)) < 400


def test_sort_fields_up_to_the_limit_work(runs):
    store, ids = runs
    order = ["params.n DESC", *(f"params.p{i}" for i in range(MAX_SORT_FIELDS - 1))]
    assert [ids.index(s.run.id) for s in store.search(order_by=order)] == [2, 1, 0]


def test_messages_quote_only_the_start_of_a_huge_filter(runs):
    store, ids = runs
    line = refused(store, "params.n = 1 and " * 20_000 + "bogus = 1", "unknown field 'bogus'")
    assert "…" in line


def run_cli(project, *args):
    return subprocess.run([*CLI, "-C", str(project.root), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["-f", "(" * 10_000 + "params.n = 1" + ")" * 10_000], "nests"),
        (["-f", "not " * 10_000 + "params.n = 1"], "nests"),
        (["-f", "metrics.m = " + "1" * 50_000 + "x"], "unexpected"),
        (["-f", "start_time > 1e400"], "not a time"),
        (["-f", "start_time > '0001-01-01'"], "not a date/time"),
        (["-S", "metrics.m sideways"], "cannot sort by"),
        ([a for i in range(MAX_SORT_FIELDS + 1) for a in ("-S", f"params.p{i}")], f"at most {MAX_SORT_FIELDS}"),
    ],
)
def test_the_cli_says_one_line(project, runs, args, message):
    result = run_cli(project, "runs", "ls", *args)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr[-2000:]
    assert result.stdout == ""


def test_the_cli_lists_runs_of_a_long_filter(project, runs):
    store, ids = runs
    chain = " or ".join(f"run_id = '{i:032x}'" for i in range(2_000)) + " or params.n = 1"
    result = run_cli(project, "runs", "ls", "-f", chain, "--json")
    assert result.returncode == 0, result.stderr
    assert ids[1] in result.stdout and ids[0] not in result.stdout


def test_fuzzed_filters_work_or_say_what_is_wrong(runs):
    """Whatever the text, a search returns or raises FilterError: never another exception."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    store, ids = runs
    fields = st.sampled_from([
        "metrics.m", "params.n", "params.name", "tags.t", "params.`a``b`", 'tags."x"', "attributes.stage",
        "run_id", "start_time", "end_time", "duration", "status", "experiment", "foo.bar", "bogus", "id",
    ])
    ops = st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">=", "like", "ilike", "not like", "is", "is not"])
    literals = st.one_of(
        st.sampled_from([
            "'a'", "'%'", "'2026-11-01'", "'finished'", "''''", '"x"', "0", "-1", "1.5", "1e999", "-1e400", "null",
            "99999999999999999999", "9" * 30, "true", "false", "'\\'", "'\ud800'", "'0001-01-01'", "'[*?'",
            "'9999-12-31T23:59:59-14:00'",
        ]),
        st.integers(50_001, 60_000).map(lambda n: "'" + "%" * n + "'"),  # past SQLite's like-pattern limit
        st.integers().map(str),
        st.floats().map(repr),
        st.text(max_size=8).map(lambda t: "'" + t.replace("'", "''") + "'"),
    )
    comparisons = st.one_of(
        st.tuples(fields, ops, literals).map(" ".join),
        st.tuples(fields, st.sampled_from(["in", "not in"]), st.lists(literals, min_size=1, max_size=4)).map(
            lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})"
        ),
    )
    trees = st.recursive(comparisons, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
        inner.map(lambda e: f"not {e}"),
        inner.map(lambda e: f"({e})"),
    ), max_leaves=6)
    tokens = st.one_of(fields, ops, literals, st.sampled_from(["(", ")", ",", ";", "--", "`", "'", "and", "or", "not"]))
    texts = st.one_of(trees, st.lists(tokens, max_size=12).map(" ".join), st.text(max_size=40))

    @hypothesis.settings(max_examples=600, deadline=None, database=None)
    @hypothesis.given(texts, st.sampled_from([None, "metrics.m DESC", ["params.n", "start_time"], "tags.t"]))
    def check(expression, order_by):
        for call in (lambda: store.search(filter=expression, order_by=order_by), lambda: store.count(filter=expression)):
            try:
                call()
            except FilterError as e:
                assert "\n" not in str(e) and str(e)

    check()


# --- the DataFrame of mj.runs(): typed param columns, the same values as the store ---------------


def test_param_columns_keep_their_types(project, tracker):
    logged = [
        {"every_int": 1, "some_int": 5, "every_float": 0.5, "some_float": 1.5, "mixed": 1, "flag": True,
         "word": "a", "big": 2**70, "maybe": 1, "listy": [1, 2]},
        {"every_int": 2, "every_float": 1.0, "mixed": 2.5, "flag": False, "word": "b", "big": 1, "maybe": None},
        {"every_int": 3, "some_int": 7, "every_float": -2.0, "mixed": 3, "flag": True, "word": "c", "big": 3},
    ]
    for params in logged:
        with mj.start_run():
            mj.log_params(params)
    frame = mj.runs(order_by="params.every_int")
    dtypes = {c[len("params."):]: str(frame[c].dtype) for c in frame.columns if c.startswith("params.")}
    assert dtypes["every_int"] == "int64"
    assert dtypes["some_int"] == "Int64"  # ints, with runs that lack the key
    assert dtypes["every_float"] == "float64" and dtypes["some_float"] == "float64"
    assert dtypes["mixed"] == "object" and dtypes["big"] == "object" and dtypes["maybe"] == "object"
    assert dtypes["listy"] == "object"
    some = frame["params.some_int"]
    assert some.isna().tolist() == [False, True, False] and [some[0], some[2]] == [5, 7]
    assert frame["params.every_int"].tolist() == [1, 2, 3] and type(frame["params.every_int"].tolist()[0]) is int
    assert frame["params.mixed"].tolist() == [1, 2.5, 3] and [type(v) for v in frame["params.mixed"]] == [int, float, int]
    assert frame["params.big"].tolist() == [2**70, 1, 3]
    assert frame["params.maybe"].tolist()[:2] == [1, None]
    assert frame["params.flag"].tolist() == [True, False, True] and frame["params.flag"].dtype == bool
    assert math.isnan(frame["params.some_float"].tolist()[1])
    assert frame["params.listy"].tolist()[0] == [1, 2]
    assert mj.runs(filter="params.some_int = 5")["params.some_int"].dtype == "int64"  # complete on that page


def test_runs_frame_holds_what_the_store_holds(project, tracker):
    """A varied store, read through mj.runs() and, run by run, through the store's get_run."""
    rng = np.random.default_rng(7)
    for i in range(60):
        with mj.start_run(experiment=("a", "b")[i % 2], stage=("train", None)[i % 3 == 0],
                          tags={"owner": "ana"} if i % 4 else None):
            params = {"n": int(rng.integers(10)), "lr": float(rng.random()), "kind": ("rf", "gbm")[i % 2]}
            if i % 5:
                params["depth"] = i
            if i % 7 == 0:
                params.update({"on": bool(i % 2), "layers": [i, 2], "none": None, "nan": float("nan"), "huge": 2**80})
            mj.log_params(params)
            mj.log_metrics({"rmse": float(rng.random()), **({"acc": float("nan")} if i % 6 == 0 else {}),
                            **({"inf": float("inf")} if i % 9 == 0 else {})})
            if i % 3:
                mj.set_tag(f"t{i % 4}", f"v{i}")
    store, _ = tracker.open(project)
    for kwargs in ({}, {"experiment": "a"}, {"filter": "params.n < 5 or metrics.rmse > 0.5"},
                   {"order_by": ["params.depth DESC", "metrics.rmse"], "max_results": 17}, {"filter": "params.n = 99"}):
        frame = mj.runs(**kwargs)
        summaries = store.search(filter=kwargs.get("filter"), experiment=kwargs.get("experiment"),
                                 order_by=kwargs.get("order_by"), limit=kwargs.get("max_results"))
        assert list(frame.run_id) == [s.run.id for s in summaries]
        keys = {p: sorted({k for s in summaries for k in getattr(s, p)}) for p in ("metrics", "params", "tags")}
        assert list(frame.columns) == ["run_id", "experiment", "stage", "status", "start_time", "end_time", "duration",
                                       "notebook", *(f"{p}.{k}" for p in ("metrics", "params", "tags") for k in keys[p])]
        for i, summary in enumerate(summaries):
            detail = store.get_run(summary.run.id)
            assert _same(detail.params, summary.params) and _same(detail.metrics, summary.metrics)
            assert detail.tags == summary.tags
            row = frame.iloc[i]
            assert row.experiment == detail.run.experiment and row.status == detail.run.status
            assert row.start_time == pd.Timestamp(detail.run.start_time, unit="ms", tz="UTC")
            assert row.duration == detail.run.duration
            for prefix, values in (("metrics", detail.metrics), ("params", detail.params), ("tags", detail.tags)):
                for key in keys[prefix]:
                    cell = row[f"{prefix}.{key}"]
                    if key not in values:
                        assert cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell)), (key, cell)
                    else:
                        assert _same(cell, values[key]), (prefix, key, cell, values[key])
        if len(frame):
            assert frame["metrics.rmse"].dtype == np.float64 and frame["params.lr"].dtype == np.float64
            assert str(frame.start_time.dtype).startswith("datetime64") and frame.start_time.dt.tz is not None


def _same(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    if isinstance(a, np.generic):
        a = a.item()
    return a == b and type(a) is type(b)

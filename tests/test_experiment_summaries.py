"""Experiment summaries (``runs.experiment_json``) always say what the lineage walk says.

Pages of experiments read each ended run's experiment from its summary; the lineage, params and
metrics tables are the facts. Each test writes to a real store in the orders that could leave a
summary stale (a late param, metric or lineage edge on an upstream run after its consumers
ended, a run marked killed) and compares every summary with a fresh walk, and every page with
the plain-Python reference of ``test_experiments``.
"""

import json
import sqlite3

from sqlite_utils import Database

from mlops_jupyter.core import experiment_summaries, experiments, schema
from mlops_jupyter.core.models import LineageEdge
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.core.summaries import read_summary

from .test_experiments import reference, same


def assert_summaries_hold_the_walk(store: RunStore) -> None:
    rows = store.conn.execute(f"SELECT num, status, {experiment_summaries.COLUMN} FROM runs ORDER BY num").fetchall()
    walked = experiment_summaries.compute(store.conn, [num for num, _, _ in rows])
    for (num, status, text), walk in zip(rows, walked):
        if status == "running":
            assert text is None, num
        else:
            assert text is not None, num
            stored = read_summary(text)
            assert stored["params"] == walk["params"] and stored["upstream"] == walk["upstream"], num
            assert stored["metrics"].keys() == walk["metrics"].keys(), num
            assert all(same(stored["metrics"][k], v) for k, v in walk["metrics"].items()), num
    expected = reference(store.path)
    for experiment in experiments.page(store).experiments():
        row = expected[experiment.run.id]
        assert experiment.params == row["params"]
        assert experiment.metrics.keys() == row["metrics"].keys()
        assert all(same(experiment.metrics[k], v) for k, v in row["metrics"].items())
        assert [u.run_id for u in experiment.upstream] == row["upstream"]


def chain(store, env, count: int = 3):
    runs = []
    for i in range(count):
        run = store.create_run("exp", environment=env, stage=f"s{i}", notebook="nb.ipynb")
        if runs:
            store.add_lineage(run.id, [LineageEdge(runs[-1].id, "x", "variable")])
        store.log_params(run.id, {f"s{i}.n": i})
        store.log_metric_points([(run.id, "score", 0, i / 10, 1)])
        store.end_run(run.id, "finished")
        runs.append(run)
    return runs


def test_late_writes_upstream_reach_every_ended_consumer(store, env):
    first, middle, last = chain(store, env)
    assert_summaries_hold_the_walk(store)
    store.log_params(first.id, {"late": "yes"})
    assert_summaries_hold_the_walk(store)
    store.log_metric_points([(first.id, "score", 1, 0.99, 2), (first.id, "new", 0, float("nan"), 2)])
    assert_summaries_hold_the_walk(store)
    (sink,) = experiments.page(store).experiments()
    assert sink.params["late"] == "yes" and sink.metrics["s0/score"] == 0.99
    # A new upstream edge of the middle run brings a whole other closure into the sink's.
    side = store.create_run("exp", environment=env, stage="side", notebook="other.ipynb")
    store.log_params(side.id, {"side.k": [1, 2]})
    store.end_run(side.id, "finished")
    store.add_lineage(middle.id, [LineageEdge(side.id, "y", "file")])
    assert_summaries_hold_the_walk(store)
    assert experiments.get(store, last.id).params["side.k"] == [1, 2]


def test_running_runs_are_walked_and_summarized_when_they_end(store, env):
    _, second = chain(store, env, 2)
    running = store.create_run("exp", environment=env, stage="s2", notebook="nb.ipynb")
    store.add_lineage(running.id, [LineageEdge(second.id, "x", "variable")])
    store.log_metric_points([(running.id, "acc", 0, 0.5, 1)])
    assert_summaries_hold_the_walk(store)
    assert experiments.get(store, running.id).metrics == {"acc": 0.5, "s0/score": 0.0, "s1/score": 0.1}
    store.end_run(running.id, "failed")
    assert_summaries_hold_the_walk(store)


def test_runs_marked_killed_get_their_summaries(store, env):
    run = store.create_run("exp", environment=env, stage="s0")
    store.log_params(run.id, {"n": 1})
    store.conn.execute("UPDATE runs SET pid = NULL WHERE id = ?", [run.id])  # no process: it is gone
    store.conn.commit()
    assert store.recover_killed_runs() == [run.id]
    assert_summaries_hold_the_walk(store)


def test_a_store_of_the_previous_schema_gets_its_experiment_summaries(tmp_path):
    path = tmp_path / "runs.db"
    db = Database(path)
    previous = schema.STEP_NAMES.index("m008_experiment_summaries")
    schema.migrations().apply(db, stop_before=list(schema.STEP_NAMES[previous:]))
    db["experiments"].insert({"id": 1, "name": "old", "created_time": 1})
    for num in range(1, 5):
        status = "running" if num == 4 else "finished"
        db["runs"].insert({"num": num, "id": f"{num:032x}", "experiment_id": 1, "status": status, "stage": f"s{num}",
                           "notebook": "nb.ipynb", "start_time": num, "params_json": json.dumps({"n": num}),
                           "metrics_json": json.dumps({"m": num / 3})})
        db["params"].insert({"run": num, "key": "n", "value": num, "type": "int"})
        db["latest_metrics"].insert({"run": num, "key": "m", "step": 0, "value": num / 3, "timestamp": 1})
        if num > 1:
            db["lineage"].insert({"run": num, "upstream": num - 1, "via": "x", "kind": "variable"})
    db.close()
    with RunStore(path) as store:
        assert store.applied_migrations() == list(schema.STEP_NAMES)
        assert_summaries_hold_the_walk(store)
    summarized = sqlite3.connect(path).execute(
        f"SELECT count(*) FROM runs WHERE {experiment_summaries.COLUMN} IS NOT NULL").fetchone()[0]
    assert summarized == 3

"""Every call of the `mj` tracking API, round-tripped through a real store."""

import math
import sqlite3
import time

import numpy as np
import pandas as pd
import pytest

import mlops_jupyter as mj
from mlops_jupyter.core.errors import InvalidKey, InvalidValue, MlopsError, NoActiveRun, ParamConflict
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.store import RunStore


def reopen(project):
    return RunStore(project.db_path)


def test_params_round_trip_typed(project, tracker):
    values = {"n_est": 100, "lr": 0.05, "name": "rf", "flag": True, "none": None,
              "layers": [64, 32], "cfg": {"a": 1}, "big": 2**70, "np": np.int64(7),
              "nan": float("nan"), "inf": float("inf")}
    with mj.start_run() as run:
        mj.log_params(values)
        mj.log_param("extra", "x")
    with reopen(project) as store:
        params = store.get_run(run.run_id).params
    assert params["np"] == 7 and type(params["np"]) is int
    assert math.isnan(params.pop("nan")) and math.isnan(values.pop("nan"))
    values["np"] = 7
    assert params == {**values, "extra": "x"}
    for key in ("n_est", "lr", "name", "flag", "none", "layers", "big"):
        assert type(params[key]) is type(values[key])


def test_params_are_write_once(project, tracker):
    with mj.start_run() as run:
        mj.log_param("n_est", 100)
        mj.log_param("n_est", 100)  # the same value again is fine
        with pytest.raises(ParamConflict, match=r"'n_est' of run \w+ is already 100; params are write-once"):
            mj.log_param("n_est", 200)
        with pytest.raises(ParamConflict):
            mj.log_params({"fresh": 1, "n_est": "100"})  # str '100' is not int 100
    with reopen(project) as store:
        assert store.get_run(run.run_id).params == {"n_est": 100}  # "fresh" was not half-written


def test_metrics_history_steps_and_latest(project, tracker):
    with mj.start_run() as run:
        for value in (0.9, 0.7, 0.5):
            mj.log_metric("loss", value)
        mj.log_metric("acc", 0.1, step=10)
        mj.log_metric("acc", 0.3, step=5)  # an earlier step logged later: latest stays step 10
        mj.log_metrics({"f1": 0.5, "auc": np.float32(0.25)}, step=3)
    with reopen(project) as store:
        detail = store.get_run(run.run_id)
        assert [(p.step, p.value) for p in store.metric_history(run.run_id, "loss")] == [(0, 0.9), (1, 0.7), (2, 0.5)]
        assert [p.step for p in store.metric_history(run.run_id, "acc")] == [5, 10]
    assert detail.metrics == {"loss": 0.5, "acc": 0.1, "f1": 0.5, "auc": 0.25}
    assert detail.metric_steps == {"loss": 3, "acc": 2, "f1": 1, "auc": 1}


def test_nan_and_infinities_are_stored_faithfully(project, tracker):
    with mj.start_run() as run:
        mj.log_metric("a", float("nan"))
        mj.log_metric("b", float("inf"))
        mj.log_metric("c", -np.inf)
    with reopen(project) as store:
        metrics = store.get_run(run.run_id).metrics
        assert math.isnan(store.metric_history(run.run_id, "a")[0].value)
    assert math.isnan(metrics["a"]) and metrics["b"] == math.inf and metrics["c"] == -math.inf
    frame = mj.runs()
    assert math.isnan(frame.loc[0, "metrics.a"]) and frame.loc[0, "metrics.c"] == -math.inf


@pytest.mark.parametrize("value", ["0.5", None, b"1", [1.0], object()])
def test_non_numeric_metric_is_refused(tracker, value):
    with mj.start_run():
        with pytest.raises(InvalidValue, match="must be a number"):
            mj.log_metric("x", value)


def test_non_integer_step_is_refused(tracker):
    with mj.start_run():
        with pytest.raises(InvalidValue, match="step must be an integer"):
            mj.log_metric("x", 1.0, step=1.5)


@pytest.mark.parametrize("key", ["loss/val", "train.n_est", "précision @5", "a-b:c", "x" * 250])
def test_odd_but_printable_keys_work(project, tracker, key):
    with mj.start_run() as run:
        mj.log_metric(key, 1.0)
        mj.log_param(key, 1)
        mj.set_tag(key, "v")
    quoted = "`" + key.replace("`", "``") + "`"
    frame = mj.runs(filter=f"metrics.{quoted} = 1 and params.{quoted} = 1 and tags.{quoted} = 'v'")
    assert list(frame.run_id) == [run.run_id]


@pytest.mark.parametrize("key", ["", " lead", "a\nb", "tab\there", "x" * 251, 7, None])
def test_bad_keys_are_refused_with_a_reason(tracker, key):
    with mj.start_run():
        for call in (lambda: mj.log_metric(key, 1.0), lambda: mj.log_param(key, 1), lambda: mj.set_tag(key, "v")):
            with pytest.raises(InvalidKey, match="key"):
                call()


def test_tags_overwrite(project, tracker):
    with mj.start_run(tags={"owner": "ana"}) as run:
        mj.set_tag("owner", "bo")
        mj.set_tag("note", 3)
    with reopen(project) as store:
        assert store.get_run(run.run_id).tags == {"owner": "bo", "note": "3"}


def test_log_artifact_file_and_folder(project, tracker, tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"weights")
    (tmp_path / "plots" / "sub").mkdir(parents=True)
    (tmp_path / "plots" / "a.png").write_bytes(b"\x89PNG fake")
    (tmp_path / "plots" / "sub" / "b.json").write_text("{}")
    with mj.start_run() as run:
        mj.log_artifact(tmp_path / "model.pkl")
        mj.log_artifact(tmp_path / "plots")
        with pytest.raises(MlopsError, match="does not exist"):
            mj.log_artifact(tmp_path / "nope.txt")
    with reopen(project) as store:
        artifacts = {a.name: a for a in store.get_run(run.run_id).artifacts}
    assert set(artifacts) == {"model.pkl", "plots/a.png", "plots/sub/b.json"}
    assert artifacts["plots/a.png"].mime == "image/png" and artifacts["model.pkl"].size == 7
    objects = ObjectStore(project.cache_dir)
    assert objects.read_bytes(artifacts["model.pkl"].hash) == b"weights"
    assert objects.read_bytes(artifacts["plots/sub/b.json"].hash) == b"{}"


def test_run_status_from_the_with_block(project, tracker):
    with mj.start_run(stage="ok") as ok:
        pass
    with pytest.raises(ZeroDivisionError):
        with mj.start_run(stage="bad") as bad:
            1 / 0
    with pytest.raises(KeyboardInterrupt):
        with mj.start_run(stage="stopped") as stopped:
            raise KeyboardInterrupt
    with reopen(project) as store:
        status = {r: store.get_run(r.run_id).run.status for r in (ok, bad, stopped)}
    assert list(status.values()) == ["finished", "failed", "killed"]
    assert mj.active_run() is None
    with pytest.raises(NoActiveRun):
        mj.end_run()


def test_nested_runs_log_to_the_innermost(project, tracker):
    with mj.start_run(stage="outer") as outer:
        mj.log_metric("x", 1)
        with mj.start_run(stage="inner") as inner:
            mj.log_metric("x", 2)
        mj.log_metric("y", 3)
    with reopen(project) as store:
        assert store.get_run(outer.run_id).metrics == {"x": 1, "y": 3}
        assert store.get_run(inner.run_id).metrics == {"x": 2}


def test_logging_without_a_run_starts_one_that_ends_at_exit(project, tmp_path):
    from .conftest import run_python

    run_python("import mlops_jupyter as mj\nmj.log_metric('m', 1.5)\nmj.log_param('p', 2)", cwd=project.root)
    run_python("import mlops_jupyter as mj\nmj.log_metric('m', 2.5)\nraise SystemExit(0) if False else 1/0",
               cwd=project.root, check=False)
    frame = mj.runs(order_by="start_time")
    assert list(frame.status) == ["finished", "failed"]
    assert list(frame["metrics.m"]) == [1.5, 2.5]


def test_experiments(project, tracker, monkeypatch):
    with mj.start_run():
        pass
    with mj.start_run("explicit"):
        pass
    mj.set_experiment("chosen")
    with mj.start_run():
        pass
    assert sorted(mj.runs().experiment) == ["Default", "chosen", "explicit"]
    assert len(mj.runs(experiment="explicit")) == 1


def test_runs_frame_is_shaped_like_mlflow_search_runs(project, tracker):
    for n in (100, 200):
        with mj.start_run(stage="train", tags={"owner": "ana"}):
            mj.log_param("n_est", n)
            mj.log_metric("rmse", n / 1000)
    frame = mj.runs()
    assert list(frame.columns) == ["run_id", "experiment", "stage", "status", "start_time", "end_time",
                                   "duration", "notebook", "metrics.rmse", "params.n_est", "tags.owner"]
    assert str(frame.start_time.dtype).startswith("datetime64") and frame.start_time.dt.tz is not None
    assert list(frame["params.n_est"]) == [200, 100]  # newest first
    assert frame["metrics.rmse"].dtype == np.float64
    assert list(mj.runs(filter="metrics.rmse < 0.15 and params.n_est = 100")["params.n_est"]) == [100]
    assert list(mj.runs(order_by="metrics.rmse ASC")["params.n_est"]) == [100, 200]
    assert len(mj.runs(max_results=1)) == 1
    assert len(mj.runs(stage="evaluate")) == 0 and len(mj.runs(status="finished")) == 2
    empty = mj.runs(filter="params.n_est = 5")
    assert isinstance(empty, pd.DataFrame) and len(empty) == 0


def test_metric_calls_do_not_touch_disk_until_a_flush(project, tracker):
    def stored_points():
        return sqlite3.connect(project.db_path).execute("SELECT COUNT(*) FROM metrics").fetchone()[0]

    tracker._interval = 3600  # no timer flush during this test
    with mj.start_run():
        for i in range(1000):
            mj.log_metric("m", i)
        assert stored_points() == 0
        mj.flush()
        assert stored_points() == 1000


def test_background_timer_flushes_within_the_interval(project, monkeypatch):
    project.config_path.write_text("[core]\nmetric_flush_interval = 0.2\n")
    from mlops_jupyter.kernel import tracking

    fresh = tracking.Tracker()
    monkeypatch.setattr(tracking, "TRACKER", fresh)
    try:
        with mj.start_run() as run:
            mj.log_metric("m", 1.0)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                count = sqlite3.connect(project.db_path).execute(
                    "SELECT COUNT(*) FROM metrics JOIN runs ON runs.num = metrics.run WHERE runs.id = ?",
                    [run.run_id]).fetchone()[0]
                if count:
                    break
                time.sleep(0.05)
            assert count == 1
    finally:
        fresh.shutdown()


def test_runs_of_an_empty_project(project, tracker):
    assert len(mj.runs()) == 0

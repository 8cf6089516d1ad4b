"""Sync with a real MLflow tracking server (tests/mlflow_server.py), checked with MLflow's own
client: runs with every param, metric step, tag, artifact byte, status and time; registered models
with versions, aliases and stages (an sklearn version loads with mlflow.sklearn); a second sync
sends nothing and duplicates nothing; runs come back the other way with `import mlflow`."""

import math
import uuid

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient

from mlops_jupyter.cli import main
from mlops_jupyter.core.registry import Registry


def cli(project, *args):
    return CliRunner().invoke(main, ["-C", str(project.root), *args], catch_exceptions=False)


@pytest.fixture
def filled(tracker, project, tmp_path):
    """Runs of a real tracker: a long training (10,000 steps), an evaluation with an artifact and a
    NaN, a failed run; and a RandomForest registered twice, aliased and staged."""
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    import mlops_jupyter as mj

    experiment = f"sync-{uuid.uuid4().hex[:8]}"
    mj.set_experiment(experiment)
    X, y = load_wine(return_X_y=True)
    runs = {}
    with mj.start_run() as run:
        mj.log_params({"lr": 0.01, "layers": [64, 32], **{f"p{i}": i for i in range(130)}})  # > 100: two batches
        for step in range(10_000):
            mj.log_metric("loss", 1 / (step + 1), step=step)
        mj.set_tags({"team": "fraud"})
        runs["train"] = run.run_id
    with mj.start_run() as run:
        (tmp_path / "report.txt").write_text("all good\n")
        mj.log_artifact(tmp_path / "report.txt")
        mj.log_metric("accuracy", 0.93)
        mj.log_metric("odd", float("nan"))
        for n in (5, 20):
            mj.log_model(RandomForestClassifier(n_estimators=n, random_state=0).fit(X, y), f"rf{n}",
                         registered_model_name=f"wine-{experiment}")
        runs["evaluate"] = run.run_id
    failed = mj.start_run()
    mj.log_metric("partial", 1.0)
    mj.end_run("failed")
    runs["failed"] = failed.run_id
    mj.flush()
    store = tracker.open(project.root)[0]
    registry = Registry(store)
    registry.set_alias(f"wine-{experiment}", "champion", 2)
    registry.transition(f"wine-{experiment}", 1, "Production")
    return experiment, runs, store, X


def remote_runs(client, experiment):
    found = client.get_experiment_by_name(experiment)
    return {r.data.tags["mlops.run_id"]: r for r in client.search_runs([found.experiment_id], max_results=1000)}


def test_runs_and_models_reach_mlflow_whole_and_only_once(filled, project, mlflow_uri, tmp_path):
    experiment, runs, store, X = filled
    result = cli(project, "sync", "mlflow", mlflow_uri)
    assert result.exit_code == 0, result.output
    assert "3 new run(s)" in result.output and "10003 metric points" in result.output, result.output
    client = MlflowClient(tracking_uri=mlflow_uri)
    remote = remote_runs(client, experiment)
    assert set(remote) == set(runs.values())
    train = remote[runs["train"]]
    local = store.get_run(runs["train"])
    assert train.data.params["lr"] == "0.01" and train.data.params["p129"] == "129" and len(train.data.params) == 132
    history = client.get_metric_history(train.info.run_id, "loss")
    assert [m.step for m in history] == list(range(10_000))
    assert all(math.isclose(m.value, 1 / (m.step + 1)) for m in history)
    assert train.data.tags["team"] == "fraud" and train.info.status == "FINISHED"
    assert (train.info.start_time, train.info.end_time) == (local.run.start_time, local.run.end_time)
    evaluate = remote[runs["evaluate"]]
    assert math.isnan(evaluate.data.metrics["odd"]) and evaluate.data.metrics["accuracy"] == 0.93
    path = client.download_artifacts(evaluate.info.run_id, "report.txt", str(tmp_path))
    assert open(path).read() == "all good\n"
    assert remote[runs["failed"]].info.status == "FAILED"
    name = f"wine-{experiment}"
    versions = {int(v.version): v for v in client.search_model_versions(f"name='{name}'")}
    assert set(versions) == {1, 2} and versions[1].current_stage == "Production"
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    mlflow.set_tracking_uri(mlflow_uri)
    model = mlflow.sklearn.load_model(f"models:/{name}@champion")
    import mlops_jupyter as mj

    assert model.n_estimators == 20
    assert (model.predict(X) == np.asarray(mj.load_model(f"models:/{name}@champion").predict(X))).all()

    # Again: nothing new is sent, nothing is duplicated.
    again = cli(project, "sync", "mlflow", mlflow_uri)
    assert "0 new run(s), 0 updated, 3 unchanged; 0 metric points, 0 params, 0 artifacts, 0 model version(s)" \
        in again.output, again.output
    assert len(remote_runs(client, experiment)) == 3 and len(client.search_model_versions(f"name='{name}'")) == 2
    # New points of one run: only they go.
    store.log_metric_points([(runs["train"], "loss", 10_000 + i, 0.0, 1) for i in range(5)])
    store.set_tags(runs["evaluate"], {"reviewed": "yes"})
    third = cli(project, "sync", "mlflow", mlflow_uri)
    assert "0 new run(s), 2 updated, 1 unchanged; 5 metric points" in third.output, third.output
    assert len(client.get_metric_history(train.info.run_id, "loss")) == 10_005
    assert remote_runs(client, experiment)[runs["evaluate"]].data.tags["reviewed"] == "yes"


def test_runs_come_in_from_mlflow_once(project, mlflow_uri):
    client = MlflowClient(tracking_uri=mlflow_uri)
    name = f"theirs-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    made = []
    for lr in (0.1, 0.01):
        run = client.create_run(experiment_id)
        client.log_param(run.info.run_id, "lr", lr)
        for step in range(3):
            client.log_metric(run.info.run_id, "loss", lr * (3 - step), step=step, timestamp=1_000 + step)
        client.set_terminated(run.info.run_id)
        made.append(run.info.run_id)
    for _ in range(2):
        result = cli(project, "import", "mlflow", mlflow_uri, "--experiment", name, "--into", "imported")
        assert result.exit_code == 0, result.output
    assert "Imported 0 run(s)" in result.output
    from mlops_jupyter.core.store import RunStore

    with RunStore(project.db_path) as store:
        found = {s.run.id: s for s in store.search(experiment="imported")}
        assert set(found) == set(made)
        assert found[made[1]].params == {"lr": "0.01"} and found[made[1]].run.status == "finished"
        assert [p.step for p in store.metric_history(made[0], "loss")] == [0, 1, 2]


def test_bad_servers_are_one_line(project):
    result = CliRunner().invoke(main, ["-C", str(project.root), "import", "mlflow", "localhost:5000", "--experiment", "x"])
    assert result.exit_code != 0 and "http(s)://HOST:PORT" in result.output
    result = CliRunner().invoke(main, ["-C", str(project.root), "import", "mlflow", "http://127.0.0.1:9", "--experiment", "x"])
    assert result.exit_code != 0 and "did not answer" in result.output and result.output.count("\n") == 1

"""The model registry on real stores: models logged in a real IPython shell's stages, registered,
aliased and staged as MLflow does it, loaded back (in a fresh process too) by every URI form,
hash-verified, with an audit history; and the `models` CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from mlops_jupyter.cli import main
from mlops_jupyter.core.objects import CorruptObject, ObjectStore
from mlops_jupyter.core.registry import Registry, RegistryError

TRAIN = """%%stage train -p train
import pandas as pd
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
X, y = load_wine(return_X_y=True, as_frame=True)
model = RandomForestClassifier(n_estimators=params.train.n_est, random_state=0).fit(X, y)
version = mj.log_model(model, "model", registered_model_name="wine", input_example=X.head(3))
mj.log_metric("train_accuracy", model.score(X, y))
"""


@pytest.fixture
def trained(shell, project):
    shell.run_cell("import mlops_jupyter as mj")
    versions = []
    for n_est in (20, 5):
        (project.root / "params.yaml").write_text(f"train:\n  n_est: {n_est}\n")
        assert shell.run_cell(TRAIN).error_in_exec is None
        versions.append(shell.user_ns["version"])
    return shell, versions


def cli(project, *args):
    result = CliRunner().invoke(main, ["-C", str(project.root), *args])
    return result


def test_versions_are_numbered_and_linked_to_their_runs(trained, project):
    shell, (v1, v2) = trained
    assert (v1.name, v1.version, v2.version) == ("wine", 1, 2) and v1.run_id != v2.run_id
    import mlops_jupyter as mj

    assert mj.runs(stage="train").set_index("run_id").loc[v2.run_id, "params.train.n_est"] == 5
    # The same stage again is restored from the cache: no run, no new version.
    (project.root / "params.yaml").write_text("train:\n  n_est: 5\n")
    assert shell.run_cell(TRAIN).error_in_exec is None
    result = cli(project, "models", "versions", "wine", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [v["version"] for v in listed] == [2, 1] and listed[0]["metrics"]["train_accuracy"] > 0.5
    logged = Registry(_store(project)).logged_model(v1.run_id, "model")
    assert logged.flavor == "sklearn" and "scikit-learn" in logged.info
    assert logged.signature["inputs"][0] == {"name": "alcohol", "type": "float64"}


def _store(project):
    from mlops_jupyter.kernel.tracking import TRACKER

    return TRACKER.open(project.root)[0]


def test_every_uri_form_loads_the_same_model(trained, project):
    import mlops_jupyter as mj

    shell, (v1, v2) = trained
    registry = Registry(_store(project))
    registry.set_alias("wine", "champion", 1)
    registry.transition("wine", 2, "production")
    X = shell.user_ns["X"]
    expected = {2: shell.user_ns["model"].predict(X)}
    by = {uri: mj.load_model(uri) for uri in ("models:/wine/1", "models:/wine@champion", "models:/wine/Production",
                                              "models:/wine/latest", f"runs:/{v2.run_id[:10]}/model", "models:/wine/v2")}
    assert by["models:/wine/1"].n_estimators == by["models:/wine@champion"].n_estimators == 20
    for uri in ("models:/wine/Production", "models:/wine/latest", f"runs:/{v2.run_id[:10]}/model", "models:/wine/v2"):
        assert (by[uri].predict(X) == expected[2]).all(), uri
    for bad, message in [("models:/wine/7", "no version 7"), ("models:/wine@nosuch", "no alias 'nosuch'"),
                         ("models:/wine/Prod", "unknown stage"), ("wine", "no model URI"),
                         ("models:/nosuch/1", "no registered model"), (f"runs:/{v1.run_id}/other", "logged no model")]:
        with pytest.raises(RegistryError, match=message) as error:
            mj.load_model(bad)
        assert "\n" not in str(error.value)


def test_a_model_loaded_by_alias_in_a_fresh_process_predicts_the_same(trained, project, tmp_path):
    shell, _ = trained
    Registry(_store(project)).set_alias("wine", "champion", 2)
    X = shell.user_ns["X"]
    np.save(tmp_path / "X.npy", X.to_numpy())
    code = ("import numpy as np, pandas as pd, sys\nimport mlops_jupyter as mj\n"
            "from sklearn.datasets import load_wine\n"
            "X, _ = load_wine(return_X_y=True, as_frame=True)\n"
            "model = mj.load_model('models:/wine@champion')\n"
            f"np.save({str(tmp_path / 'p.npy')!r}, model.predict(X))\n")
    subprocess.run([sys.executable, "-c", code], cwd=project.root, check=True, timeout=120,
                   env={**os.environ, "MLOPS_JUPYTER_DIR": str(project.root)})
    assert (np.load(tmp_path / "p.npy") == shell.user_ns["model"].predict(X)).all()


def test_a_corrupt_model_object_is_refused(trained, project):
    import mlops_jupyter as mj

    _, (v1, _) = trained
    logged = Registry(_store(project)).logged_model(v1.run_id, "model")
    path = ObjectStore(project.cache_dir).path(logged.hash)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptObject, match="corrupt"):
        mj.load_model("models:/wine/1")


def test_aliases_and_stages_follow_mlflows_rules_with_a_history(trained, project, monkeypatch):
    monkeypatch.setenv("MLOPS_USER", "ana")
    registry = Registry(_store(project))
    registry.set_alias("wine", "champion", 1)
    registry.set_alias("wine", "champion", "v2")  # moved
    assert registry.model("wine").aliases == {"champion": 2} and registry.version("wine", 1).aliases == ()
    for bad, message in [("latest", "reserved"), ("V3", "reserved"), ("no good", "only letters")]:
        with pytest.raises(RegistryError, match=message):
            registry.set_alias("wine", bad, 1)
    registry.transition("wine", 1, "production")
    registry.transition("wine", 2, "Production", archive_existing=True)
    assert [(v.version, v.stage) for v in registry.versions("wine")] == [(2, "Production"), (1, "Archived")]
    with pytest.raises(RegistryError, match="None, Staging, Production, Archived"):
        registry.transition("wine", 1, "prod")
    registry.set_tag("wine", "owner", "ana")
    registry.set_tag("wine", "validated", "yes", version=2)
    assert registry.model("wine").tags == {"owner": "ana"} and registry.version("wine", 2).tags == {"validated": "yes"}
    registry.delete_alias("wine", "champion")
    moves = [(e.version, e.action, e.what, e.old, e.new) for e in registry.history("wine")]
    assert moves[2:] == [
        (1, "alias", "champion", None, "1"), (2, "alias", "champion", "1", "2"),
        (1, "stage", None, "None", "Production"), (2, "stage", None, "None", "Production"),
        (1, "stage", None, "Production", "Archived"), (None, "tag", "owner", None, "ana"),
        (2, "tag", "validated", None, "yes"), (2, "alias removed", "champion", "2", None)]
    assert moves[0][1] == "registered" and all(e.user == "ana" for e in registry.history("wine")[2:])


def test_models_cli(trained, project):
    for args in (["models", "alias", "wine", "1", "champion"], ["models", "stage", "wine", "2", "staging"],
                 ["models", "tag", "wine", "team=fraud"]):
        result = cli(project, *args)
        assert result.exit_code == 0, result.output
    listed = json.loads(cli(project, "models", "ls", "--json").output)
    assert listed[0]["name"] == "wine" and listed[0]["aliases"] == {"champion": 1} and listed[0]["latest_version"] == 2
    shown = cli(project, "models", "show", "wine").output
    assert "@champion → v1" in shown and "Staging" in shown and "team = fraud" in shown
    history = cli(project, "models", "history", "wine").output
    assert "champion" in history and "Staging" in history
    assert "v1" in cli(project, "models", "versions", "wine").output
    for args, message in [(["models", "show", "nosuch"], "no registered model 'nosuch'"),
                          (["models", "alias", "wine", "9", "x"], "no version 9"),
                          (["models", "stage", "wine", "1", "prod"], "unknown stage"),
                          (["models", "tag", "wine", "novalue"], "KEY=VALUE")]:
        result = cli(project, *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)


def test_other_flavors(shell, project):
    import mlops_jupyter as mj

    shell.run_cell("import mlops_jupyter as mj")
    assert shell.run_cell("scale = lambda x: 2 * x\nlogged = mj.log_model(scale, 'scaler')\nmj.end_run()").error_in_exec is None
    logged = shell.user_ns["logged"]
    assert logged.flavor == "python"
    version = mj.register_model("scaler", f"runs:/{logged.run_id}/scaler")
    assert mj.load_model("models:/scaler/1")(21) == 42 and version.version == 1
    with pytest.raises(Exception, match="no ONNX model"):
        mj.log_model(b"not a model", "raw")


AUTOLOG_STAGE = """%%stage fit --autolog -p train
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_wine(return_X_y=True)
forest = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=params.train.n_est, random_state=0)).fit(X, y)
"""


def test_autolog_in_a_stage_logs_params_metrics_and_model_once(shell, project):
    import mlops_jupyter as mj

    (project.root / "params.yaml").write_text("train:\n  n_est: 7\n")
    shell.run_cell("import mlops_jupyter as mj")
    assert shell.run_cell(AUTOLOG_STAGE).error_in_exec is None
    frame = mj.runs(stage="fit")
    assert len(frame) == 1
    # The pipeline is logged under its variable; the estimators inside it fit too, but not on their own.
    assert frame["params.forest.verbose"].tolist() == [False]
    assert "params.forest.steps" in frame and "params.StandardScaler.copy" not in frame
    assert frame["metrics.forest.training_accuracy_score"].tolist() == [1.0]
    model = mj.load_model(f"runs:/{frame['run_id'][0]}/forest")
    assert (model.predict(shell.user_ns["X"]) == shell.user_ns["forest"].predict(shell.user_ns["X"])).all()
    # Restored from the cache: no fit, no new run, nothing logged twice.
    assert shell.run_cell(AUTOLOG_STAGE).error_in_exec is None
    assert len(mj.runs(stage="fit")) == 1


def test_mj_autolog_names_fits_by_their_variables(shell, project):
    import mlops_jupyter as mj

    shell.run_cell("import mlops_jupyter as mj\nmj.autolog()")
    cell = ("from sklearn.linear_model import Ridge\nimport numpy as np\n"
            "X = np.arange(20.0).reshape(10, 2)\ny = X @ [1.0, 2.0]\nreg = Ridge(alpha=0.5).fit(X, y)")
    assert shell.run_cell(cell).error_in_exec is None
    shell.run_cell("mj.end_run()")
    (row,) = mj.runs().to_dict("records")
    assert row["params.reg.alpha"] == 0.5 and row["metrics.reg.training_r2_score"] > 0.99
    shell.run_cell("mj.autolog(disable=True)")
    assert shell.run_cell("other = Ridge().fit(X, y)").error_in_exec is None
    assert len(mj.runs()) == 1

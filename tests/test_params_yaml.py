"""params.yaml, -p overrides and metrics files are read as DVC reads them (YAML 1.2)."""

import json
from pathlib import Path

import pytest
from dvc.utils.serialize import parse_yaml

from mlops_jupyter.core import params as params_mod
from mlops_jupyter.core.spec import ParamRef
from mlops_jupyter.core.store import RunStore

PARAMS = """\
train:
  lr: 1e-3
  decay: 5E-4
  big: 1.5e+10
  folds: 5
  octal: 012
  flag: on
  sure: true
  grid: [1e-3, 1e-2]
"""


def test_params_read_as_dvc_reads_them(project):
    Path("params.yaml").write_text(PARAMS)
    declared = params_mod.resolve(project.root, [ParamRef("params.yaml", "train")], overrides={})
    assert declared["params.yaml"] == parse_yaml(PARAMS, "params.yaml")
    train = declared["params.yaml"]["train"]
    assert train["lr"] == 0.001 and isinstance(train["lr"], float)
    assert train["decay"] == 0.0005 and train["big"] == 1.5e10 and train["grid"] == [0.001, 0.01]
    assert train["folds"] == 5 and type(train["folds"]) is int
    assert train["flag"] == "on" and train["sure"] is True


@pytest.mark.parametrize("text, expected", [("lr=1e-3", 0.001), ("n=200", 200), ("flag=on", "on"), ("grid=[1e-3, 2]", [0.001, 2])])
def test_overrides_read_like_the_file(text, expected):
    assert params_mod.parse_override(text)[1] == expected


def test_a_stage_sees_and_logs_float_params_and_exponent_metrics(shell, project):
    Path("params.yaml").write_text(PARAMS)
    cell = ("%%stage fit -p train.lr -m m.json\nimport json\nrate = params.train.lr * 2\n"
            "open('m.json', 'w').write(json.dumps({'loss': 1e-5, 'acc': 0.9}))")
    assert shell.run_cell(cell).success
    assert shell.user_ns["rate"] == 0.002
    with RunStore(project.db_path) as store:
        [summary] = store.search()
        assert summary.params == {"train.lr": 0.001}
        assert summary.metrics == {"loss": 1e-5, "acc": 0.9}
    assert json.loads(Path("m.json").read_text())["loss"] == 1e-5


SCALARS = ["1", "-3", "0", "10", "1_000", "012", "0o17", "0x1F", "0b11", "1e-3", "1E5", "1.0e5", "1.5e+10", ".5", "5.",
           "-.inf", ".NaN", "yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "", "1:30", "190:20:30",
           "2026-12-03", "2026-1-3", "text", "'1e-3'", "on_time", "no-op", "v1.0", "1.2.3", "[1e-3, on]", "{a: 012}"]


@pytest.mark.parametrize("scalar", SCALARS)
def test_every_scalar_reads_as_ruamel_reads_it(scalar):
    """The fast path (PyYAML for text YAML 1.1 and 1.2 read alike) never differs from ruamel.yaml."""
    from ruamel.yaml import YAML

    from mlops_jupyter.core import yamlio

    text = f"key: {scalar}\nlist:\n  - {scalar}\n"
    assert repr(yamlio.load_user(text)) == repr(YAML(typ="safe").load(text)), scalar  # repr: NaN equals itself

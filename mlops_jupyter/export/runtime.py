"""What exported stage scripts import: their params, and variables passed through files.

A variable another stage reads is written to ``vars/<stage>/<name>/value.<format>``
in the same typed formats the cache uses (npy, parquet, json, pickle); DVC and
Airflow see the folder as an out of the producer and a dep of the consumer.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..core import params as params_mod
from ..core import variables
from ..core.spec import ParamRef

VARS = Path("vars")


def stage_params(stage: str, refs: list[tuple[str, str]]):
    """The read-only view of the declared params (``[(file, key), ...]``), as inside the notebook."""
    declared = params_mod.resolve(Path.cwd(), [ParamRef(file, key) for file, key in refs])
    return params_mod.ParamsView(params_mod.merged(declared), stage)


def save_variable(stage: str, name: str, value: Any) -> None:
    folder = VARS / stage / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    tmp = folder / "value.tmp"
    fmt = variables.dump(value, str(tmp))
    tmp.rename(folder / f"value.{fmt}")


def load_variable(stage: str, name: str) -> Any:
    folder = VARS / stage / name
    found = sorted(folder.glob("value.*"))
    if len(found) != 1:
        raise FileNotFoundError(f"{folder} holds no saved value: run stage {stage!r} first")
    return variables.load(found[0].suffix[1:], str(found[0]))


def start_stage(stage: str) -> None:
    """Track this execution as a run of the stage in the project's store (it ends at exit)."""
    from ..kernel import tracking

    tracking.start_run(stage=stage, tags={"exported": "true"})

"""``mlops.lock``: per notebook and stage, what its last run or restore was made of (DVC's dvc.lock).

Plain YAML with sorted keys, so it diffs well and is meant to be committed::

    schema: '2'
    notebooks:
      analysis/wine.ipynb:
        train: {fingerprint: ..., code: ..., params: ..., deps: ..., outs: ..., ...}

Entries are keyed by the notebook (as the project names it) and then the stage, so two notebooks
of one folder never share an entry. Updated under a lock of ``core.locks``, so kernels and CLI runs
can share it, and rewritten only when an entry changed (a restore of a fresh stage writes nothing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import locks, yamlio
from .errors import MlopsError

SCHEMA = "2"
NO_NOTEBOOK = "(no notebook)"  # the key of stages run where the kernel cannot tell its notebook


class LockfileError(MlopsError):
    """An ``mlops.lock`` that cannot be read (not YAML, not this format)."""


def _load(path: Path) -> dict[str, dict]:
    """Every notebook's entries; an older lock (one map of stages, schema 1) has none."""
    import yaml

    if not path.exists():
        return {}
    try:
        data = yamlio.load(path.read_text()) or {}
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise LockfileError(
            f"{path} is not valid YAML{line}: fix it (a merge conflict?) or delete it; the next run rewrites it"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("notebooks", {}), dict):
        raise LockfileError(f"{path} is not an mlops.lock (no 'notebooks' map): delete it; the next run rewrites it")
    if str(data.get("schema")) != SCHEMA:
        return {}
    return {notebook: stages for notebook, stages in (data.get("notebooks") or {}).items() if isinstance(stages, dict)}


def read(path: Path, notebook: str | None) -> dict[str, Any]:
    """The stage entries of one notebook (as the project names it)."""
    return _load(path).get(notebook or NO_NOTEBOOK, {})


def update(path: Path, notebook: str | None, stage: str, entry: dict[str, Any], *, locks_dir: Path) -> None:
    """Replace the entry of ``stage`` of ``notebook``; writers take turns through ``locks_dir``."""
    with locks.exclusive(locks_dir, [f"lockfile:{path.name}"]):
        notebooks = _load(path)
        stages = notebooks.setdefault(notebook or NO_NOTEBOOK, {})
        if stages.get(stage) == entry:
            return
        stages[stage] = entry
        text = yamlio.dump({"schema": SCHEMA, "notebooks": notebooks})
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

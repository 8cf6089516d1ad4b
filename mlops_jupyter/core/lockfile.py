"""``mlops.lock``: per notebook and stage, what its last run or restore was made of (DVC's dvc.lock).

Plain YAML with sorted keys, so it diffs well and is meant to be committed::

    schema: '2'
    notebooks:
      analysis/wine.ipynb:
        train: {fingerprint: ..., code: ..., params: ..., deps: ..., outs: ..., ...}
    data:                                   # what `mlops-jupyter add` tracks
      data/raw.csv: {kind: file, hash: ..., size: ...}

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


def _load(path: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every notebook's entries, and the added data; an older lock (schema 1) has neither."""
    import yaml

    if not path.exists():
        return {}, {}
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
        return {}, {}
    notebooks = {nb: stages for nb, stages in (data.get("notebooks") or {}).items() if isinstance(stages, dict)}
    added = {p: e for p, e in (data.get("data") or {}).items() if isinstance(e, dict)}
    return notebooks, added


def read(path: Path, notebook: str | None) -> dict[str, Any]:
    """The stage entries of one notebook (as the project names it)."""
    return _load(path)[0].get(notebook or NO_NOTEBOOK, {})


def read_all(path: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """``({notebook: {stage: entry}}, {path: data entry})``: everything the lock pins."""
    return _load(path)


def update(path: Path, notebook: str | None, stage: str, entry: dict[str, Any], *, locks_dir: Path) -> None:
    """Replace the entry of ``stage`` of ``notebook``; writers take turns through ``locks_dir``."""
    with locks.exclusive(locks_dir, [f"lockfile:{path.name}"]):
        notebooks, added = _load(path)
        stages = notebooks.setdefault(notebook or NO_NOTEBOOK, {})
        if stages.get(stage) == entry:
            return
        stages[stage] = entry
        _write(path, notebooks, added)


def update_data(path: Path, name: str, entry: dict[str, Any] | None, *, locks_dir: Path) -> None:
    """Pin (or with ``entry`` None, unpin) the version of an added data file or folder ``name``."""
    with locks.exclusive(locks_dir, [f"lockfile:{path.name}"]):
        notebooks, added = _load(path)
        if added.get(name) == entry:
            return
        if entry is None:
            added.pop(name, None)
        else:
            added[name] = entry
        _write(path, notebooks, added)


def _write(path: Path, notebooks: dict, added: dict) -> None:
    document: dict[str, Any] = {"schema": SCHEMA, "notebooks": notebooks}
    if added:
        document["data"] = added
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yamlio.dump(document))
    os.replace(tmp, path)

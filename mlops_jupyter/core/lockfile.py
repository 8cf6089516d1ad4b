"""``mlops.lock``: per stage, what its last run or restore was made of (DVC's dvc.lock).

Plain YAML with sorted keys, so it diffs well and is meant to be committed.
Updated under an advisory file lock, so kernels and CLI runs can share it, and
rewritten only when an entry changed (a restore of a fresh stage writes nothing).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import yamlio

SCHEMA = "1"


@contextmanager
def _locked(guard: Path) -> Iterator[None]:
    with open(guard, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = yamlio.load(path.read_text()) or {}
    return data.get("stages") or {}


def update(path: Path, stage: str, entry: dict[str, Any], *, guard: Path) -> None:
    """Replace the entry of ``stage``; ``guard`` is the file whose lock serializes writers."""
    with _locked(guard):
        stages = read(path)
        if stages.get(stage) == entry:
            return
        stages[stage] = entry
        text = yamlio.dump({"schema": SCHEMA, "stages": stages})
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

"""``mlops.lock``: per stage, what its last run or restore was made of (DVC's dvc.lock).

Plain YAML with sorted keys, so it diffs well and is meant to be committed.
Updated under an advisory file lock, so kernels and CLI runs can share it.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

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
    import yaml

    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return data.get("stages") or {}


def update(path: Path, stage: str, entry: dict[str, Any], *, guard: Path) -> None:
    """Replace the entry of ``stage``; ``guard`` is the file whose lock serializes writers."""
    import yaml

    with _locked(guard):
        stages = read(path)
        stages[stage] = entry
        text = yaml.safe_dump({"schema": SCHEMA, "stages": stages}, sort_keys=True, default_flow_style=False)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

"""What each task of a pipeline run did, kept on the remote next to the stage results.

A task of an ``--io remote`` pipeline writes ``pipelines/<notebook>/<run>/<stage>.json`` once its
result is on the remote: the fingerprint of that result (whose entry ``stages/<fp>.json`` holds
the manifest and the record of the run that made it) and whether it was computed or restored.
Downstream tasks, the ``--when`` checks and ``mlops-jupyter pull --pipeline`` read the results of
a pipeline run through these records, never through a disk.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from ..core import transfer
from ..core.objects import CorruptObject
from ..core.transfer import Remote

VERSION = 1
PREFIX = "pipelines"


@dataclass(frozen=True)
class TaskRecord:
    notebook: str  # as the project names it
    pipeline_run: str  # Airflow's run id
    stage: str
    fingerprint: str  # of the result on the remote
    run_id: str  # the run that made the result (an earlier one, when restored)
    restored: bool
    time: float  # when the task ended (epoch seconds)


def _safe(run: str) -> str:
    return re.sub(r"[^\w.=-]", "_", run)


def key(notebook: str, pipeline_run: str, stage: str = "") -> str:
    return f"{PREFIX}/{notebook}/{_safe(pipeline_run)}/" + (f"{stage}.json" if stage else "")


def write(remote: Remote, record: TaskRecord) -> None:
    data = json.dumps({"version": VERSION, **asdict(record)}, sort_keys=True).encode()
    with remote.errors("writing a task record"):
        remote.backend.write(key(record.notebook, record.pipeline_run, record.stage), data)


def read(remote: Remote, notebook: str, pipeline_run: str, stage: str) -> TaskRecord | None:
    with remote.errors("reading a task record"):
        data = remote.backend.read(key(notebook, pipeline_run, stage))
    return None if data is None else _record(data, remote)


def _record(data: bytes, remote: Remote) -> TaskRecord:
    try:
        found = json.loads(data)
        if found.pop("version") != VERSION:
            raise ValueError
        return TaskRecord(**found)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CorruptObject(f"a task record on remote {remote.name!r} is not one this version reads") from None


def records(remote: Remote, notebook: str, pipeline_run: str | None = None) -> list[TaskRecord]:
    """The task records of a pipeline run of ``notebook`` (the latest when None), in the order they ended."""
    base = f"{PREFIX}/{notebook}/"
    with remote.errors("listing pipeline runs"):
        keys = [k for k in remote.backend.keys(base) if k.endswith(".json") and "/." not in k]
    if pipeline_run is not None:
        keys = [k for k in keys if k.startswith(key(notebook, pipeline_run))]
    found = []
    for name in keys:
        with remote.errors("reading a task record"):
            found.append(_record(remote.backend.read(name), remote))
    if pipeline_run is None and found:
        latest = max(found, key=lambda r: r.time).pipeline_run
        found = [r for r in found if r.pipeline_run == latest]
    return sorted(found, key=lambda r: r.time)


def fetch(store, cache, remote: Remote, found: list[TaskRecord], *, quiet: bool = False) -> transfer.Moved:
    """Bring the results the records name, with the records of their runs, into the local cache
    and store (upstream first, so lineage between them is kept)."""
    moved = transfer.Moved()
    for record in found:
        step = transfer.fetch_entries(store, cache, remote, [record.fingerprint], quiet=quiet)
        moved.objects, moved.bytes, moved.entries = moved.objects + step.objects, moved.bytes + step.bytes, moved.entries + step.entries
    return moved

"""The check of a stage's ``--when``, run as the task before it:

    python -m mlops_jupyter.export.gate stages/deploy.py

It finds the run of the stage the condition reads, in this pipeline run (``$MLOPS_PIPELINE_RUN``):
through the task records on the remote (``MLOPS_IO=remote``; the run's record travels with its
result) or in the project's store (local). It exits 0 when that run matches the expression — the
runs filter language, evaluated by the store as ``runs ls -f`` does — and ``SKIP`` (99) when it
does not or there is no such run, so that Airflow skips the task and the stage after it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ..core import records, transfer
from ..core.errors import MlopsError
from ..core.project import Project, find_root
from ..core.store import RunStore
from . import pipeline_runs
from .operators import SKIP
from .runtime import PIPELINE_RUN, io_mode, read_cell


def matches(store: RunStore, run_id: str, expr: str) -> bool:
    return store.count(filter=f"run_id = '{run_id}' and ({expr})") == 1


def _latest(store: RunStore, stage: str, pipeline_run: str | None) -> str | None:
    condition = "tags.exported = 'true'"
    if pipeline_run:
        condition += " and tags.pipeline_run = '" + pipeline_run.replace("'", "''") + "'"
    found = store.search(stage=stage, status="finished", filter=condition, limit=1)
    return found[0].run.id if found else None


def check(script: str) -> tuple[bool, str]:
    """(whether the stage of ``script`` runs, why)."""
    cell = read_cell(script)
    source, expr = cell.wiring["when"]
    pipeline_run = os.environ.get(PIPELINE_RUN) or None
    project = Project(find_root(cell.code_dir, use_env=io_mode(cell.spec.name) == "local"))
    notebook = project.name_of(cell.notebook)
    with tempfile.TemporaryDirectory(prefix="mlops-when-") as scratch:
        if io_mode(cell.spec.name) == "remote":
            if not pipeline_run:
                raise SystemExit(f"stage {cell.spec.name!r}: {PIPELINE_RUN} is not set (the DAG sets it to Airflow's run id)")
            remote = transfer.open_remote(project.config().default_remote())
            record = pipeline_runs.read(remote, notebook, pipeline_run, source)
            entry = remote.read_entry(record.fingerprint) if record else None
            store = RunStore(Path(scratch) / "runs.db")
            run_id = entry["run"]["run"]["id"] if entry else None
            if entry:
                records.import_record(store, entry["run"])
        else:
            store = RunStore(project.db_path)
            run_id = _latest(store, source, pipeline_run)
        with store:
            if run_id is None:
                return False, f"stage {source!r} has no finished run in pipeline run {pipeline_run!r}"
            if matches(store, run_id, expr):
                return True, f"run {run_id[:8]} of {source!r} matches {expr}"
            return False, f"run {run_id[:8]} of {source!r} does not match {expr}"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mlops_jupyter.export.gate stages/STAGE.py", file=sys.stderr)
        return 2
    try:
        runs, why = check(argv[0])
    except MlopsError as e:
        print(f"mlops: --when of {Path(argv[0]).stem!r}: {e}", file=sys.stderr)
        return 1
    stage = Path(argv[0]).stem
    print(f"mlops: {stage!r} runs: {why}" if runs else f"mlops: {stage!r} is skipped: {why}", flush=True)
    return 0 if runs else SKIP


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

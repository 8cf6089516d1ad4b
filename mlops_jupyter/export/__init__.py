"""Export of a notebook's pipeline to DVC and Airflow (built on core and nbformat).

The same notebook always gives byte-identical files, and exporting again only
rewrites what changed (DVC then sees nothing new).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.graph import load
from ..core.project import find_project
from .airflow import airflow_dag, dag_id
from .dvc import dvc_yaml
from .scripts import ExportError, plan

TARGETS = ("dvc", "airflow")
_MARK = "written by mlops-jupyter"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    written: tuple[str, ...]  # files whose content changed
    unchanged: tuple[str, ...]
    notes: tuple[str, ...]


def _write(folder: Path, relative: str, text: str, written: list, unchanged: list) -> None:
    path = folder / relative
    if path.exists() and path.read_text() == text:
        unchanged.append(relative)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    written.append(relative)


def export_notebook(
    notebook: str | Path,
    to: str,
    folder: str | Path | None = None,
    *,
    python: str | None = None,
    retries: int = 0,
    schedule: str | None = None,
) -> ExportResult:
    """Write the stage scripts and ``dvc.yaml`` (to="dvc") or an Airflow DAG (to="airflow")."""
    if to not in TARGETS:
        raise ExportError(f"cannot export to {to!r}; choose one of: {', '.join(TARGETS)}")
    notebook = Path(notebook).resolve()
    folder = Path(folder).resolve() if folder else notebook.parent
    project = find_project(notebook.parent)
    pipeline = load(notebook)
    if not pipeline.order:
        raise ExportError(f"{notebook.name} has no stages to export: add %%stage NAME to its cells")
    export = plan(pipeline, notebook.name)
    python = python or sys.executable
    written: list[str] = []
    unchanged: list[str] = []
    _write(folder, "stages/common.py", export.common, written, unchanged)
    for name, text in export.scripts.items():
        _write(folder, f"stages/{name}.py", text, written, unchanged)
    for stale in sorted((folder / "stages").glob("*.py")):
        if stale.stem not in export.scripts and stale.stem != "common" and _MARK in stale.read_text()[:300]:
            stale.unlink()  # a stage that no longer exists
    params_files = sorted({ref.file for cell in pipeline.stages for ref in cell.spec.params})
    for name in params_files:
        source = project.root / name
        if source.exists() and source.resolve() != (folder / name).resolve():
            _write(folder, name, source.read_text(), written, unchanged)
    if to == "dvc":
        _write(folder, "dvc.yaml", dvc_yaml(export, python), written, unchanged)
    else:
        text = airflow_dag(export, python, retries=retries, schedule=schedule)
        _write(folder, f"{dag_id(notebook.name)}_dag.py", text, written, unchanged)
    return ExportResult(folder, tuple(written), tuple(unchanged), tuple(export.notes))


__all__ = ["ExportError", "ExportResult", "TARGETS", "export_notebook"]

"""Export of a notebook's pipeline to DVC and Airflow (built on core and nbformat).

The same notebook always gives byte-identical files, and exporting again only
rewrites what changed (DVC then sees nothing new). The export runs wherever it is
written: its stages work in the notebook's folder (see ``layout``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ..core.graph import build, cell_source, read_notebook
from ..core.project import find_project, is_within
from ..core.spec import split_cell
from . import airflow, dvc
from .definitions import ExportError
from .layout import STAGES, Layout
from .scripts import plan
from .settings import AirflowOptions, options

TARGETS = ("dvc", "airflow")
_MARK = "written by mlops-jupyter"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    written: tuple[str, ...]  # files whose content changed
    unchanged: tuple[str, ...]
    notes: tuple[str, ...]
    command: str  # the shell command that runs the exported pipeline


class _Writer:
    """Writes the files of an export, skipping those already up to date."""

    def __init__(self, folder: Path):
        self.folder, self.written, self.unchanged = folder, [], []

    def __call__(self, relative: str, text: str) -> None:
        path = self.folder / relative
        try:
            if path.exists() and path.read_text() == text:
                self.unchanged.append(relative)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as e:
            raise ExportError(f"cannot write {path}: {e.strerror}; choose another folder with -o") from None
        self.written.append(relative)

    def remove_stale(self, keep: set[str]) -> None:
        """Scripts of stages that no longer exist (only files the export wrote)."""
        for stale in sorted((self.folder / STAGES).glob("*")):
            if stale.suffix in (".py", ".json") and stale.stem not in keep and _MARK in stale.read_text()[:300].lower():
                stale.unlink()


def _check_paths(layout: Layout, pipeline) -> None:
    """No path of a stage may lie in a folder the export writes."""
    for cell in pipeline.stages:
        for path in (*cell.spec.deps, *cell.spec.all_outs):
            absolute = (layout.workdir / path).resolve()
            for owned in layout.owned():
                if is_within(absolute, owned) or is_within(owned, absolute):
                    raise ExportError(f"{cell.label}: {path} overlaps {owned}, which the export writes: "
                                      "choose another -o, or another path")


def export_notebook(
    notebook: str | Path,
    to: str,
    folder: str | Path | None = None,
    *,
    python: str | None = None,
    retries: int = 0,
    schedule: str | None = None,
    **airflow_flags,
) -> ExportResult:
    """Write the stage scripts and ``dvc.yaml`` (to="dvc") or an Airflow DAG (to="airflow");
    ``airflow_flags`` are the other options of ``settings.options`` (operator, io, image, …)."""
    if to not in TARGETS:
        raise ExportError(f"cannot export to {to!r}; choose one of: {', '.join(TARGETS)}")
    notebook = Path(notebook).resolve()
    folder = Path(folder).resolve() if folder else notebook.parent
    layout = Layout(notebook, folder, find_project(notebook.parent))
    settings = None
    if to == "airflow":
        settings = options(layout.project.config(), retries=retries, schedule=schedule, **airflow_flags)
    cells = (content := read_notebook(notebook))["cells"]
    pipeline = build(content)
    if not pipeline.order:
        raise ExportError(f"{notebook.name} has no stages to export: add %%stage NAME to its cells")
    if to == "dvc":
        dvc.check(layout)
    _check_paths(layout, pipeline)
    lines = {cell.spec.name: split_cell(cell_source(cells[cell.index]))[0] for cell in pipeline.stages}
    export = plan(pipeline, layout, lines)
    python = python or sys.executable
    write = _Writer(folder)
    write(f"{STAGES}/common.py", export.common)
    for name, text in export.scripts.items():
        write(f"{STAGES}/{name}.py", text)
        write(f"{STAGES}/{name}.json", export.cells[name])
    write.remove_stale({*export.scripts, "common"})
    notes = list(export.notes)
    if to == "dvc":
        write("dvc.yaml", dvc.dvc_yaml(export, python, notes))
        command = dvc.command(layout)
    else:
        dag = airflow.dag_id(notebook.name)
        write(f"{dag}_dag.py", airflow.airflow_dag(export, python, settings))
        ignore = folder / ".airflowignore"
        if not ignore.exists() or _MARK in ignore.read_text().lower():
            write(".airflowignore", airflow.AIRFLOWIGNORE)
        elif f"{STAGES}/" not in ignore.read_text().splitlines():
            notes.append(f"add the line {STAGES}/ to {ignore}, or Airflow parses the stage scripts as DAG files")
        command = airflow.command(folder, dag)
        if settings.in_image:
            notes.append(f"the tasks run {settings.image} with the project in {airflow.PROJECT_DIR} (see the DAG's "
                         "configuration): build it with mlops-jupyter, the project's requirements and the project")
        unknown = sorted(set(settings.resources) - set(pipeline.order))
        if unknown:
            notes.append(f"[export.resources] names {', '.join(unknown)}, which {notebook.name} has no stage of")
    return ExportResult(folder, tuple(write.written), tuple(write.unchanged), tuple(notes), command)


__all__ = ["AirflowOptions", "ExportError", "ExportResult", "TARGETS", "export_notebook"]

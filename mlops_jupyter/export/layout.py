"""Where an export's files are, for the exporter and for the stage scripts alike.

An export folder holds ``stages/`` (the scripts, written by the export), ``vars/``
(variables passed between stages) and ``logged/`` (each stage's logged metrics, for
DVC), all written by runs. The stages run in the notebook's folder, as its cells
did: the paths of ``%%stage`` flags are relative to it and params files to the
project root, wherever the export folder is. A script finds the notebook's folder
relative to itself; ``$MLOPS_NOTEBOOK_DIR`` overrides that when the two are moved
apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core.project import Project

STAGES, VARS, LOGGED = "stages", "vars", "logged"
NOTEBOOK_DIR = "MLOPS_NOTEBOOK_DIR"


def relative(path: Path, start: Path) -> str:
    """``path`` from ``start``, posix, ``..`` allowed (both absolute)."""
    return Path(os.path.relpath(path, start)).as_posix()


@dataclass(frozen=True)
class Layout:
    notebook: Path  # absolute
    folder: Path  # the export folder, absolute
    project: Project

    @property
    def workdir(self) -> Path:
        """The notebook's folder: where the stages run."""
        return self.notebook.parent

    def path(self, name: str) -> str:
        """A file of the export (``stages/x.py``) as the stages name it: from the notebook's folder."""
        return relative(self.folder / name, self.workdir)

    def params_file(self, name: str) -> str:
        """A params file (project-relative, as ``-p FILE:`` names it) from the notebook's folder."""
        return relative(self.project.root / name, self.workdir)

    @property
    def notebook_from_folder(self) -> str:
        """The notebook as a script finds it: from the export folder."""
        return relative(self.notebook, self.folder)

    def owned(self) -> tuple[Path, ...]:
        """The folders the export and its runs write."""
        return tuple(self.folder / name for name in (STAGES, VARS, LOGGED))

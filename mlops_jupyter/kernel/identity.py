"""Which notebook and which cell a stage runs in (DESIGN §5 "Identity").

The notebook comes from the kernel's session (``__session__`` /
``$JPY_SESSION_NAME``, or ``$MLOPS_JUPYTER_NOTEBOOK`` set by ``mlops-jupyter
run``), never from ``sys.argv`` (that would be ``ipykernel_launcher.py``). The
cell id comes from the execute request's metadata (JupyterLab sends
``cellId``), else from the saved notebook's cell with the same source.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core import runenv
from ..core.graph import GraphError, cell_source, read_notebook
from ..core.project import Project


def notebook_file(shell) -> Path | None:
    """The notebook this kernel runs, if it can tell."""
    name = os.environ.get(runenv.NOTEBOOK) or shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if not name or not str(name).endswith(".ipynb"):
        return None
    path = Path(name)
    return path if path.is_absolute() else (Path.cwd() / path)


def notebook_path(shell, project: Project) -> str | None:
    """The notebook as the project names it (relative to its root)."""
    path = notebook_file(shell)
    return None if path is None else project.name_of(path)


def _request_metadata(shell) -> dict:
    kernel = getattr(shell, "kernel", None)
    parent = None
    if kernel is not None and hasattr(kernel, "get_parent"):
        parent = kernel.get_parent()
    parent = parent or getattr(shell, "parent_header", None) or {}
    return parent.get("metadata") or {}


def cell_id(shell, body: str) -> str | None:
    found = _request_metadata(shell).get("cellId")
    if found:
        return found
    path = notebook_file(shell)
    if path is None or not path.exists():
        return None
    try:
        cells = read_notebook(path)["cells"]
    except GraphError:
        return None
    for cell in cells:
        source = cell_source(cell)
        if cell.get("cell_type") == "code" and "%%stage" in source and source.rstrip().endswith(body.rstrip()):
            return cell.get("id")
    return None

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


_MAX_SCANNED = 50  # notebooks of the kernel's folder read to find the one holding a cell


def notebook_file(shell, body: str | None = None) -> Path | None:
    """The notebook this kernel runs, if it can tell: from the session, else (``jupyter nbconvert
    --execute`` names none) the one notebook of the kernel's folder holding the stage cell ``body``."""
    name = os.environ.get(runenv.NOTEBOOK) or shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if name and str(name).endswith(".ipynb"):
        path = Path(name)
        return path if path.is_absolute() else (Path.cwd() / path)
    return _holding(Path.cwd(), body) if body else None


_found: dict[Path, Path] = {}  # folder -> the notebook found to hold this kernel's stages


def _holds(path: Path, body: str) -> bool:
    try:
        cells = read_notebook(path)["cells"]
    except (GraphError, KeyError, TypeError):
        return False
    wanted = body.rstrip()
    return any(
        isinstance(cell, dict) and cell.get("cell_type") == "code" and "%%stage" in cell_source(cell)
        and cell_source(cell).rstrip().endswith(wanted)
        for cell in cells
    )


def _holding(folder: Path, body: str) -> Path | None:
    known = _found.get(folder)
    if known is not None and known.exists():  # a kernel runs one notebook
        return known
    candidates = sorted(folder.glob("*.ipynb"))[:_MAX_SCANNED]
    matches = [path for path in candidates if _holds(path, body)]
    if len(matches) != 1:
        return None
    _found[folder] = matches[0]
    return matches[0]


def _request_metadata(shell) -> dict:
    kernel = getattr(shell, "kernel", None)
    parent = None
    if kernel is not None and hasattr(kernel, "get_parent"):
        parent = kernel.get_parent()
    parent = parent or getattr(shell, "parent_header", None) or {}
    return parent.get("metadata") or {}


def cell_id(shell, body: str, notebook: Path | None = None) -> str | None:
    """The id of the cell running ``body``; ``notebook``: the kernel's notebook, if known already."""
    found = _request_metadata(shell).get("cellId")
    if found:
        return found
    path = notebook or notebook_file(shell, body)
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

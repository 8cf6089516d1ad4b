"""Which notebook and which cell a stage runs in (DESIGN §5 "Identity").

The notebook comes from the kernel's session (``__session__`` /
``$JPY_SESSION_NAME``, or ``$MLOPS_JUPYTER_NOTEBOOK`` set by ``mlops-jupyter
run``), never from ``sys.argv`` (that would be ``ipykernel_launcher.py``). The
cell id comes from the execute request's metadata (JupyterLab sends
``cellId``), else from the saved notebook's cell with the same source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..core import runenv



def notebook_file(shell) -> Path | None:
    """The notebook this kernel runs, if it can tell."""
    name = os.environ.get(runenv.NOTEBOOK) or shell.user_ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if not name or not str(name).endswith(".ipynb"):
        return None
    path = Path(name)
    return path if path.is_absolute() else (Path.cwd() / path)


def notebook_path(shell, root: Path) -> str | None:
    """The notebook's path relative to the project root (absolute if outside it)."""
    path = notebook_file(shell)
    if path is None:
        return None
    path = path.resolve()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _request_metadata(shell) -> dict:
    kernel = getattr(shell, "kernel", None)
    parent = None
    if kernel is not None and hasattr(kernel, "get_parent"):
        parent = kernel.get_parent()
    parent = parent or getattr(shell, "parent_header", None) or {}
    return parent.get("metadata") or {}


def cell_id(shell, root: Path, body: str) -> str | None:
    found = _request_metadata(shell).get("cellId")
    if found:
        return found
    path = notebook_file(shell)
    if path is None or not path.exists():
        return None
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])  # nbformat's import is slow
    except (OSError, ValueError):
        return None
    for cell in cells:
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "code" and "%%stage" in source and source.rstrip().endswith(body.rstrip()):
            return cell.get("id")
    return None

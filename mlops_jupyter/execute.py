"""``mlops-jupyter run``: a notebook executed headless in a real kernel, the cache working.

The kernel learns what the CLI knows through its environment: the param
overrides, the notebook's path (for run identity) and a JSON-lines file where
each stage reports ran / restored / failed, read back for the summary.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .core import runenv
from .core.errors import MlopsError
from .core.spec import SpecError, stage_of_cell


class NotebookFailed(MlopsError):
    """A cell of the executed notebook raised."""


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    status: str  # ran | restored | failed
    seconds: float
    saved: float = 0.0
    run_id: str | None = None


@dataclass(frozen=True)
class NotebookRun:
    outcomes: tuple[StageOutcome, ...]
    seconds: float
    error: str | None = None


def _stage_name(source: str) -> str | None:
    """For the progress bar: the stage a cell is, if it is a well-formed one."""
    try:
        spec = stage_of_cell(source)
    except SpecError:
        return None
    return spec.name if spec else None


def run_notebook(
    path: Path,
    *,
    overrides: dict | None = None,
    output: Path | None = None,
    progress: bool = True,
    timeout: int | None = None,
    stage: str | None = None,
) -> NotebookRun:
    """Execute the notebook; with ``stage``, only what that stage needs (see ``_cells_for``)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm.auto import tqdm

    path = path.resolve()
    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as e:
        raise MlopsError(f"cannot read notebook {path}: {e}") from None
    full, kept = notebook, None
    if stage is not None:
        notebook, kept = _cells_for(notebook, stage)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    events = Path(tempfile.mkstemp(prefix="mlops-events-", suffix=".jsonl")[1])
    env = {
        **os.environ,
        runenv.PARAMS: json.dumps(overrides or {}),
        runenv.NOTEBOOK: str(path),
        runenv.EVENTS: str(events),
    }
    bar = tqdm(total=len(code_cells), unit="cell", disable=not progress, leave=False)

    def on_start(cell, cell_index, **_):
        bar.set_description(_stage_name(cell.source) or f"cell {cell_index + 1}")

    def on_executed(**_):
        bar.update(1)

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=notebook.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_start,
        on_cell_executed=on_executed,
    )
    started = time.perf_counter()
    error = None
    # The kernel's own log (start-up notices) would garble the progress bar: keep it aside,
    # and show its end only if the kernel itself failed.
    with tempfile.TemporaryFile("w+") as kernel_log:
        try:
            client.execute(env=env, stderr=kernel_log)
        except CellExecutionError as e:
            error = _first_line_of(e)
        except Exception as e:  # the kernel died or could not start
            kernel_log.seek(0)
            tail = "".join(kernel_log.readlines()[-5:]).strip()
            error = f"{type(e).__name__}: {e}" + (f"\nkernel log:\n{tail}" if tail else "")
        finally:
            bar.close()
            if kept is not None:  # outputs go back to the cells they came from
                for index, copy in zip(kept, notebook.cells):
                    full.cells[index].outputs = copy.outputs
                    full.cells[index].execution_count = copy.execution_count
            nbformat.write(full, output or path)
            lines = events.read_text().splitlines()
            events.unlink(missing_ok=True)
    outcomes = tuple(
        StageOutcome(e["stage"], e["status"], e["seconds"], e.get("saved", 0.0), e.get("run_id"))
        for e in map(json.loads, lines)
    )
    return NotebookRun(outcomes, time.perf_counter() - started, error)


def _cells_for(notebook, stage: str):
    """A copy holding the stage, the stages it depends on, and the plain cells above it,
    with the positions in ``notebook`` of the cells kept.

    Upstream stages that are fresh are restored from the cache (which brings their variables
    back); stale ones run. Other stages, and plain cells below the target, are left out.
    """
    import copy

    from .core.graph import build

    pipeline = build(notebook)
    target = pipeline.stage(stage)
    wanted = {stage, *pipeline.ancestors(stage)}
    kept = [
        cell.index for cell in pipeline.cells
        if (cell.spec and cell.spec.name in wanted) or (not cell.spec and cell.index < target.index)
    ]
    subset = copy.deepcopy(notebook)
    subset.cells = [subset.cells[index] for index in kept]
    return subset, kept


def _first_line_of(error: Exception) -> str:
    """The exception line of a cell error (nbclient's message holds the whole cell)."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    for line in reversed(lines):
        if ":" in line and not line.startswith(" "):
            return line.strip()
    return lines[-1] if lines else "a cell failed"

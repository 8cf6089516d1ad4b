"""The pipeline of a notebook: its ``%%stage`` cells and the edges between them.

Edges come from files (an out of one stage is a dep of another, as DVC infers
them), from variables (a stage reads a name whose latest writer above it is
another stage; a name last written by a plain cell is no edge) and from
``--after``. Built from the notebook file alone: nothing is executed.
"""

from __future__ import annotations

import graphlib
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path

from .cellcode import Escape, to_python
from .errors import MlopsError
from .names import analyze
from .spec import SpecError, StageSpec, parse_stage_line, split_cell


class GraphError(MlopsError, ValueError):
    """A notebook whose stages do not form a pipeline (duplicate names, a cycle, bad flags)."""


@dataclass(frozen=True)
class CodeCell:
    index: int  # position among all cells, from 0
    cell_id: str | None
    source: str  # for a stage: the body, without the %%stage line
    reads: frozenset[str]
    writes: frozenset[str]
    escapes: tuple[Escape, ...]
    spec: StageSpec | None = None  # None for a plain code cell
    notes: tuple[str, ...] = ()  # what the analysis could not see

    @property
    def label(self) -> str:
        where = f"cell {self.index + 1}"
        return f"{where} (stage {self.spec.name!r})" if self.spec else where


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str
    kind: str  # "variable", "file" or "after"
    label: str  # the variable or the path that flows; the upstream's name for "after"


@dataclass(frozen=True)
class Pipeline:
    cells: tuple[CodeCell, ...]  # every code cell, in notebook order
    edges: tuple[Edge, ...]
    warnings: tuple[str, ...]
    order: tuple[str, ...]  # stage names, upstream first (notebook order among equals)

    @property
    def stages(self) -> tuple[CodeCell, ...]:
        return tuple(c for c in self.cells if c.spec)

    def stage(self, name: str) -> CodeCell:
        for cell in self.cells:
            if cell.spec and cell.spec.name == name:
                return cell
        known = ", ".join(c.spec.name for c in self.stages) or "none"
        raise GraphError(f"no stage {name!r} in the notebook (stages: {known})")

    def upstream(self, name: str) -> list[str]:
        """Direct upstream stages of ``name``, in pipeline order."""
        ups = {e.upstream for e in self.edges if e.downstream == name}
        return [n for n in self.order if n in ups]

    def ancestors(self, name: str) -> list[str]:
        """Every stage ``name`` depends on, directly or not, in pipeline order."""
        found, todo = set(), [name]
        while todo:
            for up in self.upstream(todo.pop()):
                if up not in found:
                    found.add(up)
                    todo.append(up)
        return [n for n in self.order if n in found]


def _normal(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def _overlaps(out: str, dep: str) -> bool:
    """An out feeds a dep when they are the same path or one holds the other."""
    out, dep = _normal(out), _normal(dep)
    return out == dep or dep.startswith(out + "/") or out.startswith(dep + "/")


def cell_source(cell) -> str:
    """A cell's source as one string (raw .ipynb JSON may keep it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def check_notebook(notebook) -> dict:
    """``notebook`` if it has the shape the pipeline reads, else a ``GraphError`` naming the cell."""
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise GraphError("not a notebook: nbformat 4 JSON is an object with a 'cells' list")
    for number, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise GraphError(f"cell {number} is not a notebook cell (an object with a cell_type and a source)")
        if cell["cell_type"] != "code":
            continue
        source = cell.get("source", "")
        if not isinstance(source, str) and not (isinstance(source, list) and all(isinstance(s, str) for s in source)):
            raise GraphError(f"cell {number}: its source must be a string or a list of strings")
        if not isinstance(cell.get("id", ""), (str, type(None))):
            raise GraphError(f"cell {number}: its id must be a string")
    return notebook


def read_notebook(path: str | Path) -> dict:
    """A notebook file as its JSON (nbformat's import costs more than the rest of a status)."""
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise GraphError(f"cannot read notebook {path}: {e}") from None
    if isinstance(notebook, dict) and "cells" not in notebook:  # nbformat 3 and older: let nbformat convert it
        import nbformat

        try:
            notebook = nbformat.read(str(path), as_version=4)
        except Exception as e:  # its converters raise what they meet: ValidationError, AttributeError...
            raise GraphError(f"cannot read notebook {path}: {e}") from None
    return check_notebook(notebook)


def _code_cell(index: int, cell) -> CodeCell:
    source = cell_source(cell)
    spec = None
    parts = split_cell(source)
    if parts is not None:
        line, source = parts
        try:
            spec = parse_stage_line(line)
        except SpecError as e:
            raise GraphError(f"cell {index + 1}: {e}") from None
    python = to_python(source)
    try:
        names = analyze(python.code)
        reads, writes = names.reads, names.writes
        notes = []
        if names.star_import:
            notes.append("star import")
        if names.global_names:
            notes.append("global " + ", ".join(sorted(names.global_names)))
    except SyntaxError as e:
        reads, writes, notes = frozenset(), frozenset(), [f"syntax error on line {e.lineno}"]
    except (RecursionError, MemoryError):  # what CPython's parser and ast visitors raise on deep nesting
        reads, writes, notes = frozenset(), frozenset(), ["code too deeply nested"]
    return CodeCell(index, cell.get("id"), source, reads, writes, python.escapes, spec, tuple(notes))


def build(notebook) -> Pipeline:
    """The pipeline of an nbformat notebook (raises ``GraphError``)."""
    check_notebook(notebook)
    cells = tuple(_code_cell(i, c) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
    stages = [c for c in cells if c.spec]
    warnings = []
    for cell in cells:
        for note in cell.notes:
            if note == "star import":
                warnings.append(f"{cell.label}: `from … import *` hides which names it defines; edges through them are missed")
            elif note.startswith("global"):
                warnings.append(f"{cell.label}: `{note}` in a function: those writes are not seen, edges may be missed")
            else:
                warnings.append(f"{cell.label}: {note}; its names are not analyzed")
    seen: dict[str, CodeCell] = {}
    for stage in stages:
        if stage.spec.name in seen:
            raise GraphError(
                f"stage name {stage.spec.name!r} is used by {seen[stage.spec.name].label.split(' (')[0]} "
                f"and cell {stage.index + 1}: stage names must be unique"
            )
        seen[stage.spec.name] = stage

    edges: list[Edge] = []
    for position, cell in enumerate(cells):
        if not cell.spec:
            continue
        for name in sorted(cell.reads):
            writer = next((c for c in reversed(cells[:position]) if name in c.writes), None)
            if writer is not None and writer.spec is not None:
                edges.append(Edge(writer.spec.name, cell.spec.name, "variable", name))
        for other in stages:
            if other is cell:
                continue
            for out in other.spec.all_outs:
                for dep in cell.spec.deps:
                    if _overlaps(out, dep):
                        edges.append(Edge(other.spec.name, cell.spec.name, "file", dep))
        for after in cell.spec.after:
            if after not in seen:
                raise GraphError(f"{cell.label} runs --after {after!r}, which is not a stage of this notebook")
            edges.append(Edge(after, cell.spec.name, "after", after))
        when = cell.spec.when.stage if cell.spec.when else None
        if when is not None:  # the condition reads that stage's run: it comes first
            if when not in seen:
                raise GraphError(f"{cell.label} runs --when {str(cell.spec.when)!r}, but {when!r} is not a stage of this notebook")
            edges.append(Edge(when, cell.spec.name, "after", when))

    sorter = graphlib.TopologicalSorter({s.spec.name: set() for s in stages})
    for edge in edges:
        sorter.add(edge.downstream, edge.upstream)
    try:
        sorter.prepare()
    except graphlib.CycleError as e:
        cycle = " → ".join(e.args[1])
        raise GraphError(f"the stages form a cycle: {cycle}; break it by changing a dep, an out or --after") from None
    position = {s.spec.name: i for i, s in enumerate(stages)}
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.get)
        order.extend(ready)
        sorter.done(*ready)
    return Pipeline(cells, tuple(dict.fromkeys(edges)), tuple(warnings), tuple(order))


def load(path: str | Path) -> Pipeline:
    """The pipeline of a notebook file."""
    return build(read_notebook(path))

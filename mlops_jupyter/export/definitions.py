"""What of the plain cells each stage reads, and the one shared module that holds it.

A stage sees what the notebook, run top to bottom, gives it: for each name it
reads, the latest binding above it (the graph's rule). A binding by a stage is a
variable passed through a file; a binding by a plain cell must be an import, a
function, a class or a constant, and brings what it reads in turn (a function
reading a constant), resolved as of the stage. Definitions no stage reaches stay
in the notebook. ``stages/common.py`` holds every definition some stage reaches,
so a name must mean the same for every stage that reaches it: when it does not,
the export is refused, naming the cells.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

from .._version import __version__
from ..core.cellcode import to_python
from ..core.errors import MlopsError
from ..core.graph import CodeCell, Pipeline
from ..core.names import analyze
from ..core.statics import statement_bindings

_BUILTINS = frozenset(dir(builtins))
PROVIDED = frozenset({"params"})  # the script defines it, as the stage runner does
IPYTHON = {"display": "from IPython.display import display"}  # the kernel's builtins a script imports


class ExportError(MlopsError):
    """A notebook that cannot be exported as it is."""


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a plain cell."""

    cell: CodeCell
    order: int  # among the cell's statements
    text: str  # as written, comments and formatting kept
    binds: frozenset[str]  # "*" for a star import
    reads: frozenset[str]
    definition: bool  # an import, function, class or constant: what may reach a stage
    key: str  # the statement's AST: equal definitions in two cells are one

    @property
    def where(self) -> str:
        return f"cell {self.cell.index + 1}"


@dataclass(frozen=True)
class Shared:
    module: str  # the text of stages/common.py
    imports: dict[str, list[str]]  # stage -> the names its script imports from it
    notes: list[str]


def _is_definition(node: ast.stmt) -> bool:
    """What status reads statically (``core.statics``) is what an export may take into common.py."""
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return False
    bound = statement_bindings(node)
    return bool(bound) and all(binding.digest is not None for binding in bound.values())


def _statements(cell: CodeCell) -> list[Statement]:
    code = to_python(cell.source).code
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ExportError(f"cell {cell.index + 1}: syntax error on line {e.lineno}: fix it or delete the cell") from None
    except RecursionError:
        raise ExportError(f"cell {cell.index + 1}: its code is nested too deeply to export: simplify it") from None
    lines = code.splitlines()
    found = []
    for order, node in enumerate(tree.body):
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        names = analyze(ast.unparse(node))
        star = isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
        found.append(Statement(
            cell, order, "\n".join(lines[first - 1:node.end_lineno]), names.writes | ({"*"} if star else set()),
            names.reads, _is_definition(node), ast.dump(node),
        ))
    return found


class _Resolver:
    """The binding of a name as of a position in the notebook."""

    def __init__(self, pipeline: Pipeline):
        self.cells = pipeline.cells
        self.statements = {c.index: _statements(c) for c in self.cells if not c.spec}

    def binding(self, name: str, position: int) -> CodeCell | Statement | None:
        """The stage, or the statement of a plain cell, that last bound ``name`` above ``position``."""
        for cell in reversed(self.cells[:position]):
            if name in cell.writes:
                if cell.spec:
                    return cell
                found = next((s for s in reversed(self.statements[cell.index]) if name in s.binds), None)
                if found is not None:
                    return found
        for cell in reversed(self.cells[:position]):  # what a star import may have brought
            for statement in reversed(self.statements.get(cell.index, [])):
                if "*" in statement.binds:
                    return statement
        return None


def _refuse_direct(stage: CodeCell, name: str, found) -> ExportError:
    where = f" (cell {found.cell.index + 1} computes it)" if isinstance(found, Statement) else ""
    return ExportError(
        f"{stage.label} reads {name}, which no stage above it and no import, definition or constant of a plain "
        f"cell above it provides{where}: make a stage produce it, or define it in a plain cell above the stage"
    )


def _refuse_indirect(stage: CodeCell, via: Statement, name: str, found) -> ExportError:
    what = (f"a variable of stage {found.spec.name!r}" if isinstance(found, CodeCell) else
            "which the stage sets" if found is None else f"which cell {found.cell.index + 1} computes")
    return ExportError(
        f"{stage.label} uses {', '.join(sorted(via.binds))} of {via.where}, which reads {name}, {what}; "
        "the exported definition cannot see it: pass it as an argument"
    )


def _reached(resolver: _Resolver, stage: CodeCell, position: int, loaded: set[str]) -> tuple[dict, list[str]]:
    """({name: Statement} the stage reaches, the names it reads directly from them)."""
    chosen: dict[str, Statement] = {}
    direct = []
    todo: list[tuple[str, Statement | None]] = [(n, None) for n in sorted(stage.reads - loaded - PROVIDED)]
    while todo:
        name, via = todo.pop(0)  # via: the definition that reads it, None when the stage does
        if name in chosen:
            continue
        found = resolver.binding(name, position)
        if via is None:
            if found is None and name not in _BUILTINS and name not in IPYTHON:
                raise _refuse_direct(stage, name, None)
            if isinstance(found, Statement) and not found.definition:
                raise _refuse_direct(stage, name, found)
            if not isinstance(found, Statement):
                continue  # a builtin, or a variable loaded from its stage's file
            direct.append(name)
        else:
            if name in stage.writes:
                raise _refuse_indirect(stage, via, name, None)
            if isinstance(found, CodeCell) or (found is not None and not found.definition):
                raise _refuse_indirect(stage, via, name, found)
            if found is None:
                continue  # a builtin, or unbound here: a NameError if it runs, as in the notebook
        chosen[name] = found
        todo += [(n, found) for n in sorted(found.reads - found.binds)]
    return chosen, direct


def shared(pipeline: Pipeline, notebook: str, loads: dict[str, list[tuple[str, str]]]) -> Shared:
    """``stages/common.py`` and what each stage imports from it (raises ``ExportError``)."""
    resolver = _Resolver(pipeline)
    position = {cell.index: i for i, cell in enumerate(pipeline.cells)}
    reached: dict[str, dict[str, Statement]] = {}
    imports: dict[str, list[str]] = {}
    for name in pipeline.order:
        stage = pipeline.stage(name)
        loaded = {variable for _, variable in loads[name]}
        reached[name], imports[name] = _reached(resolver, stage, position[stage.index], loaded)
    included: dict[str, Statement] = {}  # by key: the first of equal definitions
    for chosen in reached.values():
        for statement in chosen.values():
            known = included.get(statement.key)
            if known is None or (statement.cell.index, statement.order) < (known.cell.index, known.order):
                included[statement.key] = statement
    ordered = sorted(included.values(), key=lambda s: (s.cell.index, s.order))
    final = {name: s for s in ordered for name in s.binds}  # what each name is in the shared module
    for stage, chosen in reached.items():
        for name, statement in sorted(chosen.items()):
            there = final.get(name, final.get("*"))
            if there.key != statement.key:
                other = next(s for s, c in reached.items() if any(v.key == there.key for v in c.values()))
                raise ExportError(
                    f"{name} is defined differently in {statement.where} and {there.where}, above stages "
                    f"{stage!r} and {other!r} that read it, and the stages share one stages/common.py: "
                    "give the two definitions different names"
                )
    return Shared(_module(ordered, notebook), {n: sorted(v) for n, v in imports.items()},
                  _notes(resolver, included))


def _module(statements: list[Statement], notebook: str) -> str:
    header = (f'"""Imports, functions and constants of {notebook} that its exported stages read.\n\n'
              f'Written by mlops-jupyter {__version__}: export again instead of editing.\n"""\n')
    chunks: dict[int, str] = {}
    for previous, statement in zip([None, *statements], statements):
        if previous is None or previous.cell is not statement.cell:
            chunks[statement.cell.index] = statement.text
        else:  # a blank line around what spans lines (functions, classes)
            gap = "\n\n" if "\n" in previous.text or "\n" in statement.text else "\n"
            chunks[statement.cell.index] += gap + statement.text
    body = "\n\n".join(f"# cell {index + 1}\n{text}" for index, text in chunks.items())
    return f"{header}\n{body}\n" if body else header


def _notes(resolver: _Resolver, included: dict[str, Statement]) -> list[str]:
    notes = []
    for statements in resolver.statements.values():
        unread: set[str] = set()
        for statement in statements:
            if statement.key == "Pass()":  # an IPython line, or a pass
                continue
            if not statement.definition:
                snippet = statement.text.splitlines()[0].strip()
                notes.append(f"{statement.where}: `{snippet[:60]}` stays in the notebook (not a stage, "
                             "and not an import, definition or constant)")
            elif statement.key not in included:
                unread |= statement.binds
        if unread:
            notes.append(f"{statements[0].where}: {', '.join(sorted(unread))} stays in the notebook: "
                         "no stage below it reads it")
    return notes

"""A notebook's stages as plain Python scripts, plus one shared module.

Plain code cells contribute their imports, functions, classes and constants to
``stages/common.py``; everything else in them (exploration, plots) stays in the
notebook and is reported. Each stage becomes ``stages/<name>.py``: it loads the
variables its upstream stages produced, runs the cell's code, and saves the
variables downstream stages read. Shell escapes are translated exactly
(``subprocess.run``); magics that mean nothing outside IPython
(``%matplotlib``, ``%load_ext``) are dropped; any other magic in a stage is an
error naming the cell and line.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from .._version import __version__
from ..core.cellcode import Escape, to_python
from ..core.errors import MlopsError
from ..core.graph import CodeCell, Pipeline

DROPPED_MAGICS = ("%matplotlib", "%load_ext", "%reload_ext", "%config")
_PROVIDED = {"params", "display"}  # the script header defines these when a stage reads them


class ExportError(MlopsError):
    """A notebook that cannot be exported as it is."""


@dataclass(frozen=True)
class ExportPlan:
    notebook: str
    pipeline: Pipeline
    common: str
    scripts: dict[str, str]
    saves: dict[str, list[str]]  # stage -> variables it writes for others
    loads: dict[str, list[tuple[str, str]]]  # stage -> (producer, variable) it reads
    notes: list[str] = field(default_factory=list)  # what was left out, for the report


def _statement_lines(node: ast.stmt) -> tuple[int, int]:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first, node.end_lineno


def _is_constant(node: ast.stmt) -> bool:
    value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
    if value is None:
        return False
    try:
        ast.literal_eval(value)
        return True
    except ValueError:
        return False


def _bound_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]


def _common_module(cells: list[CodeCell], notebook: str) -> tuple[str, set[str], list[str]]:
    """(text of common.py, the names it defines, notes on what was left out)."""
    chunks, names, notes = [], set(), []
    for cell in cells:
        code = to_python(cell.source).code
        try:
            tree = ast.parse(code)
        except SyntaxError as e:
            raise ExportError(f"cell {cell.index + 1}: syntax error on line {e.lineno}") from None
        lines = code.splitlines()
        kept = []
        for node in tree.body:
            keep = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            keep = keep or (isinstance(node, (ast.Assign, ast.AnnAssign)) and _is_constant(node))
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                keep = False
            first, last = _statement_lines(node)
            if keep:
                kept.append("\n".join(lines[first - 1:last]))
                names.update(_bound_names(node))
            elif not isinstance(node, ast.Pass):
                snippet = lines[first - 1].strip()
                notes.append(f"cell {cell.index + 1}: `{snippet[:60]}` stays in the notebook (not a stage, "
                             "and not an import, definition or constant)")
        if kept:
            chunks.append(f"# cell {cell.index + 1}\n" + "\n".join(kept))
    header = (f'"""Imports, functions and constants of {notebook}, shared by its exported stages.\n\n'
              f'Written by mlops-jupyter {__version__}: export again instead of editing.\n"""\n')
    body = "\n\n".join(chunks)
    exported = f"__all__ = {sorted(names)!r}\n"
    return f"{header}\n{body}\n\n{exported}" if body else f"{header}\n{exported}", names, notes


def _translate(cell: CodeCell) -> tuple[list[str], bool]:
    """The stage's lines with IPython syntax translated; and whether subprocess is used."""
    python = to_python(cell.source)
    lines = python.code.splitlines()
    original = cell.source.splitlines()
    uses_subprocess = False
    problems = []
    for escape in python.escapes:
        indent = original[escape.line - 1][: len(original[escape.line - 1]) - len(original[escape.line - 1].lstrip())]
        translated = _translate_escape(escape)
        if translated is None:
            if escape.kind == "magic" and not escape.name.startswith(DROPPED_MAGICS):
                problems.append(f"line {escape.line + 1}: {escape.name} cannot run outside IPython")
            lines[escape.line - 1] = f"{indent}pass  # {escape.text}"
        else:
            uses_subprocess = True
            lines[escape.line - 1] = indent + translated
    if problems:
        raise ExportError(f"{cell.label}: " + "; ".join(problems) + ": remove it from the stage or move it to a plain cell")
    return lines, uses_subprocess


def _translate_escape(escape: Escape) -> str | None:
    if escape.kind != "shell":
        return None
    command = (escape.text.split("=", 1)[1].strip() if escape.target else escape.text)[1:].strip()
    if escape.target:
        return (f"{escape.target} = subprocess.run({command!r}, shell=True, check=True, capture_output=True,"
                " text=True).stdout.splitlines()")
    return f"subprocess.run({command!r}, shell=True, check=True)"


def plan(pipeline: Pipeline, notebook: str) -> ExportPlan:
    plain = [c for c in pipeline.cells if not c.spec]
    common, common_names, notes = _common_module(plain, notebook)
    loads: dict[str, list[tuple[str, str]]] = {name: [] for name in pipeline.order}
    saves: dict[str, list[str]] = {name: [] for name in pipeline.order}
    for edge in pipeline.edges:
        if edge.kind == "variable":
            loads[edge.downstream].append((edge.upstream, edge.label))
            if edge.label not in saves[edge.upstream]:
                saves[edge.upstream].append(edge.label)
    scripts = {}
    for name in pipeline.order:
        cell = pipeline.stage(name)
        known = common_names | {v for _, v in loads[name]} | _PROVIDED | set(dir(builtins))
        missing = sorted(cell.reads - known)
        if missing:
            raise ExportError(
                f"{cell.label} reads {', '.join(missing)}, which no stage above it and no import, definition "
                "or constant of a plain cell provides: make a stage produce it, or define it in a plain cell"
            )
        scripts[name] = _script(cell, notebook, sorted(loads[name]), sorted(saves[name]))
    return ExportPlan(notebook, pipeline, common, scripts, saves, loads, notes)


def _script(cell: CodeCell, notebook: str, loads: list[tuple[str, str]], saves: list[str]) -> str:
    spec = cell.spec
    lines, uses_subprocess = _translate(cell)
    head = [
        f'"""Stage {spec.name!r} of {notebook} (cell {cell.index + 1}), written by mlops-jupyter {__version__}.',
        "",
        "Export the notebook again instead of editing this file.",
        '"""',
    ]
    if uses_subprocess:
        head.append("import subprocess")
    head.append("from common import *  # noqa: F403 - the notebook's imports, functions and constants")
    if "display" in cell.reads:
        head.append("from IPython.display import display")
    head.append("from mlops_jupyter.export.runtime import load_variable, save_variable, stage_params, start_stage")
    head += ["", f"start_stage({spec.name!r})"]
    if spec.params:
        refs = ", ".join(f"({ref.file!r}, {ref.key!r})" for ref in spec.params)
        head.append(f"params = stage_params({spec.name!r}, [{refs}])")
    head += [f"{variable} = load_variable({producer!r}, {variable!r})" for producer, variable in loads]
    tail = [f"save_variable({spec.name!r}, {variable!r}, {variable})" for variable in saves]
    body = "\n".join(lines).strip("\n")
    return "\n".join(head) + "\n\n" + body + "\n" + ("\n" + "\n".join(tail) + "\n" if tail else "")

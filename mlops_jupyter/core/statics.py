"""What plain cells define, known without running them: static signatures of names.

A stage reads names that plain cells define: imports, functions, classes, constants. ``status``
cannot run those cells, but it can tell whether their source changed. A *binding* is what the
latest statement binding a name says: ``from x import y`` and ``def f(...)`` by their source, a
literal constant by the hash of its value (the very hash the kernel takes of it at run time),
anything else (``df = load()``) as computed at run time, unknown statically. A name's
*signature* adds the signatures of the names a function or class reads, so changing a helper, a
default or a constant it uses changes the signature of the function a stage calls.

The kernel keeps the bindings of the cells it executes and records, in ``mlops.lock``, the
signature of each input a stage read; ``status`` computes them again from the notebook's plain
cells above the stage and compares.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass
from typing import Mapping

import blake3

from .names import CellNames, statement_names

_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Binding:
    digest: str | None  # None: computed at run time (unknown statically)
    reads: frozenset[str] = frozenset()  # names a function or class reads (resolved when signed)
    cell: int | None = None  # the notebook cell (from 0) that bound it, when known
    literal: bool = False  # digest is the value's own hash (variables.value_hash)

    @property
    def where(self) -> str:
        return f"cell {self.cell + 1}" if self.cell is not None else "a plain cell"


def _digest(text: str) -> str:
    return blake3.blake3(text.encode()).hexdigest()


def _literal(node: ast.expr):
    """(True, value) when ``node`` is a literal (numbers, strings, lists/dicts of them…)."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _assignments(node: ast.stmt) -> dict[str, Binding] | None:
    """Literal constants bound by a plain assignment (``k = 3``, ``a, b = 1, 'x'``), else None."""
    from .variables import is_plain, value_hash

    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        target, value = node.target, node.value
    else:
        return None
    pairs = []
    if isinstance(target, ast.Name):
        pairs = [(target, value)]
    elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List)) \
            and len(target.elts) == len(value.elts) and all(isinstance(t, ast.Name) for t in target.elts):
        pairs = list(zip(target.elts, value.elts))
    if not pairs:
        return None
    found = {}
    for name, expr in pairs:
        ok, constant = _literal(expr)
        if not ok:
            return None
        if is_plain(constant):  # hashed as the kernel hashes the value
            found[name.id] = Binding(value_hash(constant), literal=True)
        else:  # tuples, sets, bytes: by their source (a set's pickle order changes between processes)
            found[name.id] = Binding(_digest(ast.dump(expr, annotate_fields=False, include_attributes=False)))
    return found


def statement_bindings(node: ast.stmt, cell: int | None = None) -> dict[str, Binding]:
    """What one top-level statement binds, and how it is known."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        module = "." * getattr(node, "level", 0) + (getattr(node, "module", None) or "")
        return {
            (alias.asname or alias.name).split(".")[0]: Binding(_digest(f"import {module}:{alias.name}"), cell=cell)
            for alias in node.names if alias.name != "*"
        }
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        source = ast.dump(node, annotate_fields=False, include_attributes=False)
        return {node.name: Binding(_digest(source), statement_names(node).reads - {node.name}, cell)}
    constants = _assignments(node)
    if constants is not None:
        return {name: Binding(b.digest, cell=cell, literal=b.literal) for name, b in constants.items()}
    return {name: Binding(None, cell=cell) for name in statement_names(node).writes}


def cell_bindings(code: str, cell: int | None = None) -> dict[str, Binding]:
    """The bindings of a cell of Python code, the latest statement winning (raises ``SyntaxError``)."""
    found: dict[str, Binding] = {}
    for node in ast.parse(code).body:
        found.update(statement_bindings(node, cell))
    return found


def computed(names: CellNames | frozenset[str], cell: int | None = None) -> dict[str, Binding]:
    """Names a stage binds: computed at run time."""
    writes = names.writes if isinstance(names, CellNames) else names
    return {name: Binding(None, cell=cell) for name in writes}


def signature(name: str, bindings: Mapping[str, Binding], _seen: frozenset[str] = frozenset()) -> str | None:
    """The static signature of ``name``, or None when it (or anything it reads) is computed at
    run time or bound by no plain cell."""
    binding = bindings.get(name)
    if binding is None or binding.digest is None:
        return None
    if not binding.reads:
        return binding.digest
    parts = [binding.digest]
    seen = _seen | {name}
    for read in sorted(binding.reads):
        if read in seen:
            parts.append(f"{read}:<cycle>")
        elif read in bindings:
            inner = signature(read, bindings, seen)
            if inner is None:
                return None
            parts.append(f"{read}:{inner}")
        elif read not in _BUILTINS:
            return None  # defined only in the kernel, or below: unknown here
    return _digest("|".join(parts))



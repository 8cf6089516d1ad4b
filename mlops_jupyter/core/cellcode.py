"""Cell source as plain Python, without IPython.

The graph, ``status`` and the exporters read notebooks with no kernel, and the
kernel fingerprints a stage's code the same way, so both agree on what "the
code changed" means. Line magics (``%time``), shell escapes (``!ls``) and help
(``obj?``) are not Python: they are replaced by ``pass`` (or ``x = None`` for
``x = !ls``) and reported, so a caller can translate or refuse them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import blake3

_ASSIGNED = re.compile(r"^(\s*)([\w.,\s\[\]()*]+?)\s*=\s*([%!].*)$")
_ESCAPE = re.compile(r"^(\s*)([%!].*)$")
_HELP = re.compile(r"^(\s*)([\w.]+\?\??)\s*$")


@dataclass(frozen=True)
class Escape:
    """A line that is IPython syntax rather than Python."""

    line: int  # 1-based, in the source given
    text: str  # the whole line, stripped
    kind: str  # "magic" (%...), "shell" (!...) or "help" (name?)
    target: str | None = None  # the variable of `x = %magic ...` / `x = !cmd`

    @property
    def name(self) -> str:
        """``%matplotlib``, ``!pip``…: what a report names."""
        if self.kind == "help":
            return self.text
        body = self.text.split("=", 1)[1].strip() if self.target else self.text
        return body.split()[0] if body.split() else body


@dataclass(frozen=True)
class PythonCode:
    code: str
    escapes: tuple[Escape, ...]


def to_python(source: str) -> PythonCode:
    """Python for ``source``: each IPython-only line becomes ``pass`` or ``x = None``."""
    lines, escapes = [], []
    continued = False
    for number, line in enumerate(source.splitlines(), start=1):
        if continued:  # a backslash continuation belongs to the line above
            lines.append(line)
            continued = line.endswith("\\")
            continue
        if match := _ASSIGNED.match(line):
            indent, target, body = match.groups()
            if body.startswith(("%", "!")) and not body.startswith(("%=", "!=")):
                kind = "magic" if body.startswith("%") else "shell"
                escapes.append(Escape(number, line.strip(), kind, target.strip()))
                lines.append(f"{indent}{target} = None")
                continue
        if match := _ESCAPE.match(line):
            indent, body = match.groups()
            escapes.append(Escape(number, body.strip(), "magic" if body.startswith("%") else "shell"))
            lines.append(f"{indent}pass")
            continued = line.endswith("\\")
            continue
        if match := _HELP.match(line):
            escapes.append(Escape(number, match.group(2), "help"))
            lines.append(f"{match.group(1)}pass")
            continue
        lines.append(line)
        continued = line.endswith("\\")
    return PythonCode("\n".join(lines) + ("\n" if source.endswith("\n") else ""), tuple(escapes))


def code_hash(source: str) -> str:
    """The hash of a cell's code as Python, blind to comments and formatting (its AST)."""
    code = to_python(source).code
    try:
        normal = ast.dump(ast.parse(code), annotate_fields=False, include_attributes=False)
    except SyntaxError:
        normal = code
    return blake3.blake3(normal.encode()).hexdigest()

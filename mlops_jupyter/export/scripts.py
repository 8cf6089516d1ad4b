"""A notebook's stages as plain Python scripts, plus one shared module.

Each stage becomes ``stages/<name>.py``: it starts a run of the stage in the
notebook's folder (``runtime.start_stage``), imports the definitions of plain
cells it reads from ``stages/common.py`` (see ``definitions``), loads the
variables its upstream stages produced, runs the cell's code, and saves the
variables downstream stages read. Next to it, ``stages/<name>.json`` holds the
cell as the notebook has it (its ``%%stage`` line, code and id): what the run
records. Shell escapes are translated exactly (``subprocess.run``); magics that
mean nothing outside IPython (``%matplotlib``, ``%load_ext``) are dropped; any
other magic in a stage is an error naming the cell and line.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

from .._version import __version__
from ..core.cellcode import Escape, to_python
from ..core.graph import CodeCell, Pipeline
from .definitions import IPYTHON, ExportError, shared
from .layout import Layout

DROPPED_MAGICS = ("%matplotlib", "%load_ext", "%reload_ext", "%config")


@dataclass(frozen=True)
class ExportPlan:
    notebook: str
    pipeline: Pipeline
    layout: Layout
    common: str
    scripts: dict[str, str]
    cells: dict[str, str]  # stage -> the JSON of its cell, read by its script
    saves: dict[str, list[str]]  # stage -> variables it writes for others
    loads: dict[str, list[tuple[str, str]]]  # stage -> (producer, variable) it reads
    imports: dict[str, list[str]]  # stage -> names it imports from stages/common.py
    notes: list[str] = field(default_factory=list)  # what was left out, for the report


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


def plan(pipeline: Pipeline, layout: Layout, stage_lines: dict[str, str]) -> ExportPlan:
    """The files of an export; ``stage_lines`` are the stages' ``%%stage`` lines as written."""
    notebook = layout.notebook.name
    loads: dict[str, list[tuple[str, str]]] = {name: [] for name in pipeline.order}
    saves: dict[str, list[str]] = {name: [] for name in pipeline.order}
    for edge in pipeline.edges:
        if edge.kind == "variable":
            loads[edge.downstream].append((edge.upstream, edge.label))
            if edge.label not in saves[edge.upstream]:
                saves[edge.upstream].append(edge.label)
    common = shared(pipeline, notebook, loads)
    scripts, cells = {}, {}
    deps_from: dict[str, dict[str, str]] = {name: {} for name in pipeline.order}
    for edge in pipeline.edges:
        if edge.kind == "file":
            deps_from[edge.downstream][edge.label] = edge.upstream
    for name in pipeline.order:
        cell = pipeline.stage(name)
        scripts[name] = _script(cell, notebook, sorted(loads[name]), sorted(saves[name]), common.imports[name])
        wiring = {"loads": sorted(loads[name]), "deps_from": dict(sorted(deps_from[name].items()))}
        if cell.spec.when:
            wiring["when"] = [when_stage(pipeline, name), cell.spec.when.expr]
        cells[name] = _cell_json(cell, notebook, layout, stage_lines[name], wiring)
    return ExportPlan(notebook, pipeline, layout, common.module, scripts, cells, saves, loads, common.imports,
                      common.notes)


def when_stage(pipeline: Pipeline, name: str) -> str:
    """The stage whose run the ``--when`` of stage ``name`` reads: the one it names, else its one upstream."""
    spec = pipeline.stage(name).spec
    if spec.when.stage:
        return spec.when.stage
    upstream = pipeline.upstream(name)
    if len(upstream) != 1:
        which = f"its upstream stages are {', '.join(upstream)}" if upstream else "it has no upstream stage"
        raise ExportError(f"stage {name!r} runs --when {spec.when.expr!r}, but {which}: name the stage whose run "
                          f"it reads, --when 'STAGE: {spec.when.expr}'")
    return upstream[0]


def _cell_json(cell: CodeCell, notebook: str, layout: Layout, line: str, wiring: dict) -> str:
    return json.dumps({
        "about": f"Stage {cell.spec.name!r} of {notebook} as its exported runs record it. Written by "
                 f"mlops-jupyter {__version__}: export again instead of editing.",
        "notebook": layout.notebook_from_folder,
        "cell_id": cell.cell_id,
        "stage": line,
        "code": cell.source if cell.source.endswith("\n") else cell.source + "\n",  # as IPython hands it over
        # What the stage takes from others: variables (producer, name), deps that are another stage's
        # outs, and the stage whose run --when reads. A task that shares no disk pulls them (--io remote).
        "pipeline": wiring,
    }, indent=2, ensure_ascii=False) + "\n"


def _script(cell: CodeCell, notebook: str, loads: list[tuple[str, str]], saves: list[str], imports: list[str]) -> str:
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
    loaded = {variable for _, variable in loads}
    head += [line for name, line in IPYTHON.items() if name in cell.reads and name not in imports and name not in loaded]
    head += ["from mlops_jupyter.export.runtime import start_stage", "",
             "stage = start_stage(__file__)  # in the notebook's folder, a run in its project's store"]
    if imports:
        line = f"from common import {', '.join(imports)}"
        names = textwrap.fill(", ".join(imports), 96, initial_indent="    ", subsequent_indent="    ")
        head.append(line if len(line) <= 100 else f"from common import (\n{names},\n)")
    inputs = ["params = stage.params"] if spec.params or "params" in cell.reads else []
    inputs += [f"{variable} = stage.load({producer!r}, {variable!r})" for producer, variable in loads]
    outputs = [f"stage.save({variable!r}, {variable})" for variable in saves] + ["stage.finish()"]
    body = "\n".join(lines).strip("\n")
    return "\n\n".join("\n".join(part) for part in (head, inputs, [body], outputs) if part) + "\n"

"""``dvc.yaml`` for an export plan: one DVC stage per notebook stage.

The stages run in the notebook's folder (``wdir``, when the export is elsewhere),
so deps, outs and metrics keep the paths of the ``%%stage`` flags and params files
are the project's; the export's own files are named from there. DVC runs a
pipeline only inside its repository, so the export must lie in the project, and a
DVC repository around it must hold the project.

Plots keep their definitions, so ``dvc plots show`` draws what the notebook drew: a
``--plots`` file with its ``--plot-x``/``--plot-y``/``--template``/``--title`` as a
plot output of its stage; the ``plots:`` of plots.yaml and config.toml in the
top-level ``plots:`` (their files then plain outs, so DVC draws each plot once);
and each ``mj.log_plot`` / ``mj.log_sklearn_plot`` call with a literal name, whose
data the exported script writes to ``logged/plots/<stage>/<name>.json``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from shlex import quote

from .definitions import ExportError
from ..core import plots as plot_defs
from ..core.cellcode import to_python
from ..core.plots import PlotDef, PlotError
from ..core.project import is_within
from .layout import LOGGED, STAGES, VARS, Layout, relative
from .scripts import ExportPlan

LOGGED_PLOTS = f"{LOGGED}/plots"  # logged/plots/<stage>/<name>.json: what a stage's log_plot calls wrote


def repository(folder: Path) -> Path | None:
    """The DVC repository holding ``folder``, if any."""
    return next((f for f in (folder, *folder.parents) if (f / ".dvc").is_dir()), None)


def check(layout: Layout) -> None:
    """Refuse an export DVC could not run."""
    root, folder = layout.project.root, layout.folder
    if not is_within(folder, root):
        raise ExportError(f"cannot export to DVC in {folder}: it is outside the project {root}, and DVC runs a "
                          f"pipeline only inside its repository: export to {root} or a folder inside it")
    repo = repository(folder)
    if repo is not None and not is_within(root, repo):
        raise ExportError(f"{folder} is in the DVC repository {repo}, which does not hold the project {root}: "
                          f"make {root} the DVC repository (dvc init there) or export elsewhere")


def command(layout: Layout) -> str:
    """The shell command that runs the export, a DVC repository made first if there is none."""
    run = f"cd {quote(str(layout.folder))} && dvc repro"
    if repository(layout.folder):
        return run
    root = layout.project.root
    if (root / ".git").exists():
        init = "dvc init"
    elif any((parent / ".git").exists() for parent in root.parents):
        init = "dvc init --subdir"
    else:
        init = "dvc init --no-scm"
    return f"cd {quote(str(root))} && {init} && {run}"


def _params(spec, layout: Layout) -> list:
    default, others = [], {}
    for ref in spec.params:
        file = layout.params_file(ref.file)
        if file == "params.yaml":
            default.append(ref.key)
        else:
            others.setdefault(file, []).append(ref.key)
    return default + [{file: keys} for file, keys in others.items()]


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise PlotError("not a literal") from None


def logged_plots(source: str, label: str) -> tuple[list[PlotDef], list[str]]:
    """The plots a stage's code logs (``log_plot`` / ``log_sklearn_plot`` calls), as far as their
    arguments are literals; and notes on the calls that could not be read."""
    from ..kernel.plotting import SKLEARN

    try:
        tree = ast.parse(to_python(source).code)
    except SyntaxError:
        return [], []
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and (getattr(n.func, "attr", None) or getattr(n.func, "id", None)) in ("log_plot", "log_sklearn_plot")]
    found: dict[str, PlotDef] = {}
    notes: list[str] = []
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        sklearn = (getattr(call.func, "attr", None) or getattr(call.func, "id", None)) == "log_sklearn_plot"
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        try:
            if sklearn:
                kind = _literal(call.args[0] if call.args else keywords["kind"])
                name = _literal(call.args[3] if len(call.args) > 3 else keywords["name"]) if (
                    len(call.args) > 3 or "name" in keywords) else kind
                x, y, template = SKLEARN[kind]
                if kind == "confusion_matrix" and "normalized" in keywords and _literal(keywords["normalized"]):
                    template = "confusion_normalized"
                props = {"x": x, "y": y, "template": template}
            else:
                name = _literal(call.args[0] if call.args else keywords["name"])
                props = {"template": plot_defs.DEFAULT_TEMPLATE}
                for position, key in enumerate(("x", "y", "template"), start=2):
                    node = call.args[position] if len(call.args) > position else keywords.get(key)
                    if node is not None:
                        props[key] = _literal(node)
            for key in ("title", "x_label", "y_label"):
                if key in keywords:
                    props[key] = _literal(keywords[key])
            plot_defs.check_name(name)
            found.setdefault(name, plot_defs.definition(name, {k: v for k, v in props.items() if v is not None},
                                                        label, origin="logged"))
        except (PlotError, KeyError, IndexError):
            notes.append(f"{label}: the plot logged on line {call.lineno} is not in dvc.yaml: give "
                         f"{'log_sklearn_plot' if sklearn else 'log_plot'} literal arguments (a name, x=, y=, template=)")
    return list(found.values()), notes


def _stage_plots(plan: ExportPlan, name: str, config: tuple[PlotDef, ...], top: list, notes: list) -> tuple[list, list]:
    """(plot outputs, plain outs) of stage ``name`` in dvc.yaml; definitions only the top level can
    say are appended to ``top``."""
    layout = plan.layout
    cell = plan.pipeline.stage(name)
    drawn_elsewhere = {f for plot in config for f in plot.files}
    outputs, outs = [], []
    for plot in cell.spec.plot_defs:
        if layout.project.name_of(plot.id, layout.workdir) in drawn_elsewhere:
            outs.append(plot.id)  # a plots.yaml definition draws it
            continue
        props = plot.stage_props()
        if props is None:
            outs.append(plot.id)
            top.append(plot.renamed(lambda f: relative(layout.workdir / f, layout.folder)).to_dvc())
        else:
            outputs.append({plot.id: props} if props else plot.id)
    logged, problems = logged_plots(cell.source, cell.label)
    notes += problems
    for plot in logged:
        path = layout.path(f"{LOGGED_PLOTS}/{name}/{plot.id}.json")
        plot = plot.renamed(lambda f, path=path: path)
        props = plot.stage_props()
        if props is None:
            outs.append({path: {"cache": False}})
            top.append(plot.renamed(lambda f: relative(layout.workdir / f, layout.folder)).to_dvc())
        else:
            outputs.append({path: {"cache": False, **props}})
    return outputs, outs


def dvc_yaml(plan: ExportPlan, python: str, notes: list | None = None) -> str:
    """``notes`` receives what could not be exported (plots logged with computed arguments)."""
    import yaml

    layout = plan.layout
    wdir = relative(layout.workdir, layout.folder)
    try:
        config = plot_defs.project_definitions(layout.project.root)
    except PlotError as e:
        raise ExportError(str(e)) from None
    top = [plot.renamed(lambda f: relative(layout.project.root / f, layout.folder)).to_dvc() for plot in config]
    notes = notes if notes is not None else []
    stages = {}
    for name in plan.pipeline.order:
        spec = plan.pipeline.stage(name).spec
        script = layout.path(f"{STAGES}/{name}.py")
        entry: dict = {"cmd": f"{quote(python)} {quote(script)}"}
        if wdir != ".":
            entry["wdir"] = wdir
        if spec.desc:
            entry["desc"] = spec.desc
        deps = [script, *([layout.path(f"{STAGES}/common.py")] if plan.imports[name] else []), *spec.deps]
        deps += [layout.path(f"{VARS}/{producer}/{variable}") for producer, variable in sorted(plan.loads[name])]
        entry["deps"] = list(dict.fromkeys(deps))
        if spec.params:
            entry["params"] = _params(spec, layout)
        plot_outputs, plot_outs = _stage_plots(plan, name, config, top, notes)
        outs = [*spec.outs, *({path: {"cache": False}} for path in spec.outs_no_cache), *plot_outs]
        outs += [layout.path(f"{VARS}/{name}/{variable}") for variable in sorted(plan.saves[name])]
        if outs:
            entry["outs"] = outs
        entry["metrics"] = [*spec.metrics, *({path: {"cache": False}} for path in spec.metrics_no_cache),
                            {layout.path(f"{LOGGED}/{name}.json"): {"cache": False}}]
        if plot_outputs:
            entry["plots"] = plot_outputs
        stages[name] = entry
    header = (
        f"# The pipeline of {plan.notebook}, written by mlops-jupyter: export again instead of editing.\n"
        "# DVC keeps its own remote: mlops-jupyter's (BLAKE3-named objects) cannot serve DVC (MD5), so give\n"
        "# DVC another prefix, e.g. `dvc remote add -d storage s3://bucket/project-dvc`.\n"
    )
    document = {"stages": stages, **({"plots": top} if top else {})}
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=1000)

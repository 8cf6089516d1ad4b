"""``dvc.yaml`` for an export plan: one DVC stage per notebook stage.

The stages run in the notebook's folder (``wdir``, when the export is elsewhere),
so deps, outs and metrics keep the paths of the ``%%stage`` flags and params files
are the project's; the export's own files are named from there. DVC runs a
pipeline only inside its repository, so the export must lie in the project, and a
DVC repository around it must hold the project.
"""

from __future__ import annotations

from pathlib import Path
from shlex import quote

from .definitions import ExportError
from ..core.project import is_within
from .layout import LOGGED, STAGES, VARS, Layout, relative
from .scripts import ExportPlan


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


def dvc_yaml(plan: ExportPlan, python: str) -> str:
    import yaml

    layout = plan.layout
    wdir = relative(layout.workdir, layout.folder)
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
        outs = [*spec.outs, *({path: {"cache": False}} for path in spec.outs_no_cache)]
        outs += [layout.path(f"{VARS}/{name}/{variable}") for variable in sorted(plan.saves[name])]
        if outs:
            entry["outs"] = outs
        entry["metrics"] = [*spec.metrics, *({path: {"cache": False}} for path in spec.metrics_no_cache),
                            {layout.path(f"{LOGGED}/{name}.json"): {"cache": False}}]
        if spec.plots:
            entry["plots"] = list(spec.plots)
        stages[name] = entry
    header = (
        f"# The pipeline of {plan.notebook}, written by mlops-jupyter: export again instead of editing.\n"
        "# DVC keeps its own remote: mlops-jupyter's (BLAKE3-named objects) cannot serve DVC (MD5), so give\n"
        "# DVC another prefix, e.g. `dvc remote add -d storage s3://bucket/project-dvc`.\n"
    )
    return header + yaml.safe_dump({"stages": stages}, sort_keys=False, default_flow_style=False, width=1000)

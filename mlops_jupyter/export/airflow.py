"""An Airflow DAG for an export plan: one task per stage, of the operator the options choose.

A stage with ``--when`` gets a task before it that checks the condition (``<stage>_when``): it
takes the stage's upstream edges and trigger rule, and when the condition is false it is
skipped, and so is the stage. The DAG is plain: a marked configuration block, then one call
per task and the edges.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from shlex import quote

from .._version import __version__
from .definitions import ExportError
from .layout import NOTEBOOK_DIR, STAGES, relative
from .operators import SKIP, Command, literal, operator
from .scripts import ExportPlan, when_stage
from .settings import AirflowOptions

# Airflow parses every .py file of its DAG folder: not the stage scripts (a pattern both the
# glob syntax of Airflow 3 and the regexp syntax of Airflow 2 read alike).
AIRFLOWIGNORE = f"# Written by mlops-jupyter: the stage scripts are no DAGs.\n{STAGES}/\n"
PROJECT_DIR = "/project"  # where the image holds the project, unless the DAG's configuration says otherwise

_IO = {
    "local": "The stages pass variables and files through the export's folders on one disk (--io local).",
    "remote": "No task shares a disk with another (--io remote): each works in a fresh temporary folder, pulls\n"
              "its inputs from the project's default remote and pushes its results there, and one whose\n"
              "fingerprint was computed before, anywhere, is restored from the remote instead of run.",
}

TEMPLATE = '''"""Airflow DAG of {notebook}: one task per stage, each {summary}.
Written by mlops-jupyter {version}; export the notebook again instead of editing it, except for
the configuration block (whose values the environment variables named there override).

Targets Airflow 3.x (airflow.sdk); it also loads on Airflow 2.9+.
{io}
A stage's paths mean what they meant in the notebook: its script works in the notebook's folder
({notebook_dir} overrides where that is).
"""

import os
from datetime import datetime, timedelta{imports}

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
{operator_imports}

# --- configuration ----------------------------------------------------------------------------
{config}
# How the stages pass data (local or remote) and the pipeline run they belong to ({{{{ run_id }}}}
# is filled in by Airflow).
ENV = {{"MLOPS_IO": {io_mode}, "MLOPS_PIPELINE_RUN": "{{{{ run_id }}}}"}}
# --- end of configuration ---------------------------------------------------------------------

with DAG(
    dag_id={dag_id},
    description={description},
    doc_md=__doc__,
    schedule={schedule},
    start_date=datetime({start}),
    catchup=False,
    default_args={{"retries": {retries}, "retry_delay": timedelta(seconds={retry_delay})}},
    tags=["mlops-jupyter"],
) as dag:
{tasks}

{edges}
'''


def dag_id(notebook: str) -> str:
    stem = notebook.rsplit("/", 1)[-1].removesuffix(".ipynb")
    return re.sub(r"[^\w.-]", "_", stem) or "pipeline"


def command(folder: Path, dag: str) -> str:
    """The shell command that runs the DAG once, in any Airflow (a fresh one too)."""
    return f"export AIRFLOW__CORE__DAGS_FOLDER={quote(str(folder))} && airflow db migrate && airflow dags test {dag}"


def airflow_dag(plan: ExportPlan, python: str, settings: AirflowOptions = AirflowOptions(), *,
                start: tuple[int, int, int] = (2025, 1, 1)) -> str:
    pipeline, layout = plan.pipeline, plan.layout
    if settings.in_image and not layout.folder.is_relative_to(layout.project.root):
        raise ExportError(f"--operator {settings.operator}: the image holds the project {layout.project.root}, and "
                          f"{layout.folder} is outside it: export into the project (-o inside it)")
    dag = dag_id(plan.notebook)
    kind = operator(settings.operator, python=python, image=settings.image, namespace=settings.namespace,
                    project_dir=PROJECT_DIR, export=relative(layout.folder, layout.project.root), dag=dag)
    resources = {name: pipeline.stage(name).spec.resources or settings.resources.get(name, ()) for name in pipeline.order}
    gates = {name for name in pipeline.order if pipeline.stage(name).spec.when}
    for name in gates:
        if f"{name}_when" in pipeline.order:
            raise ExportError(f"stage {name}_when has the name of the task that checks --when of stage {name!r}: rename it")
    tasks = []
    for name in pipeline.order:
        cell = pipeline.stage(name)
        spec = cell.spec
        if name in gates:
            tasks.append(_task(kind.cls, f"{name}_when", _gate_doc(plan, name), kind.arguments(Command(name, gate=True), ()),
                               [f"skip_on_exit_code={SKIP}", *_rule(spec.trigger_rule)]))
        timing = [f"retries={spec.retries}"] if spec.retries else []
        timing += [f"retry_delay=timedelta(seconds={spec.retry_delay})"] if spec.retry_delay is not None else []
        timing += [f"execution_timeout=timedelta(seconds={spec.timeout})"] if spec.timeout else []
        rule = [] if name in gates else _rule(spec.trigger_rule)
        tasks.append(_task(kind.cls, name, _doc(plan, name), kind.arguments(Command(name), resources[name]), timing + rule))
    edges = []
    for upstream, downstream in _unique_edges(plan):
        edges.append(f"    {_var(upstream)} >> {_var(downstream + '_when' if downstream in gates else downstream)}")
    edges += [f"    {_var(name + '_when')} >> {_var(name)}" for name in pipeline.order if name in gates]
    return TEMPLATE.format(
        notebook=plan.notebook, version=__version__, summary=kind.summary, io=_IO[settings.io],
        notebook_dir=NOTEBOOK_DIR, **_imports(kind, resources),
        config="\n".join(kind.config()), io_mode=literal(settings.io), dag_id=literal(dag),
        description=literal(f"Stages of {plan.notebook}"), schedule=literal(settings.schedule) if settings.schedule else "None", start=", ".join(map(str, start)),
        retries=settings.retries, retry_delay=settings.retry_delay, tasks="\n".join(tasks), edges="\n".join(edges),
    )


def _imports(kind, resources: dict) -> dict[str, str]:
    gpu = any("gpu" in dict(r) for r in resources.values())
    return {"imports": "".join(f"\n{line}" for line in kind.stdlib), "operator_imports": "\n".join(kind.imports(gpu))}


def _rule(rule: str | None) -> list[str]:
    return [f"trigger_rule={literal(rule)}"] if rule else []


def _task(cls: str, task_id: str, doc: str, arguments: list[str], extra: list[str]) -> str:
    lines = [f"task_id={literal(task_id)}", f"doc_md={literal(doc)}", *arguments, *extra]
    return f"    {_var(task_id)} = {cls}(\n" + "".join(f"        {line},\n" for line in lines) + "    )"


def _docstring(source: str) -> str | None:
    """The cell's own docstring: a string its code starts with."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return " ".join(first.value.value.split())
    return None


def _doc(plan: ExportPlan, name: str) -> str:
    cell = plan.pipeline.stage(name)
    about = cell.spec.desc or _docstring(cell.source)
    reads = ", ".join(f"{variable} (from {producer})" for producer, variable in plan.loads[name])
    if about and about[-1] not in ".!?":
        about += "."
    parts = [f"Stage `{name}` of {plan.notebook} (cell {cell.index + 1})." + (f" {about}" if about else "")]
    if reads:
        parts.append(f"Reads {reads}.")
    if plan.saves[name]:
        parts.append(f"Passes on {', '.join(plan.saves[name])}.")
    return " ".join(parts)


def _gate_doc(plan: ExportPlan, name: str) -> str:
    when = plan.pipeline.stage(name).spec.when
    return (f"Lets `{name}` run only if the run of `{when_stage(plan.pipeline, name)}` matches `{when.expr}`; "
            f"otherwise this task is skipped (exit code {SKIP}), and `{name}` with it.")


def _var(name: str) -> str:
    return "task_" + re.sub(r"\W", "_", name)


def _unique_edges(plan: ExportPlan):
    seen = set()
    for edge in plan.pipeline.edges:
        if (edge.upstream, edge.downstream) not in seen:
            seen.add((edge.upstream, edge.downstream))
            yield edge.upstream, edge.downstream

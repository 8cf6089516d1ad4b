"""An Airflow DAG for an export plan: one BashOperator task per stage."""

from __future__ import annotations

import re
from pathlib import Path
from shlex import quote

from .._version import __version__
from .layout import NOTEBOOK_DIR, STAGES
from .scripts import ExportPlan

# Airflow parses every .py file of its DAG folder: not the stage scripts (a pattern both the
# glob syntax of Airflow 3 and the regexp syntax of Airflow 2 read alike).
AIRFLOWIGNORE = f"# Written by mlops-jupyter: the stage scripts are no DAGs.\n{STAGES}/\n"

TEMPLATE = '''"""Airflow DAG of {notebook}: one task per stage. Written by mlops-jupyter {version}.

Targets Airflow 3.x (airflow.sdk, the standard provider's BashOperator); it also
loads on Airflow 2.9+ through the fallback imports. Each task runs its stage's
script (in stages/ next to this file) with the interpreter below; the script
works in the notebook's folder, found relative to it. Set MLOPS_PIPELINE_DIR
(the folder of stages/), MLOPS_PIPELINE_PYTHON or {notebook_dir} (the
notebook's folder) when they move.
Export the notebook again instead of editing this file.
"""

import os
from datetime import datetime, timedelta
from pathlib import Path
from shlex import quote

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator

PIPELINE_DIR = os.environ.get("MLOPS_PIPELINE_DIR", str(Path(__file__).resolve().parent))
PYTHON = os.environ.get("MLOPS_PIPELINE_PYTHON", {python!r})

with DAG(
    dag_id={dag_id!r},
    description={description!r},
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


def airflow_dag(plan: ExportPlan, python: str, *, retries: int = 0, schedule: str | None = None,
                start: tuple[int, int, int] = (2025, 1, 1), retry_delay: int = 300) -> str:
    tasks = []
    for name in plan.pipeline.order:
        spec = plan.pipeline.stage(name).spec
        own = f", retries={spec.retries}" if spec.retries else ""
        bash = f'f"{{quote(PYTHON)}} {STAGES}/{name}.py"'
        tasks.append(f"    {_var(name)} = BashOperator(task_id={name!r}, bash_command={bash}, cwd=PIPELINE_DIR{own})")
    edges = [f"    {_var(e.upstream)} >> {_var(e.downstream)}"
             for e in _unique_edges(plan)]
    return TEMPLATE.format(
        notebook=plan.notebook, version=__version__, notebook_dir=NOTEBOOK_DIR, python=python, dag_id=dag_id(plan.notebook),
        description=f"Stages of {plan.notebook}", schedule=repr(schedule) if schedule else "None",
        start=", ".join(map(str, start)), retries=retries, retry_delay=retry_delay,
        tasks="\n".join(tasks), edges="\n".join(edges),
    )


def _var(name: str) -> str:
    return "task_" + re.sub(r"\W", "_", name)


def _unique_edges(plan: ExportPlan):
    seen = set()
    for edge in plan.pipeline.edges:
        if (edge.upstream, edge.downstream) not in seen:
            seen.add((edge.upstream, edge.downstream))
            yield edge


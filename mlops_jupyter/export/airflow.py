"""An Airflow DAG for an export plan: one BashOperator task per stage."""

from __future__ import annotations

import re

from .._version import __version__
from .scripts import ExportPlan

TEMPLATE = '''"""Airflow DAG of {notebook}: one task per stage. Written by mlops-jupyter {version}.

Targets Airflow 3.x (airflow.sdk, the standard provider's BashOperator); it also
loads on Airflow 2.9+ through the fallback imports. Each task runs its stage's
script in the pipeline folder with the interpreter below; set
MLOPS_PIPELINE_DIR / MLOPS_PIPELINE_PYTHON to move them.
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


def airflow_dag(plan: ExportPlan, python: str, *, retries: int = 0, schedule: str | None = None,
                start: tuple[int, int, int] = (2025, 1, 1), retry_delay: int = 300) -> str:
    tasks = []
    for name in plan.pipeline.order:
        spec = plan.pipeline.stage(name).spec
        own = f", retries={spec.retries}" if spec.retries else ""
        command = f'f"{{quote(PYTHON)}} stages/{name}.py"'
        tasks.append(f"    {_var(name)} = BashOperator(task_id={name!r}, bash_command={command}, cwd=PIPELINE_DIR{own})")
    edges = [f"    {_var(e.upstream)} >> {_var(e.downstream)}"
             for e in _unique_edges(plan)]
    return TEMPLATE.format(
        notebook=plan.notebook, version=__version__, python=python, dag_id=dag_id(plan.notebook),
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


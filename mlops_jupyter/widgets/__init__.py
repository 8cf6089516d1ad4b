"""ipywidgets views of runs, experiments and the pipeline, for every frontend (VS Code, Notebook 7,
JupyterLab without the sidebar). They talk to the kernel only, refresh when new runs land (see
``live``), and carry a static HTML copy of themselves for nbconvert and GitHub."""

from __future__ import annotations

import os
from pathlib import Path


def show_runs(experiment=None, stage=None, status=None, filter: str | None = None, order_by=None,
              page_size: int = 20, project: str | os.PathLike | None = None):
    """A table of runs, one page at a time: filter (the language of ``mj.runs``), sort by clicking a
    header, tick rows and Compare them."""
    return _table("runs", **locals())


def show_experiments(experiment=None, stage=None, status=None, filter: str | None = None, order_by=None,
                     page_size: int = 20, project: str | os.PathLike | None = None):
    """As ``show_runs``, one row per experiment (``mj.experiments``): each with its lineage's params
    and metrics."""
    return _table("experiments", **locals())


def _table(kind: str, page_size: int, **conditions):
    from .source import Query, Source
    from .views import RunsView

    if page_size < 1:
        raise ValueError("page_size is the number of rows a page shows: 1 or more")
    return RunsView(Source(kind, Query(page_size=page_size, **conditions)))


def compare(*run_ids: str, experiments: bool = True, project: str | os.PathLike | None = None):
    """Runs side by side (ids or unique prefixes, two or more): params, metrics and their changes
    against the first, and a metric's history. ``experiments`` compares each run with its lineage's
    params and metrics (``mj.experiments``); False, with the run's own only."""
    from .source import Query, Source
    from .views import CompareView

    if len(run_ids) < 2:
        raise ValueError("compare needs two run ids or more, e.g. mj.compare('3f2a9c1d', '7b0e4d21')")
    return CompareView(Source("experiments" if experiments else "runs", Query(project=project)), list(run_ids))


def show_pipeline(notebook: str | os.PathLike | None = None, project: str | os.PathLike | None = None):
    """The pipeline of ``notebook`` (default: this kernel's) with each stage's state."""
    from .pipeline import PipelineView

    if notebook is None:
        from IPython import get_ipython

        from ..kernel.identity import notebook_file

        shell = get_ipython()
        notebook = notebook_file(shell) if shell is not None else None
        if notebook is None:
            raise ValueError("this kernel does not know its notebook: mj.show_pipeline('NAME.ipynb')")
    return PipelineView(Path(notebook).resolve(), project)

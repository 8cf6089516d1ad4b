"""What a view reads: a page of runs or of experiments from the kernel's store, and one run each
for a comparison. The kernel's tracker has the store open; nothing goes through the server."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core.models import RunSummary


@dataclass
class Query:
    """A view's conditions, as ``mj.runs`` / ``mj.experiments`` take them."""

    experiment: str | None = None
    stage: str | None = None
    status: str | None = None
    filter: str | None = None
    order_by: str | None = None
    page_size: int = 20
    offset: int = 0
    project: str | os.PathLike | None = None


@dataclass
class Page:
    rows: list[RunSummary]
    total: int
    columns: list[str] = field(default_factory=list)  # metrics.* and params.* keys any row of the store has


class Source:
    """Runs (``kind="runs"``) or experiments (``kind="experiments"``) of the project."""

    def __init__(self, kind: str, query: Query):
        if kind not in ("runs", "experiments"):
            raise ValueError(kind)
        self.kind, self.query = kind, query

    def _store(self):
        from ..kernel.tracking import TRACKER

        TRACKER.flush()
        store, _ = TRACKER.open(self.query.project)
        return store

    def version(self) -> str:
        """Changes when a run is created, ends or changes status."""
        return self._store().version()

    def page(self) -> Page:
        """The current page; a bad filter or sort raises the store's one-line error."""
        q = self.query
        store = self._store()
        conditions = dict(experiment=q.experiment, stage=q.stage, status=q.status, filter=q.filter)
        if self.kind == "experiments":
            from ..core import experiments

            found = experiments.page(store, **conditions, order_by=q.order_by, limit=q.page_size, offset=q.offset,
                                     with_total=True)
            keys = experiments.columns(store, stage=q.stage)
            columns = [f"metrics.{k}" for k in keys["metrics"]] + [f"params.{k}" for k in keys["params"]]
            return Page(found.experiments(), found.total, columns)
        rows = store.search_page(**conditions, order_by=q.order_by, limit=q.page_size, offset=q.offset).summaries()
        total = store.count(**conditions) if len(rows) == q.page_size or q.offset else len(rows)
        columns = ([f"metrics.{k}" for k in store.keys("latest_metrics")] +
                   [f"params.{k}" for k in store.keys("params")])
        return Page(rows, total, columns)

    def get(self, run_id: str) -> RunSummary:
        """One run (or its experiment), by id or unique prefix."""
        store = self._store()
        full = store.resolve_run_id(run_id)
        if self.kind == "experiments":
            from ..core import experiments

            return experiments.get(store, full)
        return store.get_run(full)

    def plot_views(self, run_ids: list[str], labels: list[str]) -> list:
        """The plots of these runs, the same plot of several runs overlaid (``core.plots.views``)."""
        from ..core import plots
        from ..core.objects import ObjectStore
        from ..kernel.tracking import TRACKER

        store, project = TRACKER.open(self.query.project)
        return plots.views(store, ObjectStore(project.cache_dir), run_ids, labels)

    def histories(self, run_ids: list[str], key: str) -> dict[str, list]:
        """Each run's points of metric ``key``: ``[(step, value, timestamp), ...]``."""
        found = self._store().histories(run_ids, [key])
        return {run_id: found.get(run_id, {}).get(key, []) for run_id in run_ids}

"""``GET plots?runs=A,B,...``: the plots of runs overlaid, as ``mlops-jupyter plots diff`` draws them.

Each plot id of the runs is one entry: a Vega-Lite v5 spec (``core.plots.views``: a line per run,
confusion matrices side by side), or, for an image plot, each run's image as a reference to the
artifact route (its bytes are never inlined). A plot whose data no longer fits its definition is
an entry with its one-line ``error``; the others are still drawn.
"""

from __future__ import annotations

import tornado.web

from ..core import plots as plot_data
from ..core.errors import RunNotFound
from ..core.objects import ObjectStore
from .handlers import BaseHandler, json_errors

MAX_RUNS = 50  # a chart past that many overlaid runs is unreadable anyway


def labels_of(run_ids: list[str]) -> list[str]:
    """Short, distinct labels: the ids' first 8 characters, longer where two would clash."""
    for width in (8, 12, 16, 32):
        labels = [run_id[:width] for run_id in run_ids]
        if len(set(labels)) == len(labels):
            return labels
    return list(run_ids)


def _image(run_id: str, name: str, label: str, mime: str) -> dict:
    return {"label": label, "run_id": run_id, "name": name, "mime": mime, "url": f"artifacts/{run_id}/{name}"}


class PlotsHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self) -> None:
        runs = [r.strip() for r in self.get_query_argument("runs", "").split(",") if r.strip()]
        if not runs:
            raise ValueError("runs= needs one or more run ids, separated by commas")
        if len(runs) > MAX_RUNS:
            raise ValueError(f"runs= names {len(runs)} runs; overlay at most {MAX_RUNS}")
        await self.reply(self.plots, self.path_argument(), runs)

    def plots(self, path: str, runs: list[str]) -> dict:
        project = self.projects.project(path)
        store = self.projects.store(project)
        if store is None:
            raise RunNotFound(f"no run {runs[0]!r}: this project has no runs yet")
        ids = list(dict.fromkeys(store.resolve_run_id(r) for r in runs))
        labels = labels_of(ids)
        views = plot_data.views(store, ObjectStore(project.cache_dir), ids, labels, keep_errors=True)
        return {
            "runs": [{"run_id": run_id, "label": label} for run_id, label in zip(ids, labels)],
            "plots": [
                {"id": v.id, "runs": list(v.runs), "spec": v.spec, "error": v.error,
                 "images": [_image(run_id, name, label, mime)
                            for (label, mime, _), (run_id, name) in zip(v.images, v.sources)]}
                for v in views
            ],
        }


ROUTES = [
    (r"plots", PlotsHandler),
]

"""The REST API the sidebar talks to: a thin layer over core.

Every route is authenticated. ``path`` (a notebook or folder, relative to the
server root) picks the project, as the kernel would from the notebook's
folder, never above the root. The work (store queries, stage states) runs in
the service's worker threads, never on tornado's event loop. User mistakes
become 400 (404 for what does not exist) with ``{"message": ...}`` on one line;
artifact bytes come only from the object cache, found by the hash the store
records, never from a path the request names, and are streamed in chunks.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3

import tornado.web
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado.escape import json_encode
from tornado.iostream import StreamClosedError

from ..core import experiments, report
from ..core.errors import MlopsError, RunNotFound
from ..core.graph import build, load
from ..core.registry import Registry
from ..core.status import pipeline_status
from .service import Projects

MAX_LIMIT = 1000
CHUNK = 1 << 20  # bytes of an artifact read and sent at a time
_INLINE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")
# What SQLite says when a query built from a request exceeds its limits: the request is too large.
_SQLITE_LIMITS = ("too many sql variables", "expression tree is too large", "parser stack overflow",
                  "too many terms", "string or blob too big", "pattern too complex", "tables in a join")


class Refused(tornado.web.HTTPError):
    """A request the server will not answer, with the one line that tells the user why."""

    def __init__(self, status: int, message: str):
        line = " ".join(message.splitlines())
        self.message = line if len(line) <= 500 else line[:499] + "…"
        super().__init__(status, reason=self.message[:200], log_message=self.message)


class Missing(MlopsError):
    """What the request's URL names (a model, a version, an alias) does not exist: a 404."""


def json_errors(method):
    """One place that maps mistakes to HTTP: missing -> 404, bad input -> 400, with a message."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except (RunNotFound, Missing) as e:
            raise Refused(404, str(e)) from None
        except (MlopsError, ValueError) as e:  # ValueError covers JSON and UTF-8 decoding
            raise Refused(400, str(e)) from None
        except RecursionError:
            raise Refused(400, "the request is nested too deeply to read; simplify the filter or the notebook") from None
        except sqlite3.DatabaseError as e:
            if any(limit in str(e).lower() for limit in _SQLITE_LIMITS):
                raise Refused(400, f"the request is too large for the run store ({e}); shorten the filter") from None
            raise

    return wrapper


class _Common:
    """What every handler here shares: the projects, the arguments, errors as JSON."""

    @property
    def projects(self) -> Projects:
        return self.settings["mlops_jupyter"]

    def write_error(self, status_code: int, **kwargs) -> None:
        self.set_header("Content-Type", "application/json")
        error = kwargs.get("exc_info", (None, None))[1]
        self.finish(json.dumps({"message": getattr(error, "message", None) or self._reason}))

    def path_argument(self) -> str:
        return self.get_query_argument("path", "")

    def int_argument(self, name: str, default: int, highest: int) -> int:
        raw = self.get_query_argument(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
        if not 0 <= value <= highest:
            raise ValueError(f"{name} must be between 0 and {highest}")
        return value


class BaseHandler(_Common, APIHandler):
    """A JSON route: the answer is computed and encoded in a worker thread."""

    async def reply(self, compute, *args) -> None:
        self.finish(await self.projects.run(lambda: json_encode(compute(*args))))


class RunsHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self) -> None:
        conditions = {
            "experiment": self.get_query_argument("experiment", None) or None,
            "stage": self.get_query_argument("stage", None) or None,
            "status": self.get_query_argument("status", None) or None,
            "filter": self.get_query_argument("filter", None) or None,
        }
        limit = self.int_argument("limit", 100, MAX_LIMIT)
        offset = self.int_argument("offset", 0, 10**9)
        sort = self.get_query_argument("sort", None) or None
        await self.reply(self.page, self.path_argument(), conditions, sort, limit, offset)

    def page(self, path: str, conditions: dict, sort: str | None, limit: int, offset: int) -> dict:
        store = self.projects.store(self.projects.project(path))
        if store is None:
            return {"total": 0, "offset": offset, "limit": limit, "experiments": [], "stages": [],
                    "columns": {"params": [], "metrics": []}, "runs": []}
        summaries = store.search(**conditions, order_by=sort, limit=limit, offset=offset)
        return {
            "total": store.count(**conditions),
            "offset": offset,
            "limit": limit,
            "experiments": store.experiments(),
            "stages": store.stages(),
            "columns": {"params": store.keys("params"), "metrics": store.keys("latest_metrics")},
            "runs": [report.run_record(s) for s in summaries],
        }


class ExperimentsHandler(RunsHandler):
    """A page of experiments (``core.experiments``): the runs of the sink stages, or of ``stage``, with
    every param and metric of their lineage; filter and sort apply to the joined columns."""

    def page(self, path: str, conditions: dict, sort: str | None, limit: int, offset: int) -> dict:
        project = self.projects.project(path)
        store = self.projects.store(project)
        if store is None:
            return {"total": 0, "offset": offset, "limit": limit, "experiments": [], "stages": [], "sinks": [],
                    "columns": {"params": [], "metrics": []}, "runs": []}
        found = experiments.page(store, **conditions, order_by=sort, limit=limit, offset=offset, with_total=True)
        stage = conditions["stage"]
        return {
            "total": found.total,
            "offset": offset,
            "limit": limit,
            "experiments": store.experiments(),
            "stages": store.stages(),
            "sinks": self.projects.cached(project, store, "sinks", experiments.sink_stages, store),
            "columns": self.projects.cached(project, store, f"columns:{stage}", experiments.columns, store, stage=stage),
            "runs": [report.experiment_record(e) for e in found.experiments()],
        }


class ExperimentHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self, run_id: str) -> None:
        await self.reply(self.experiment, self.path_argument(), run_id)

    def experiment(self, path: str, run_id: str) -> dict:
        store = self.projects.store(self.projects.project(path))
        if store is None:
            raise RunNotFound(f"no run {run_id!r}: this project has no runs yet")
        return report.experiment_record(experiments.get(store, store.resolve_run_id(run_id)))


class RunHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self, run_id: str) -> None:
        await self.reply(self.detail, self.path_argument(), run_id)

    def detail(self, path: str, run_id: str) -> dict:
        store = self.projects.store(self.projects.project(path))
        if store is None:
            raise RunNotFound(f"no run {run_id!r}: this project has no runs yet")
        detail = store.get_run(store.resolve_run_id(run_id))
        record = report.detail_record(detail)
        record["histories"] = _json_series(store.histories([detail.run.id])[detail.run.id])
        return record


class MetricsHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self) -> None:
        runs = [r for r in self.get_query_argument("runs", "").split(",") if r]
        keys = [k for k in self.get_query_argument("keys", "").split(",") if k] or None
        if not runs:
            raise ValueError("runs= needs one or more run ids, separated by commas")
        await self.reply(self.histories, self.path_argument(), runs, keys)

    def histories(self, path: str, runs: list[str], keys: list[str] | None) -> dict:
        store = self.projects.store(self.projects.project(path))
        if store is None:
            raise RunNotFound(f"no run {runs[0]!r}: this project has no runs yet")
        ids = [store.resolve_run_id(r) for r in runs]
        return {"histories": {run_id: _json_series(series) for run_id, series in store.histories(ids, keys).items()}}


class ArtifactHandler(_Common, JupyterHandler):
    """Raw bytes with their own type (an APIHandler would label them JSON), streamed."""

    def get_login_url(self) -> str:
        # As an API route: refuse with 403 instead of redirecting to the login page.
        if not self.current_user:
            raise tornado.web.HTTPError(403)
        return super().get_login_url()

    @tornado.web.authenticated
    @json_errors
    async def get(self, run_id: str, name: str) -> None:
        if name.startswith("/") or ".." in name.split("/") or "\\" in name or "\x00" in name:
            raise ValueError("artifact names are relative names recorded on the run, without '..' or a leading '/'")
        artifact, f = await self.projects.run(self.projects.open_artifact, self.path_argument(), run_id, name)
        try:
            mime = artifact.mime if artifact.mime and "/" in artifact.mime else "application/octet-stream"
            self.set_header("Content-Type", mime)
            self.set_header("Content-Length", str(os.fstat(f.fileno()).st_size))
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
            if mime not in _INLINE_MIMES:  # never render a user's HTML or SVG on the Jupyter origin
                safe = re.sub(r"[^\w.-]", "_", name.rsplit("/", 1)[-1])
                self.set_header("Content-Disposition", f'attachment; filename="{safe}"')
            while chunk := await self.projects.run(f.read, CHUNK):
                self.write(chunk)
                await self.flush()  # at most one chunk per request in memory
        except StreamClosedError:  # the client went away
            return
        finally:
            f.close()
        self.finish()


class PipelineHandler(BaseHandler):
    def graph(self, notebook: str, content) -> dict:
        """The notebook's stages with their states and the edges; ``content`` (unsaved edits) if given."""
        project = self.projects.project(notebook)
        path = self.projects.resolve(notebook)
        if path.suffix != ".ipynb":
            raise ValueError(f"{notebook!r} is not a notebook (.ipynb)")
        if content is None and not path.is_file():
            raise RunNotFound(f"no notebook {notebook!r}")
        pipeline = build(content) if content is not None else load(path)
        statuses = pipeline_status(pipeline, path, project, self.projects.store(project), confine=self.projects.root)
        return {
            "notebook": notebook,
            "stages": [
                {"name": s.stage, "state": s.state, "reasons": list(s.reasons), "last_run": s.last_run,
                 "cell_index": s.cell_index, "cell_id": s.cell_id}
                for s in statuses
            ],
            "edges": [{"upstream": e.upstream, "downstream": e.downstream, "kind": e.kind, "label": e.label}
                      for e in pipeline.edges],
            "warnings": list(pipeline.warnings),
        }

    def posted_graph(self, body: bytes) -> dict:
        usage = 'post {"path": "<notebook.ipynb>", "content": <notebook JSON>}'
        try:
            request = json.loads(body or b"{}")
        except ValueError as e:  # not JSON, or not UTF-8
            raise ValueError(f"the body is not JSON ({e}); {usage}") from None
        if not isinstance(request, dict) or not isinstance(request.get("path"), str):
            raise ValueError(usage)
        return self.graph(request["path"], request.get("content"))

    @tornado.web.authenticated
    @json_errors
    async def get(self) -> None:
        notebook = self.get_query_argument("path", "")
        if not notebook:
            raise ValueError("path= names the notebook, relative to the server's root")
        await self.reply(self.graph, notebook, None)

    @tornado.web.authenticated
    @json_errors
    async def post(self) -> None:
        await self.reply(self.posted_graph, self.request.body)


class StateHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self) -> None:
        await self.reply(self.version, self.path_argument())

    def version(self, path: str) -> dict:
        project = self.projects.project(path)
        store = self.projects.store(project)
        # Stage states also move with mlops.lock and params.yaml; the Models tab with the registry.
        files = [p.stat().st_mtime_ns if p.exists() else 0 for p in (project.lock_path, project.params_path)]
        stamps = [store.version(), f"m{Registry(store).last_change()}"] if store else ["empty"]
        return {"version": ".".join(map(str, [*stamps, *files]))}


def _json_series(series: dict[str, list]) -> dict[str, list]:
    return {key: [[step, report.json_number(value), ts] for step, value, ts in points] for key, points in series.items()}


ROUTES = [
    (r"runs", RunsHandler),
    (r"runs/(?P<run_id>[0-9a-fA-F]{1,32})", RunHandler),
    (r"experiments", ExperimentsHandler),
    (r"experiments/(?P<run_id>[0-9a-fA-F]{1,32})", ExperimentHandler),
    (r"metrics", MetricsHandler),
    (r"artifacts/(?P<run_id>[0-9a-fA-F]{1,32})/(?P<name>.+)", ArtifactHandler),
    (r"pipeline", PipelineHandler),
    (r"state", StateHandler),
]

"""The REST API the sidebar talks to: a thin layer over core.

Every route is authenticated. ``path`` (a notebook or folder, relative to the
server root) picks the project, as the kernel would from the notebook's
folder. User mistakes become 400 (404 for what does not exist) with
``{"message": ...}``; artifact bytes come only from the object cache, found by
the hash the store records, never from a path the request names.
"""

from __future__ import annotations

import functools
import json
import re

import tornado.web
from jupyter_server.base.handlers import APIHandler, JupyterHandler

from ..core import report
from ..core.errors import MlopsError, RunNotFound
from ..core.graph import build, load
from ..core.objects import CorruptObject, ObjectStore
from ..core.status import pipeline_status
from .service import Projects

MAX_LIMIT = 1000
_HASH = re.compile(r"^[0-9a-f]{64}$")
_INLINE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def json_errors(method):
    """One place that maps mistakes to HTTP: missing -> 404, bad input -> 400, with a message."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RunNotFound as e:
            raise tornado.web.HTTPError(404, reason=str(e)[:200], log_message=str(e)) from None
        except (MlopsError, ValueError, json.JSONDecodeError) as e:
            raise tornado.web.HTTPError(400, reason=str(e)[:200], log_message=str(e)) from None

    return wrapper


class _Common:
    """What every handler here shares: the projects, the arguments, errors as JSON."""

    @property
    def projects(self) -> Projects:
        return self.settings["mlops_jupyter"]

    def write_error(self, status_code: int, **kwargs) -> None:
        self.set_header("Content-Type", "application/json")
        error = kwargs.get("exc_info", (None, None))[1]
        message = getattr(error, "log_message", None) or self._reason
        self.finish(json.dumps({"message": message}))

    def path_argument(self, value: str | None = None) -> str:
        return value if value is not None else self.get_query_argument("path", "")

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
    """A JSON route."""


class RunsHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    def get(self) -> None:
        store = self.projects.store(self.path_argument())
        conditions = {
            "experiment": self.get_query_argument("experiment", None) or None,
            "stage": self.get_query_argument("stage", None) or None,
            "status": self.get_query_argument("status", None) or None,
            "filter": self.get_query_argument("filter", None) or None,
        }
        limit = self.int_argument("limit", 100, MAX_LIMIT)
        offset = self.int_argument("offset", 0, 10**9)
        if store is None:
            self.finish({"total": 0, "offset": offset, "limit": limit, "experiments": [], "stages": [],
                         "columns": {"params": [], "metrics": []}, "runs": []})
            return
        sort = self.get_query_argument("sort", None) or None
        summaries = store.search(**conditions, order_by=sort, limit=limit, offset=offset)
        self.finish({
            "total": store.count(**conditions),
            "offset": offset,
            "limit": limit,
            "experiments": store.experiments(),
            "stages": store.stages(),
            "columns": {"params": store.keys("params"), "metrics": store.keys("latest_metrics")},
            "runs": [report.run_record(s) for s in summaries],
        })


class RunHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    def get(self, run_id: str) -> None:
        store = self.projects.store(self.path_argument())
        if store is None:
            raise RunNotFound(f"no run {run_id!r}: this project has no runs yet")
        detail = store.get_run(store.resolve_run_id(run_id))
        record = report.detail_record(detail)
        record["histories"] = _json_series(store.histories([detail.run.id])[detail.run.id])
        self.finish(record)


class MetricsHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    def get(self) -> None:
        store = self.projects.store(self.path_argument())
        runs = [r for r in self.get_query_argument("runs", "").split(",") if r]
        keys = [k for k in self.get_query_argument("keys", "").split(",") if k] or None
        if not runs:
            raise ValueError("runs= needs one or more run ids, separated by commas")
        if store is None:
            raise RunNotFound(f"no run {runs[0]!r}: this project has no runs yet")
        ids = [store.resolve_run_id(r) for r in runs]
        self.finish({"histories": {run_id: _json_series(series) for run_id, series in store.histories(ids, keys).items()}})


class ArtifactHandler(_Common, JupyterHandler):
    """Raw bytes with their own type (an APIHandler would label them JSON)."""

    def get_login_url(self) -> str:
        # As an API route: refuse with 403 instead of redirecting to the login page.
        if not self.current_user:
            raise tornado.web.HTTPError(403)
        return super().get_login_url()

    @tornado.web.authenticated
    @json_errors
    def get(self, run_id: str, name: str) -> None:
        if name.startswith("/") or ".." in name.split("/") or "\\" in name or "\x00" in name:
            raise ValueError("artifact names are relative names recorded on the run, without '..' or a leading '/'")
        project = self.projects.project(self.path_argument())
        store = self.projects.store(self.path_argument())
        if store is None:
            raise RunNotFound(f"no run {run_id!r}: this project has no runs yet")
        artifact = store.artifact(store.resolve_run_id(run_id), name)
        if not _HASH.match(artifact.hash):
            raise ValueError(f"artifact {name!r} has no valid object hash")
        objects = ObjectStore(project.cache_dir)
        path = objects.path(artifact.hash).resolve()
        if project.cache_dir.resolve() not in path.parents:
            raise ValueError("artifact outside the cache")
        try:
            data = objects.read_bytes(artifact.hash)
        except FileNotFoundError:
            raise RunNotFound(f"the object of {name!r} is no longer in the cache") from None
        except CorruptObject as e:
            raise ValueError(str(e)) from None
        mime = artifact.mime if artifact.mime and "/" in artifact.mime else "application/octet-stream"
        self.set_header("Content-Type", mime)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
        if mime not in _INLINE_MIMES:  # never render a user's HTML or SVG on the Jupyter origin
            safe = re.sub(r"[^\w.-]", "_", name.rsplit("/", 1)[-1])
            self.set_header("Content-Disposition", f'attachment; filename="{safe}"')
        self.finish(data)


class PipelineHandler(BaseHandler):
    def _answer(self, notebook: str, content: dict | None) -> None:
        project = self.projects.project(notebook)
        path = self.projects.resolve(notebook)
        if path.suffix != ".ipynb":
            raise ValueError(f"{notebook!r} is not a notebook (.ipynb)")
        if content is None and not path.is_file():
            raise RunNotFound(f"no notebook {notebook!r}")
        pipeline = build(content) if content is not None else load(path)
        store = self.projects.store(notebook)
        statuses = pipeline_status(pipeline, path, project, store)
        self.finish({
            "notebook": notebook,
            "stages": [
                {"name": s.stage, "state": s.state, "reasons": list(s.reasons), "last_run": s.last_run,
                 "cell_index": s.cell_index, "cell_id": s.cell_id}
                for s in statuses
            ],
            "edges": [{"upstream": e.upstream, "downstream": e.downstream, "kind": e.kind, "label": e.label}
                      for e in pipeline.edges],
            "warnings": list(pipeline.warnings),
        })

    @tornado.web.authenticated
    @json_errors
    def get(self) -> None:
        notebook = self.get_query_argument("path", "")
        if not notebook:
            raise ValueError("path= names the notebook, relative to the server's root")
        self._answer(notebook, None)

    @tornado.web.authenticated
    @json_errors
    def post(self) -> None:
        body = json.loads(self.request.body or b"{}")
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            raise ValueError('post {"path": "<notebook.ipynb>", "content": <notebook JSON>}')
        content = body.get("content")
        if content is not None and not (isinstance(content, dict) and isinstance(content.get("cells"), list)):
            raise ValueError("content must be a notebook in nbformat JSON (with a 'cells' list)")
        self._answer(body["path"], content)


class StateHandler(BaseHandler):
    @tornado.web.authenticated
    @json_errors
    def get(self) -> None:
        path = self.path_argument()
        store = self.projects.store(path)
        project = self.projects.project(path)
        # Stage states also move with mlops.lock and params.yaml.
        files = [p.stat().st_mtime_ns if p.exists() else 0 for p in (project.lock_path, project.params_path)]
        self.finish({"version": ".".join(map(str, [store.version() if store else "empty", *files]))})


def _json_series(series: dict[str, list]) -> dict[str, list]:
    return {key: [[step, report.json_number(value), ts] for step, value, ts in points] for key, points in series.items()}


ROUTES = [
    (r"runs", RunsHandler),
    (r"runs/(?P<run_id>[0-9a-fA-F]{1,32})", RunHandler),
    (r"metrics", MetricsHandler),
    (r"artifacts/(?P<run_id>[0-9a-fA-F]{1,32})/(?P<name>.+)", ArtifactHandler),
    (r"pipeline", PipelineHandler),
    (r"state", StateHandler),
]

"""Runs and registered models to an MLflow tracking server, and runs back, through its REST API.

Out (``push``): each run becomes an MLflow run with its params, full metric histories (steps and
timestamps), tags, status, original start and end times and artifacts, in batches within the
server's limits (1,000 metrics, 100 params, 100 tags per ``runs/log-batch``). The local run id is
the tag ``mlops.run_id``, so a run is found again and never duplicated; the store remembers what
it sent (``mlflow_sync``), so a second sync sends only what is new. Registered models follow with
their versions (tag ``mlops.version``), aliases and stages. An sklearn model goes up with an
``MLmodel`` file, so ``mlflow.sklearn.load_model`` reads it.

In (``pull``): MLflow runs without the tag become runs of the store, under their MLflow run id.
"""

from __future__ import annotations

import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator

import requests

from .errors import MlopsError
from .models import Environment
from .objects import ObjectStore
from .registry import Registry
from .store import RunStore

RUN_TAG, VERSION_TAG = "mlops.run_id", "mlops.version"
MAX_METRICS, MAX_PARAMS, MAX_TAGS = 1000, 100, 100  # per runs/log-batch
_STATUS_OUT = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED", "killed": "KILLED"}
_STATUS_IN = {v: k for k, v in _STATUS_OUT.items()} | {"SCHEDULED": "running"}
JOBS = 4
_ATTEMPTS = 3
# What an imported run says of where it ran: MLflow's REST API does not tell.
_IMPORTED = Environment(python="", platform="", packages={}, git_commit=None, git_dirty=None, host="mlflow", pid=0,
                        pid_start_time=None)


class SyncError(MlopsError):
    pass


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    metrics: int = 0
    params: int = 0
    artifacts: int = 0
    versions: int = 0
    imported: int = 0
    notes: list[str] = field(default_factory=list)


class MlflowRest:
    """The few REST calls a sync makes, with one line for each way they fail."""

    def __init__(self, uri: str, timeout: float = 120):
        if not uri.startswith(("http://", "https://")):
            raise SyncError(f"{uri!r} is no MLflow server URL: give http(s)://HOST:PORT")
        self.base, self.timeout = uri.rstrip("/"), timeout
        self._local = threading.local()  # a session (kept-alive connections) per thread

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def call(self, method: str, path: str, *, ok_codes: tuple[str, ...] = (), **kwargs) -> dict:
        url = f"{self.base}/api/2.0/{path}"
        # A dropped connection is tried again where sending twice does no harm (everything but creating).
        attempts = 1 if path.endswith("/create") else _ATTEMPTS
        for attempt in range(attempts):
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
                break
            except requests.RequestException as e:
                if attempt + 1 == attempts:
                    raise SyncError(f"MLflow server {self.base} did not answer ({type(e).__name__}): "
                                    "is it running?") from None
                time.sleep(2**attempt)
        if response.ok:
            return response.json() if response.content else {}
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:200]}
        if body.get("error_code") in ok_codes:
            return body
        raise SyncError(f"MLflow refused {path} ({response.status_code} {body.get('error_code', '')}): "
                        f"{body.get('message', '')}".strip())

    def post(self, path: str, payload: dict, **kwargs) -> dict:
        return self.call("POST", f"mlflow/{path}", json=payload, **kwargs)

    def get(self, path: str, **params) -> dict:
        return self.call("GET", f"mlflow/{path}", params=params)

    def experiment_id(self, name: str) -> str:
        found = self.call("GET", "mlflow/experiments/get-by-name", params={"experiment_name": name},
                          ok_codes=("RESOURCE_DOES_NOT_EXIST",))
        if "experiment" in found:
            return found["experiment"]["experiment_id"]
        return self.post("experiments/create", {"name": name})["experiment_id"]

    def runs(self, experiment_id: str, filter: str = "") -> Iterator[dict]:
        token = None
        while True:
            page = self.post("runs/search", {"experiment_ids": [experiment_id], "filter": filter, "max_results": 1000,
                                             **({"page_token": token} if token else {})})
            yield from page.get("runs", [])
            token = page.get("next_page_token")
            if not token:
                return

    def put_artifact(self, artifact_uri: str, path: str, data: bytes) -> None:
        prefix = "mlflow-artifacts:/"
        if not artifact_uri.startswith(prefix):
            raise SyncError(f"the server keeps artifacts at {artifact_uri}, which it does not proxy: "
                            "start it with --artifacts-destination (or --serve-artifacts)")
        self.call("PUT", f"mlflow-artifacts/artifacts/{artifact_uri[len(prefix):]}/{path}", data=data)


def _number(value: float | None) -> Any:
    if value is None or math.isnan(value):  # a NULL metric is a NaN
        return "NaN"
    return value if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


def _target(uri: str, experiment: str | None) -> str:
    return f"{uri.rstrip('/')}#{experiment or ''}"


class Pusher:
    def __init__(self, store: RunStore, objects: ObjectStore, uri: str, experiment: str | None):
        self.store, self.objects, self.rest = store, objects, MlflowRest(uri)
        self.experiment, self.target = experiment, _target(uri, experiment)
        self.report = SyncReport()
        self._experiments: dict[str, str] = {}
        self._remote: dict[str, dict] = {}  # local run id -> remote run info, per experiment searched

    def _experiment_id(self, name: str) -> str:
        name = self.experiment or name
        if name not in self._experiments:
            self._experiments[name] = self.rest.experiment_id(name)
            for run in self.rest.runs(self._experiments[name], f"tags.`{RUN_TAG}` != ''"):
                tags = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
                self._remote[tags[RUN_TAG]] = run["info"]
        return self._experiments[name]

    def _state(self, num: int) -> dict | None:
        rows = self.store._query("SELECT state FROM mlflow_sync WHERE target = ? AND run = ?", [self.target, num])
        return json.loads(rows[0][0]) if rows else None

    def _save_state(self, num: int, state: dict) -> None:
        with self.store._write() as conn:
            conn.execute("INSERT OR REPLACE INTO mlflow_sync (target, run, state) VALUES (?, ?, ?)",
                         [self.target, num, json.dumps(state)])

    def push_run(self, num: int) -> None:
        run_id, experiment, stage, notebook, status, start, end = self.store._query(
            "SELECT r.id, e.name, r.stage, r.notebook, r.status, r.start_time, r.end_time FROM runs r"
            " JOIN experiments e ON e.id = r.experiment_id WHERE r.num = ?", [num])[0]
        experiment_id = self._experiment_id(experiment)
        state = self._state(num)
        remote = self._remote.get(run_id)
        if remote is None or state is None or state.get("remote") != remote["run_id"]:
            state = {"remote": None, "metric_rowid": 0, "params": 0, "tags": None, "status": None, "artifacts": []}
        if remote is None:
            tags = [{"key": RUN_TAG, "value": run_id}, {"key": "mlops.stage", "value": stage or ""}]
            if notebook:
                tags.append({"key": "mlflow.source.name", "value": notebook})
            remote = self.rest.post("runs/create", {"experiment_id": experiment_id, "start_time": start, "tags": tags,
                                                    "run_name": f"{stage or 'run'}-{run_id[:8]}"})["run"]["info"]
            self._remote[run_id] = remote
            self.report.created += 1
        changed = self._send_values(num, remote["run_id"], state)
        changed |= self._send_artifacts(num, remote, state)
        if state["status"] != [status, end]:
            self.rest.post("runs/update", {"run_id": remote["run_id"], "status": _STATUS_OUT[status],
                                           **({"end_time": end} if end is not None else {})})
            state["status"], changed = [status, end], True
        if state["remote"] == remote["run_id"] and not changed:
            self.report.unchanged += 1
        elif state["remote"] == remote["run_id"]:
            self.report.updated += 1
        state["remote"] = remote["run_id"]
        self._save_state(num, state)

    def _send_values(self, num: int, remote: str, state: dict) -> bool:
        params = self.store._query("SELECT key, value FROM params WHERE run = ? ORDER BY key", [num])
        params = [] if len(params) == state["params"] else [{"key": k, "value": str(v)} for k, v in params]
        tags = [{"key": k, "value": v} for k, v in self.store._query(
            "SELECT key, value FROM tags WHERE run = ? ORDER BY key", [num])]
        tags_stamp = json.dumps(tags)
        tags = [] if tags_stamp == state["tags"] else tags
        metrics = self.store._query(
            "SELECT rowid, key, value, timestamp, step FROM metrics WHERE run = ? AND rowid > ? ORDER BY rowid",
            [num, state["metric_rowid"]])
        if not (params or tags or metrics):
            return False
        first = True
        while first or params or tags or metrics:
            batch_params, params = params[:MAX_PARAMS], params[MAX_PARAMS:]
            batch_tags, tags = tags[:MAX_TAGS], tags[MAX_TAGS:]
            room = MAX_METRICS - len(batch_params) - len(batch_tags)  # 1,000 entities in all per batch
            batch_metrics, metrics = metrics[:room], metrics[room:]
            self.rest.post("runs/log-batch", {
                "run_id": remote, "params": batch_params, "tags": batch_tags,
                "metrics": [{"key": k, "value": _number(v), "timestamp": ts, "step": step}
                            for _, k, v, ts, step in batch_metrics]})
            if batch_metrics:
                state["metric_rowid"] = batch_metrics[-1][0]
            self.report.metrics += len(batch_metrics)
            self.report.params += len(batch_params)
            first = False
        state["params"] = self.store._query("SELECT COUNT(*) FROM params WHERE run = ?", [num])[0][0]
        state["tags"] = tags_stamp
        return True

    def _send_artifacts(self, num: int, remote: dict, state: dict) -> bool:
        sent = set(state["artifacts"])
        files = [(name, digest) for name, digest in self.store._query(
            "SELECT name, hash FROM artifacts WHERE run = ? ORDER BY name", [num]) if name not in sent]
        models = [m for m in self.store._query(
            "SELECT name, flavor, hash, info FROM logged_models WHERE run = ? ORDER BY name", [num])
            if f"model:{m[0]}" not in sent]
        for name, digest in files:
            self.rest.put_artifact(remote["artifact_uri"], name, self.objects.read_bytes(digest))
            state["artifacts"].append(name)
        for name, flavor, digest, info in models:
            self.rest.put_artifact(remote["artifact_uri"], f"{name}/model.pkl", self.objects.read_bytes(digest))
            self.rest.put_artifact(remote["artifact_uri"], f"{name}/MLmodel", _mlmodel(name, flavor, json.loads(info)))
            state["artifacts"].append(f"model:{name}")
        self.report.artifacts += len(files) + len(models)
        return bool(files or models)

    def push_models(self) -> None:
        registry = Registry(self.store)
        for model in registry.models():
            self.rest.post("registered-models/create", {"name": model.name}, ok_codes=("RESOURCE_ALREADY_EXISTS",))
            remote_versions = {}
            for found in self.rest.get("model-versions/search", filter=f"name='{model.name}'",
                                       max_results=10000).get("model_versions", []):
                tags = {t["key"]: t["value"] for t in found.get("tags", [])}
                if VERSION_TAG in tags:
                    remote_versions[int(tags[VERSION_TAG])] = found
            numbers = {}
            for version in reversed(registry.versions(model.name)):  # oldest first: numbers match on a new server
                remote = remote_versions.get(version.version)
                info = self._remote.get(version.run_id)
                if remote is None:
                    if info is None:
                        self.report.notes.append(f"{model.name} v{version.version}: its run was not synced "
                                                 "(outside --since?); skipped")
                        continue
                    remote = self.rest.post("model-versions/create", {
                        "name": model.name, "source": f"{info['artifact_uri']}/{version.artifact}",
                        "run_id": info["run_id"],
                        "tags": [{"key": VERSION_TAG, "value": str(version.version)}]})["model_version"]
                    self.report.versions += 1
                numbers[version.version] = remote["version"]
                if remote.get("current_stage", "None") != version.stage:
                    self.rest.post("model-versions/transition-stage", {
                        "name": model.name, "version": remote["version"], "stage": version.stage,
                        "archive_existing_versions": False})
            for alias, version in model.aliases.items():
                if version in numbers:
                    self.rest.post("registered-models/alias", {"name": model.name, "alias": alias,
                                                               "version": numbers[version]})


def _mlmodel(name: str, flavor: str, info: dict) -> bytes:
    """An MLmodel file for the uploaded pickle: sklearn models load with mlflow.sklearn.load_model."""
    lines = [f"artifact_path: {name}", "flavors:"]
    if flavor == "sklearn":
        lines += ["  python_function:", "    loader_module: mlflow.sklearn", "    model_path: model.pkl",
                  f"    python_version: {info.get('python', '')}", "  sklearn:", "    pickled_model: model.pkl",
                  "    serialization_format: pickle", f"    sklearn_version: {info.get('scikit-learn', '')}"]
    else:
        lines += ["  mlops_jupyter:", f"    flavor: {flavor}", "    data: model.pkl"]
    return ("\n".join(lines) + "\n").encode()


def push(store: RunStore, objects: ObjectStore, uri: str, *, experiment: str | None = None,
         since: int | None = None, progress: bool = True) -> SyncReport:
    """Send the runs (started at ``since`` or later) and the registry to the server at ``uri``."""
    from tqdm.auto import tqdm

    pusher = Pusher(store, objects, uri, experiment)
    nums = [num for (num,) in store._query("SELECT num FROM runs WHERE start_time >= ? ORDER BY num", [since or 0])]
    names = {name for (name,) in store._query("SELECT DISTINCT e.name FROM runs r JOIN experiments e ON e.id ="
                                              " r.experiment_id WHERE r.start_time >= ?", [since or 0])}
    for name in sorted(names):  # one search per experiment, before the runs go in parallel
        pusher._experiment_id(name)
    with tqdm(total=len(nums), unit="run", desc="sync", disable=not progress) as bar, ThreadPoolExecutor(JOBS) as pool:
        for _ in pool.map(pusher.push_run, nums):
            bar.update()
    pusher.push_models()
    return pusher.report


def pull(store: RunStore, uri: str, *, remote_experiment: str, into: str | None = None,
         progress: bool = True) -> SyncReport:
    """Copy the runs of MLflow experiment ``remote_experiment`` that did not come from a store
    (no ``mlops.run_id`` tag) into experiment ``into`` (default: the same name), once each."""
    from tqdm.auto import tqdm

    rest, report = MlflowRest(uri), SyncReport()
    found = rest.call("GET", "mlflow/experiments/get-by-name", params={"experiment_name": remote_experiment},
                      ok_codes=("RESOURCE_DOES_NOT_EXIST",))
    if "experiment" not in found:
        raise SyncError(f"MLflow server {uri} has no experiment {remote_experiment!r}")
    runs = [run for run in rest.runs(found["experiment"]["experiment_id"])
            if not any(t["key"] == RUN_TAG for t in run["data"].get("tags", []))]
    for run in tqdm(runs, unit="run", desc="import", disable=not progress):
        info, data = run["info"], run["data"]
        if store.has_run(info["run_id"]):
            continue
        points = []
        for metric in {m["key"] for m in data.get("metrics", [])}:
            token = None
            while True:
                page = rest.get("metrics/get-history", run_id=info["run_id"], metric_key=metric, max_results=25000,
                                **({"page_token": token} if token else {}))
                points += [(info["run_id"], metric, int(m.get("step", 0)), float(m["value"]), int(m["timestamp"]))
                           for m in page.get("metrics", [])]
                token = page.get("next_page_token")
                if not token:
                    break
        tags = {t["key"]: t["value"] for t in data.get("tags", [])}
        with store.transaction():
            store.create_run(into or remote_experiment, run_id=info["run_id"], start_time=int(info["start_time"]),
                             environment=_IMPORTED, notebook=tags.get("mlflow.source.name"))
            store.log_params(info["run_id"], {p["key"]: p["value"] for p in data.get("params", [])})
            store.log_metric_points(sorted(points, key=lambda p: p[4]))
            store.set_tags(info["run_id"], {**tags, "mlflow.run_id": info["run_id"]})
            status = _STATUS_IN.get(info["status"], "finished")
            if status != "running":  # a run still going there stays running here
                store.end_run(info["run_id"], status, end_time=int(info.get("end_time") or info["start_time"]))
        report.imported += 1
    return report

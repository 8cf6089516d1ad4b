"""The model registry's REST routes, for the sidebar's Models tab: a thin layer over
``core.registry``.

``GET models`` lists the registered models; ``GET models/<name>`` is one model with its versions
(each with the run that made it and that run's metrics) and its history. Aliases are set with
``POST models/<name>/aliases {"alias", "version"}`` and removed with ``DELETE
models/<name>/aliases/<alias>``; ``POST models/<name>/versions/<v>/stage {"stage",
"archive_existing"}`` moves a version. Each change answers with the updated model.

What the URL names and does not exist (a model, a version, an alias) is a 404; a mistake in the
body (a reserved alias, an unknown stage, a version that is not there, malformed JSON) a 400 with
the registry's one-line message. Every verb is authenticated, and Jupyter Server checks the XSRF
token of every POST and DELETE made with a login cookie, as for the other routes.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from ..core import report
from ..core.registry import STAGES, HistoryEntry, ModelVersion, RegisteredModel, Registry, RegistryError
from ..core.store import RunStore
from .handlers import BaseHandler, Missing, json_errors

_MODEL = r"models/(?P<name>[^/]+)"


def model_summary(model: RegisteredModel, versions: list[ModelVersion]) -> dict[str, Any]:
    """One model of the list: its aliases, and its newest version in each stage but None."""
    in_stage: dict[str, int] = {}
    for v in versions:  # newest first
        if v.stage != "None":
            in_stage.setdefault(v.stage, v.version)
    return {
        "name": model.name,
        "description": model.description,
        "tags": model.tags,
        "aliases": model.aliases,
        "latest_version": model.latest_version,
        "version_count": len(versions),
        "stages": in_stage,
        "created_time": report.iso_time(model.created_time),
        "updated_time": report.iso_time(model.updated_time),
    }


def version_record(v: ModelVersion, run: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "version": v.version,
        "run_id": v.run_id,
        "artifact": v.artifact,
        "uri": f"runs:/{v.run_id}/{v.artifact}",
        "stage": v.stage,
        "aliases": list(v.aliases),
        "tags": v.tags,
        "description": v.description,
        "created_time": report.iso_time(v.created_time),
        "run": run and {k: run[k] for k in ("experiment", "stage", "status", "start_time", "notebook")},
        "metrics": run["metrics"] if run else {},
    }


def history_record(e: HistoryEntry) -> dict[str, Any]:
    return {"version": e.version, "action": e.action, "what": e.what, "old": e.old, "new": e.new,
            "user": e.user, "time": report.iso_time(e.time)}


def model_record(store: RunStore, registry: Registry, name: str) -> dict[str, Any]:
    """One model in full: its versions, newest first, with their runs' metrics, and its history,
    newest first."""
    model, versions = registry.model(name), registry.versions(name)
    ids = sorted({v.run_id for v in versions})
    runs = {}
    if ids:  # run ids are hex: safe to quote
        found = store.search(filter=f"run_id in ({', '.join(repr(i) for i in ids)})")
        runs = {s.run.id: report.run_record(s) for s in found}
    return {
        **model_summary(model, versions),
        "versions": [version_record(v, runs.get(v.run_id)) for v in versions],
        "history": [history_record(e) for e in reversed(registry.history(name))],
        "all_stages": list(STAGES),
    }


def _body(raw: bytes, usage: str) -> dict[str, Any]:
    try:
        request = json.loads(raw or b"{}")
    except ValueError as e:  # not JSON, or not UTF-8
        raise ValueError(f"the body is not JSON ({e}); post {usage}") from None
    if not isinstance(request, dict):
        raise ValueError(f"post {usage}")
    return request


def _text(request: dict, key: str, usage: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string; post {usage}")
    return value.strip()


def _version_of(request: dict, usage: str) -> str:
    value = request.get("version")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or str(value).strip() == "":
        raise ValueError(f"'version' must be a version number (1, 2, …); post {usage}")
    return str(value)


class _RegistryHandler(BaseHandler):
    """Opens the registry of the request's project; what the URL names must exist."""

    def registry(self, path: str) -> tuple[RunStore, Registry]:
        store = self.projects.store(self.projects.project(path))
        if store is None:
            raise Missing("no registered models here yet: mj.log_model(model, registered_model_name=NAME) makes one")
        return store, Registry(store)

    def named(self, path: str, name: str) -> tuple[RunStore, Registry]:
        store, registry = self.registry(path)
        try:
            registry.model(name)
        except RegistryError as e:
            raise Missing(str(e)) from None
        return store, registry


class ModelsHandler(_RegistryHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self) -> None:
        await self.reply(self.models, self.path_argument())

    def models(self, path: str) -> dict:
        store = self.projects.store(self.projects.project(path))
        if store is None:
            return {"models": []}
        registry = Registry(store)
        return {"models": [model_summary(m, registry.versions(m.name)) for m in registry.models()]}


class ModelHandler(_RegistryHandler):
    @tornado.web.authenticated
    @json_errors
    async def get(self, name: str) -> None:
        await self.reply(self.detail, self.path_argument(), name)

    def detail(self, path: str, name: str) -> dict:
        store, registry = self.named(path, name)
        return model_record(store, registry, name)


class AliasesHandler(_RegistryHandler):
    USAGE = '{"alias": "champion", "version": 2}'

    @tornado.web.authenticated
    @json_errors
    async def post(self, name: str) -> None:
        await self.reply(self.set_alias, self.path_argument(), name, self.request.body)

    def set_alias(self, path: str, name: str, body: bytes) -> dict:
        request = _body(body, self.USAGE)
        alias, version = _text(request, "alias", self.USAGE), _version_of(request, self.USAGE)
        store, registry = self.named(path, name)
        registry.set_alias(name, alias, version)
        return model_record(store, registry, name)


class AliasHandler(_RegistryHandler):
    @tornado.web.authenticated
    @json_errors
    async def delete(self, name: str, alias: str) -> None:
        await self.reply(self.delete_alias, self.path_argument(), name, alias)

    def delete_alias(self, path: str, name: str, alias: str) -> dict:
        store, registry = self.named(path, name)
        if alias not in registry.model(name).aliases:
            raise Missing(f"model {name!r} has no alias {alias!r}")
        registry.delete_alias(name, alias)
        return model_record(store, registry, name)


class StageHandler(_RegistryHandler):
    USAGE = '{"stage": "Production", "archive_existing": false}'

    @tornado.web.authenticated
    @json_errors
    async def post(self, name: str, version: str) -> None:
        await self.reply(self.transition, self.path_argument(), name, version, self.request.body)

    def transition(self, path: str, name: str, version: str, body: bytes) -> dict:
        request = _body(body, self.USAGE)
        stage = _text(request, "stage", self.USAGE)
        archive = request.get("archive_existing", False)
        if not isinstance(archive, bool):
            raise ValueError(f"'archive_existing' must be true or false; post {self.USAGE}")
        store, registry = self.named(path, name)
        try:
            number = registry.version(name, version).version
        except RegistryError as e:
            raise Missing(str(e)) from None
        registry.transition(name, number, stage, archive_existing=archive)
        return model_record(store, registry, name)


ROUTES = [
    (r"models", ModelsHandler),
    (_MODEL, ModelHandler),
    (_MODEL + r"/aliases", AliasesHandler),
    (_MODEL + r"/aliases/(?P<alias>[^/]+)", AliasHandler),
    (_MODEL + r"/versions/(?P<version>[^/]+)/stage", StageHandler),
]

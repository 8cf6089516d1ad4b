"""``mj.log_model``, ``mj.register_model`` and ``mj.load_model``: models in the run store, named by
MLflow's URIs — ``models:/NAME/3``, ``models:/NAME@champion``, ``models:/NAME/Production``,
``models:/NAME/latest`` and ``runs:/RUN/ARTIFACT``."""

from __future__ import annotations

import os
import re
from typing import Any

from ..core import model_files
from ..core.objects import ObjectStore
from ..core.registry import LoggedModel, ModelVersion, Registry, RegistryError, canonical_stage, check_name
from . import tracking

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<which>[^/]+))$")
_RUNS_URI = re.compile(r"^runs:/(?P<run>[0-9a-fA-F]+)/(?P<artifact>.+)$")


def log_model(obj: Any, name: str = "model", registered_model_name: str | None = None,
              input_example: Any = None) -> LoggedModel | ModelVersion:
    """Store ``obj`` as the model ``name`` of the current run (a stage's, or one started as
    ``log_metric`` starts one); with ``registered_model_name``, also as a new version of that
    model, which is returned."""
    run = tracking.TRACKER.current()
    model = store_model(run.store, run.project, run.run_id, obj, name, input_example)
    if registered_model_name is None:
        return model
    return Registry(run.store).register(registered_model_name, run.run_id, name)


def store_model(store, project, run_id: str, obj: Any, name: str, input_example: Any = None) -> LoggedModel:
    """``obj`` as the model ``name`` of run ``run_id``: its bytes into the cache, its row into the store."""
    check_name(name)
    data, flavor, info = model_files.dump(obj)
    digest, size = ObjectStore(project.cache_dir).put_bytes(data)
    model = LoggedModel(run_id, name, flavor, digest, size, model_files.signature(input_example), info)
    Registry(store).add_logged_model(model)
    return model


def register_model(name: str, run_id_or_model_uri: str, project: str | os.PathLike | None = None) -> ModelVersion:
    """A new version of model ``name`` for a logged model: ``runs:/RUN/ARTIFACT``, or a run id
    (its model ``model``)."""
    store, _ = tracking.TRACKER.open(project)
    found = _RUNS_URI.match(run_id_or_model_uri)
    run, artifact = (found["run"], found["artifact"]) if found else (run_id_or_model_uri, "model")
    return Registry(store).register(name, store.resolve_run_id(run), artifact)


def load_model(uri: str, project: str | os.PathLike | None = None) -> Any:
    """The model object at ``uri``, its bytes verified against their hash before they are read."""
    store, project_ = tracking.TRACKER.open(project)
    registry = Registry(store)
    model = logged_model_at(registry, uri)
    data = ObjectStore(project_.cache_dir).read_bytes(model.hash)  # raises CorruptObject on a changed byte
    return model_files.load(data, model.flavor, model.info)


def logged_model_at(registry: Registry, uri: str) -> LoggedModel:
    found = _RUNS_URI.match(uri)
    if found:
        return registry.logged_model(registry.store.resolve_run_id(found["run"]), found["artifact"])
    found = _MODELS_URI.match(uri)
    if not found:
        raise RegistryError(f"{uri!r} is no model URI: use models:/NAME/VERSION, models:/NAME@ALIAS, "
                            "models:/NAME/STAGE or runs:/RUN_ID/ARTIFACT")
    name, alias, which = found["name"], found["alias"], found["which"]
    if alias:
        version = registry.by_alias(name, alias)
    elif re.fullmatch(r"v?\d+|latest", which, re.IGNORECASE):
        version = registry.version(name, which)
    else:
        canonical_stage(which)  # one line naming the stages when it is none
        version = registry.by_stage(name, which)
    return registry.logged_model(version.run_id, version.artifact)

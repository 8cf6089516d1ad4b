"""The model registry, in the run store: logged models (a run's model object with its flavor and
signature), registered models with auto-numbered versions (each linked to the run that logged it,
hence to its params, metrics and lineage), tags on models and versions, aliases and stages as
MLflow has them, and an audit history of every registration, alias move and stage transition.

MLflow's rules: an alias matches ``^[\\w\\-]+$`` and is neither ``latest`` nor ``vN`` (those name
versions in URIs); a stage is one of None, Staging, Production, Archived (any case in), and moving
a version to a stage with ``archive_existing`` archives the versions already there.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import MlopsError
from .store import RunStore, now_ms

STAGES = ("None", "Staging", "Production", "Archived")
_ALIAS = re.compile(r"^[\w\-]+$")
_VERSION_ALIAS = re.compile(r"^v\d+$", re.IGNORECASE)
_NAME = re.compile(r"^[^/:@\x00-\x1f]+$")  # a model name is one segment of a models:/ URI


class RegistryError(MlopsError):
    """A bad name, alias, stage or version: the message says what to give instead."""


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    name: str  # the artifact name on its run (runs:/RUN/NAME)
    flavor: str  # sklearn, onnx or python
    hash: str
    size: int
    signature: dict | None
    info: dict  # library versions and what loading needs


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str
    artifact: str
    stage: str
    created_time: int
    aliases: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    created_time: int
    updated_time: int
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, int]  # alias -> version
    latest_version: int | None


@dataclass(frozen=True)
class HistoryEntry:
    name: str
    version: int | None
    action: str  # registered, alias, alias removed, stage, tag
    what: str | None  # the alias or tag key
    old: str | None
    new: str | None
    user: str
    time: int


def canonical_stage(stage: str) -> str:
    for known in STAGES:
        if stage.strip().lower() == known.lower():
            return known
    raise RegistryError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")


def check_alias(alias: str) -> str:
    if not _ALIAS.match(alias):
        raise RegistryError(f"alias {alias!r} may hold only letters, digits, _ and -")
    if alias.lower() == "latest" or _VERSION_ALIAS.match(alias):
        raise RegistryError(f"alias {alias!r} is reserved (latest and vN name versions): choose another")
    return alias


def check_name(name: str) -> str:
    if not name or not _NAME.match(name) or name != name.strip():
        raise RegistryError(f"model name {name!r} cannot be empty or hold /, :, @ or control characters")
    return name


def _user() -> str:
    try:
        return os.environ.get("MLOPS_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Registry:
    """The registry of one run store."""

    def __init__(self, store: RunStore):
        self.store = store

    # --- logged models ------------------------------------------------------------------------

    def add_logged_model(self, model: LoggedModel) -> None:
        num = self.store._num(model.run_id)
        with self.store._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO logged_models (run, name, flavor, hash, size, signature, info, created_time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [num, model.name, model.flavor, model.hash, model.size,
                 None if model.signature is None else json.dumps(model.signature), json.dumps(model.info), now_ms()],
            )

    def logged_model(self, run_id: str, name: str) -> LoggedModel:
        rows = self.store._query(
            "SELECT r.id, m.name, m.flavor, m.hash, m.size, m.signature, m.info FROM logged_models m"
            " JOIN runs r ON r.num = m.run WHERE m.run = ? AND m.name = ?", [self.store._num(run_id), name])
        if not rows:
            known = [n for (n,) in self.store._query("SELECT name FROM logged_models WHERE run = ?",
                                                    [self.store._num(run_id)])]
            raise RegistryError(f"run {run_id[:8]} logged no model {name!r}"
                                + (f" (it logged: {', '.join(known)})" if known else " (it logged none)"))
        return _logged(rows[0])

    # --- registered models and versions -------------------------------------------------------

    def register(self, name: str, run_id: str, artifact: str, *, description: str | None = None) -> ModelVersion:
        """A new version of ``name`` (created if new) for the model ``artifact`` of ``run_id``."""
        check_name(name)
        model = self.logged_model(run_id, artifact)
        now = now_ms()
        with self.store._write() as conn:
            conn.execute("INSERT OR IGNORE INTO registered_models (name, created_time, updated_time) VALUES (?, ?, ?)",
                         [name, now, now])
            model_id = conn.execute("SELECT id FROM registered_models WHERE name = ?", [name]).fetchone()[0]
            version = conn.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model = ?",
                                   [model_id]).fetchone()[0]
            conn.execute(
                "INSERT INTO model_versions (model, version, run, artifact, stage, description, created_time)"
                " VALUES (?, ?, ?, ?, 'None', ?, ?)",
                [model_id, version, self.store._num(model.run_id), artifact, description, now])
            conn.execute("UPDATE registered_models SET updated_time = ? WHERE id = ?", [now, model_id])
            self._log(conn, model_id, version, "registered", None, None, f"runs:/{model.run_id}/{artifact}")
        return self.version(name, version)

    def models(self) -> list[RegisteredModel]:
        return [self.model(name) for (name,) in self.store._query("SELECT name FROM registered_models ORDER BY name")]

    def model(self, name: str) -> RegisteredModel:
        model_id = self._model_id(name)
        row = self.store._query(
            "SELECT name, created_time, updated_time, description,"
            " (SELECT MAX(version) FROM model_versions WHERE model = m.id) FROM registered_models m WHERE id = ?",
            [model_id])[0]
        tags = dict(self.store._query("SELECT key, value FROM registered_model_tags WHERE model = ? ORDER BY key",
                                      [model_id]))
        aliases = dict(self.store._query(
            "SELECT a.alias, v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id"
            " WHERE a.model = ? ORDER BY a.alias", [model_id]))
        return RegisteredModel(row[0], row[1], row[2], row[3], tags, aliases, row[4])

    def versions(self, name: str) -> list[ModelVersion]:
        model_id = self._model_id(name)
        return [self.version(name, v) for (v,) in self.store._query(
            "SELECT version FROM model_versions WHERE model = ? ORDER BY version DESC", [model_id])]

    def version(self, name: str, version: int | str) -> ModelVersion:
        model_id = self._model_id(name)
        number = self._number(name, version)
        rows = self.store._query(
            "SELECT v.id, v.version, r.id, v.artifact, v.stage, v.created_time, v.description FROM model_versions v"
            " JOIN runs r ON r.num = v.run WHERE v.model = ? AND v.version = ?", [model_id, number])
        if not rows:
            latest = self.store._query("SELECT MAX(version) FROM model_versions WHERE model = ?", [model_id])[0][0]
            raise RegistryError(f"model {name!r} has no version {number} (latest: {latest or 'none'})")
        version_id, number, run_id, artifact, stage, created, description = rows[0]
        aliases = tuple(a for (a,) in self.store._query(
            "SELECT alias FROM model_aliases WHERE version_id = ? ORDER BY alias", [version_id]))
        tags = dict(self.store._query("SELECT key, value FROM model_version_tags WHERE version_id = ? ORDER BY key",
                                      [version_id]))
        return ModelVersion(name, number, run_id, artifact, stage, created, aliases, tags, description)

    def by_alias(self, name: str, alias: str) -> ModelVersion:
        rows = self.store._query(
            "SELECT v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id"
            " WHERE a.model = ? AND a.alias = ?", [self._model_id(name), alias])
        if not rows:
            known = ", ".join(self.model(name).aliases) or "none"
            raise RegistryError(f"model {name!r} has no alias {alias!r} (aliases: {known})")
        return self.version(name, rows[0][0])

    def by_stage(self, name: str, stage: str) -> ModelVersion:
        """The newest version of ``name`` in ``stage`` (MLflow's ``models:/NAME/Production``)."""
        stage = canonical_stage(stage)
        rows = self.store._query("SELECT MAX(version) FROM model_versions WHERE model = ? AND stage = ?",
                                 [self._model_id(name), stage])
        if rows[0][0] is None:
            raise RegistryError(f"model {name!r} has no version in stage {stage}: "
                                f"mlops-jupyter models stage {name} VERSION {stage}")
        return self.version(name, rows[0][0])

    # --- aliases, stages, tags ---------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        check_alias(alias)
        target = self.version(name, version)
        model_id = self._model_id(name)
        with self.store._write() as conn:
            old = conn.execute(
                "SELECT v.version FROM model_aliases a JOIN model_versions v ON v.id = a.version_id"
                " WHERE a.model = ? AND a.alias = ?", [model_id, alias]).fetchone()
            conn.execute("INSERT OR REPLACE INTO model_aliases (model, alias, version_id) VALUES (?, ?, ?)",
                         [model_id, alias, self._version_id(conn, model_id, target.version)])
            self._touch(conn, model_id)
            self._log(conn, model_id, target.version, "alias", alias, None if old is None else str(old[0]),
                      str(target.version))
        return self.version(name, target.version)

    def delete_alias(self, name: str, alias: str) -> None:
        current = self.by_alias(name, alias)
        model_id = self._model_id(name)
        with self.store._write() as conn:
            conn.execute("DELETE FROM model_aliases WHERE model = ? AND alias = ?", [model_id, alias])
            self._touch(conn, model_id)
            self._log(conn, model_id, current.version, "alias removed", alias, str(current.version), None)

    def transition(self, name: str, version: int | str, stage: str, *, archive_existing: bool = False) -> ModelVersion:
        stage = canonical_stage(stage)
        target = self.version(name, version)
        model_id = self._model_id(name)
        with self.store._write() as conn:
            moves = [(target.version, target.stage, stage)] if target.stage != stage else []
            if archive_existing and stage in ("Staging", "Production"):
                moves += [(v, stage, "Archived") for (v,) in conn.execute(
                    "SELECT version FROM model_versions WHERE model = ? AND stage = ? AND version != ?",
                    [model_id, stage, target.version])]
            for number, old, new in moves:
                conn.execute("UPDATE model_versions SET stage = ? WHERE model = ? AND version = ?",
                             [new, model_id, number])
                self._log(conn, model_id, number, "stage", None, old, new)
            self._touch(conn, model_id)
        return self.version(name, target.version)

    def set_tag(self, name: str, key: str, value: Any, version: int | str | None = None) -> None:
        model_id = self._model_id(name)
        with self.store._write() as conn:
            if version is None:
                conn.execute("INSERT OR REPLACE INTO registered_model_tags (model, key, value) VALUES (?, ?, ?)",
                             [model_id, key, str(value)])
                number = None
            else:
                number = self.version(name, version).version
                conn.execute("INSERT OR REPLACE INTO model_version_tags (version_id, key, value) VALUES (?, ?, ?)",
                             [self._version_id(conn, model_id, number), key, str(value)])
            self._touch(conn, model_id)
            self._log(conn, model_id, number, "tag", key, None, str(value))

    def last_change(self) -> int:
        """The number of the newest history entry of any model: it grows with every registration,
        alias move, stage transition and tag, so it is cheap to poll."""
        return self.store._query("SELECT COALESCE(MAX(id), 0) FROM model_history")[0][0]

    def history(self, name: str) -> list[HistoryEntry]:
        return [HistoryEntry(name, *row) for row in self.store._query(
            "SELECT version, action, what, old, new, user, time FROM model_history WHERE model = ? ORDER BY id",
            [self._model_id(name)])]

    # --- inside -------------------------------------------------------------------------------

    def _model_id(self, name: str) -> int:
        rows = self.store._query("SELECT id FROM registered_models WHERE name = ?", [name])
        if not rows:
            raise RegistryError(f"no registered model {name!r}; `mlops-jupyter models ls` lists them")
        return rows[0][0]

    def _number(self, name: str, version: int | str) -> int:
        text = str(version).strip()
        if text.lower() == "latest":
            latest = self.model(name).latest_version
            if latest is None:
                raise RegistryError(f"model {name!r} has no versions")
            return latest
        text = text[1:] if _VERSION_ALIAS.match(text) else text
        if not text.isdigit() or int(text) < 1:
            raise RegistryError(f"version {version!r} of {name!r} is not a version number (1, 2, …)")
        return int(text)

    @staticmethod
    def _version_id(conn, model_id: int, number: int) -> int:
        return conn.execute("SELECT id FROM model_versions WHERE model = ? AND version = ?",
                            [model_id, number]).fetchone()[0]

    @staticmethod
    def _touch(conn, model_id: int) -> None:
        conn.execute("UPDATE registered_models SET updated_time = ? WHERE id = ?", [now_ms(), model_id])

    @staticmethod
    def _log(conn, model_id: int, version: int | None, action: str, what, old, new) -> None:
        conn.execute(
            "INSERT INTO model_history (model, version, action, what, old, new, user, time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [model_id, version, action, what, old, new, _user(), now_ms()])


def _logged(row) -> LoggedModel:
    run_id, name, flavor, digest, size, signature, info = row
    return LoggedModel(run_id, name, flavor, digest, size, None if signature is None else json.loads(signature),
                       json.loads(info))

"""Remotes: where a project's objects, stage results and run records go past this machine.

A remote is any fsspec URL (``s3://bucket/path``, ``gs://…``, ``az://…``, ``ssh://host/path``, a
local or network folder), named in ``.mlops/config.toml``::

    [core]
    remote = "storage"          # the default remote

    [remote.storage]
    url = "s3://bucket/project"
    endpoint_url = "http://127.0.0.1:8333"   # options for the file system (never credentials)
    trusted = true              # pickled variables pulled from it may be restored

The file is meant to be committed, so credentials are never written to it: they come from the
environment or the file system's own chain (AWS profiles, ``~/.aws/credentials``, …); ``profile``
names one. The config file is edited with tomlkit, so a user's comments and order stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MlopsError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Options a remote may carry, and where they go in fsspec's arguments. Anything secret is refused.
OPTIONS = {
    "endpoint_url": "endpoint URL of an S3-compatible server (MinIO, SeaweedFS, …)",
    "profile": "AWS profile to take credentials from",
    "region": "the bucket's region",
}
SECRETS = ("key", "secret", "password", "token", "access_key", "secret_key", "credential")


class RemoteError(MlopsError):
    """A remote that is unknown, badly configured or unreachable."""


@dataclass(frozen=True)
class RemoteConfig:
    name: str
    url: str
    trusted: bool = False
    options: dict[str, str] = field(default_factory=dict)

    def storage_options(self) -> dict[str, Any]:
        """fsspec's keyword arguments for this remote's file system."""
        out: dict[str, Any] = {}
        if self.url.startswith(("s3://", "s3a://")):
            client: dict[str, Any] = {}
            if "endpoint_url" in self.options:
                client["endpoint_url"] = self.options["endpoint_url"]
            if "region" in self.options:
                client["region_name"] = self.options["region"]
            if client:
                out["client_kwargs"] = client
            if "profile" in self.options:
                out["profile"] = self.options["profile"]
        return out


def parse(section: Any, path: Path) -> dict[str, RemoteConfig]:
    """The ``[remote.NAME]`` tables of a config file."""
    if not isinstance(section, dict):
        raise RemoteError(f"{path}: 'remote' must be a table of [remote.NAME] tables")
    remotes = {}
    for name, table in section.items():
        if not isinstance(table, dict) or not isinstance(table.get("url"), str) or not table["url"]:
            raise RemoteError(f"{path}: [remote.{name}] needs a url = \"...\" (fix it or run `mlops-jupyter remote remove {name}`)")
        unknown = set(table) - {"url", "trusted", *OPTIONS}
        if unknown:
            raise RemoteError(
                f"{path}: [remote.{name}] has unknown option {sorted(unknown)[0]!r}; known: url, trusted, "
                + ", ".join(OPTIONS)
            )
        if not isinstance(table.get("trusted", False), bool):
            raise RemoteError(f"{path}: [remote.{name}] trusted must be true or false")
        remotes[name] = RemoteConfig(
            name, table["url"], table.get("trusted", False), {k: str(table[k]) for k in OPTIONS if k in table}
        )
    return remotes


def check_option(key: str) -> None:
    if any(secret in key.lower() for secret in SECRETS):
        raise RemoteError(
            f"{key!r} is a credential: it never goes into .mlops/config.toml (which is committed); "
            "set it in the environment (e.g. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) or an AWS profile"
        )
    if key not in OPTIONS:
        raise RemoteError(f"unknown remote option {key!r}; known: " + ", ".join(f"{k} ({v})" for k, v in OPTIONS.items()))


def _document(path: Path):
    import tomlkit

    try:
        return tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    except tomlkit.exceptions.ParseError as e:
        raise RemoteError(f"{path}: not valid TOML ({e}); fix or delete the file") from None


def _write(path: Path, document) -> None:
    import tomlkit

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(tomlkit.dumps(document))
    tmp.replace(path)


def add(path: Path, name: str, url: str, *, default: bool, trusted: bool | None, options: dict[str, str],
        existing: dict[str, RemoteConfig], force: bool = False) -> RemoteConfig:
    """Add (or with ``force`` replace) a remote. ``trusted`` unset: the first remote a user adds is
    trusted (it is theirs), later ones are not."""
    import tomlkit

    if not NAME.match(name):
        raise RemoteError(f"remote name {name!r}: use letters, digits, '.', '_' and '-'")
    if name in existing and not force:
        raise RemoteError(f"remote {name!r} exists ({existing[name].url}); pass --force to replace it")
    for key in options:
        check_option(key)
    if trusted is None:
        trusted = existing[name].trusted if name in existing else not existing
    document = _document(path)
    remotes = document.setdefault("remote", tomlkit.table(is_super_table=True))
    table = tomlkit.table()
    table["url"] = url
    table["trusted"] = trusted
    for key, value in options.items():
        table[key] = value
    remotes[name] = table
    if default or not existing:
        document.setdefault("core", tomlkit.table())["remote"] = name
    _write(path, document)
    return RemoteConfig(name, url, trusted, dict(options))


def remove(path: Path, name: str, existing: dict[str, RemoteConfig]) -> None:
    if name not in existing:
        raise RemoteError(f"no remote {name!r}; remotes: {', '.join(existing) or 'none'}")
    document = _document(path)
    del document["remote"][name]
    core = document.get("core")
    if core is not None and core.get("remote") == name:
        del core["remote"]
    _write(path, document)


def set_default(path: Path, name: str, existing: dict[str, RemoteConfig]) -> None:
    import tomlkit

    if name not in existing:
        raise RemoteError(f"no remote {name!r}; remotes: {', '.join(existing) or 'none'}")
    document = _document(path)
    document.setdefault("core", tomlkit.table())["remote"] = name
    _write(path, document)


def modify(path: Path, name: str, existing: dict[str, RemoteConfig], *, trusted: bool | None = None,
           options: dict[str, str] | None = None, unset: tuple[str, ...] = ()) -> None:
    if name not in existing:
        raise RemoteError(f"no remote {name!r}; remotes: {', '.join(existing) or 'none'}")
    document = _document(path)
    table = document["remote"][name]
    if trusted is not None:
        table["trusted"] = trusted
    for key, value in (options or {}).items():
        check_option(key)
        table[key] = value
    for key in unset:
        check_option(key)
        table.pop(key, None)
    _write(path, document)

"""DVC-compatible params files and the read-only view a stage sees.

A stage declares what it reads with ``-p`` (keys or whole sections); inside it,
``params`` holds exactly those, so the fingerprint covers every value it can
read. Overrides from ``mlops-jupyter run -p key=value`` arrive in
``$MLOPS_JUPYTER_PARAMS`` (JSON) and win over the file, which is never edited.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import runenv, yamlio
from .errors import MlopsError
from .spec import ParamRef

_MISSING = object()


class ParamsError(MlopsError, ValueError):
    """A params file that is missing or malformed, or a declared key it lacks."""


class UndeclaredParam(MlopsError, AttributeError):
    """A stage read a param it did not declare with ``-p``."""


def load_file(path: Path) -> dict:
    if not path.exists():
        raise ParamsError(f"{path} does not exist: create it with the params the stage declares")
    try:
        data = yamlio.load_user(path.read_text()) or {}
    except yamlio.UserYAMLError as e:
        raise ParamsError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path} must hold a mapping of params at its top level")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """``train.n_est=200`` -> ("train.n_est", 200); the value is read as YAML 1.2, as params files."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ParamsError(f"param override {text!r} must look like key=value, e.g. train.n_est=200")
    try:
        return key.strip(), yamlio.load_user(value)
    except yamlio.UserYAMLError:
        return key.strip(), value


def overrides_from_env() -> dict[str, Any]:
    raw = os.environ.get(runenv.PARAMS)
    return json.loads(raw) if raw else {}


def _lookup(data: Mapping, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _assign(tree: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def apply_overrides(data: dict, overrides: Mapping[str, Any]) -> dict:
    data = json.loads(json.dumps(data, default=str))  # a deep copy of plain data
    for key, value in overrides.items():
        _assign(data, key, value)
    return data


def resolve(root: Path, refs: Iterable[ParamRef], overrides: Mapping[str, Any] | None = None) -> dict[str, dict]:
    """{file: nested dict of the declared keys only}."""
    overrides = overrides_from_env() if overrides is None else overrides
    files: dict[str, dict] = {}
    declared: dict[str, dict] = {}
    for ref in refs:
        if ref.file not in files:
            files[ref.file] = apply_overrides(load_file(root / ref.file), overrides)
        value = _lookup(files[ref.file], ref.key)
        if value is _MISSING:
            raise ParamsError(f"{ref.file} has no param {ref.key!r}: add it, or fix the -p flag")
        _assign(declared.setdefault(ref.file, {}), ref.key, value)
    return declared


def flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{"train": {"n_est": 100}} -> {"train.n_est": 100}."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def merged(declared: Mapping[str, dict]) -> dict:
    """The declared params of every file as one tree (later files win on a clash)."""
    tree: dict = {}
    for values in declared.values():
        for key, value in flatten(values).items():
            _assign(tree, key, value)
    return tree


class ParamsView(Mapping):
    """Read-only, attribute-accessible view of a stage's declared params."""

    # A function that reads `params` reads the running stage's declared params, which the
    # fingerprint holds already: as a global it hashes the same whatever stage set it last.
    __mlops_hash__ = "params"

    def __init__(self, data: Mapping, stage: str = "", prefix: str = ""):
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_stage", stage)
        object.__setattr__(self, "_prefix", prefix)

    def _get(self, key: str) -> Any:
        data = object.__getattribute__(self, "_data")
        prefix = object.__getattribute__(self, "_prefix")
        stage = object.__getattribute__(self, "_stage")
        if key not in data:
            full = prefix + key
            raise UndeclaredParam(
                f"param {full!r} is not declared by stage {stage!r}: add -p {full} to its %%stage line"
            )
        value = data[key]
        return ParamsView(value, stage, f"{prefix}{key}.") if isinstance(value, Mapping) else value

    def __getattr__(self, key: str) -> Any:
        __tracebackhide__ = True
        if key.startswith("__"):
            raise AttributeError(key)
        return self._get(key)

    def __getitem__(self, key: str) -> Any:
        __tracebackhide__ = True
        return self._get(key)

    def __setattr__(self, key, value):
        raise TypeError("params are read-only: change params.yaml (or run -p key=value) instead")

    def __contains__(self, key) -> bool:
        return key in object.__getattribute__(self, "_data")

    def __iter__(self):
        return iter(object.__getattribute__(self, "_data"))

    def __len__(self) -> int:
        return len(object.__getattribute__(self, "_data"))

    def __repr__(self) -> str:
        return f"params({dict(object.__getattribute__(self, '_data'))!r})"

    def to_dict(self) -> dict:
        return json.loads(json.dumps(object.__getattribute__(self, "_data")))

"""Checks and encodings for keys, params and metric values."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import InvalidKey, InvalidValue

MAX_KEY_LENGTH = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(kind: str, key: Any) -> str:
    """A key is a non-empty string without control characters or edge spaces.

    Anything else printable is allowed (``train.n_est``, ``loss/val``,
    ``précision @5``): filters quote such keys with backticks.
    """
    if not isinstance(key, str):
        raise InvalidKey(f"{kind} key must be a string, got {type(key).__name__} {key!r}")
    if not key or key != key.strip():
        raise InvalidKey(f"{kind} key {key!r} is empty or has leading/trailing spaces")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"{kind} key {key[:40]!r}… is longer than {MAX_KEY_LENGTH} characters")
    if _CONTROL.search(key):
        raise InvalidKey(f"{kind} key {key!r} contains a control character (newline, tab…)")
    return key


def metric_value(key: str, value: Any) -> float:
    """A metric is any real number (numpy scalars and 0-d tensors included)."""
    if isinstance(value, (str, bytes)) or value is None:
        raise InvalidValue(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}; "
            "log text as a tag or a param"
        )
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidValue(
            f"metric {key!r} must be a number, got {type(value).__name__}"
        ) from None
    except OverflowError:
        raise InvalidValue(f"metric {key!r} is too large for a float (64 bits): {str(value)[:40]}…") from None


# Params are stored typed: `value` keeps SQLite's own type, `type` says how to
# read it back.
def encode_param(key: str, value: Any) -> tuple[Any, str]:
    if value is None:
        return None, "null"
    if isinstance(value, bool):
        return int(value), "bool"
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return value, "int"
        return str(value), "bigint"
    if isinstance(value, float):
        if math.isnan(value):  # SQLite would store NULL
            return "nan", "float"
        return value, "float"
    if isinstance(value, str):
        return value, "str"
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return encode_param(key, item())
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False), "json"
    except (TypeError, ValueError):
        raise InvalidValue(
            f"param {key!r}: cannot store a {type(value).__name__}; "
            "log numbers, strings, booleans, None, or lists/dicts of them"
        ) from None


def decode_param(value: Any, kind: str) -> Any:
    if kind in ("int", "str"):
        return value
    if kind == "float":
        return float(value)  # "nan" / "inf" come back as text
    if kind == "bool":
        return bool(value)
    if kind == "null":
        return None
    if kind == "bigint":
        return int(value)
    return json.loads(value)


def file_metrics(path) -> dict[str, float]:
    """The numbers of a metrics file a stage wrote (JSON, or YAML 1.2), flattened: ``{"nested.f1": 0.8}``.
    Raises ``OSError`` or ``ValueError`` (one line) when it cannot be read."""
    from . import yamlio
    from .params import flatten

    data = yamlio.load_data_file(path)
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in flatten(data).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}

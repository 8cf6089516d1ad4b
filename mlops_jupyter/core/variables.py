"""Hashing and saving the values of notebook variables.

Hashes: numpy arrays by dtype, shape and buffer; pandas objects column by
column (numeric buffers directly, others through ``hash_pandas_object``) with
their dtypes and index; plain data by a canonical JSON encoding; anything else
by its pickle bytes (cloudpickle, so functions and classes defined in the
notebook work). Saved forms are typed where it matters: ``.npy`` without
pickle, parquet, JSON, and pickle only as the fallback.

numpy and pandas are imported only when such a value shows up.
"""

from __future__ import annotations

import io
import json
import math
import sys
import types
from typing import Any

import blake3

from .errors import MlopsError

_PLAIN = (type(None), bool, int, float, str)


class UnsupportedValue(MlopsError):
    """A value that cannot be hashed or saved (an open file, a generator, a lock…)."""


def _module_of(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def _is_numpy(value: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.ndarray)


def _is_pandas(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(value, (pd.DataFrame, pd.Series))


def _plain(value: Any, depth: int = 0) -> bool:
    """Data that JSON holds exactly: None, bools, ints, finite floats, str, and lists/dicts of them."""
    if depth > 50:
        return False
    if type(value) in _PLAIN:
        return not (type(value) is float and not math.isfinite(value))
    if type(value) is list:
        return all(_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def _hash_array(hasher, array) -> None:
    import numpy as np

    hasher.update(f"ndarray:{array.dtype.str}:{array.shape}".encode())
    if array.dtype.hasobject:
        hasher.update(_hash_bytes_of(array))
    else:
        hasher.update(memoryview(np.ascontiguousarray(array)).cast("B"))


def _hash_pandas(hasher, value) -> None:
    import pandas as pd

    frame = value.to_frame() if isinstance(value, pd.Series) else value
    hasher.update(f"{type(value).__name__}:{list(map(str, frame.columns))}:{list(map(str, frame.dtypes))}".encode())
    hasher.update(pd.util.hash_pandas_object(frame.index).to_numpy().tobytes())
    for i in range(frame.shape[1]):
        column = frame.iloc[:, i]
        if column.dtype.kind in "biufcmM" and not isinstance(column.dtype, pd.CategoricalDtype):
            _hash_array(hasher, column.to_numpy())
        else:
            hasher.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())


def _hash_code(hasher, code: types.CodeType) -> None:
    """A function's behaviour, without its file name or line numbers (they change per kernel)."""
    hasher.update(code.co_code)
    hasher.update(repr(code.co_names).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(hasher, const)
        else:
            hasher.update(repr(const).encode())


def _pickle(value: Any) -> bytes:
    """Bytes that restore ``value`` in a fresh kernel: cloudpickle, so notebook-defined code travels."""
    import cloudpickle

    try:
        return cloudpickle.dumps(value, protocol=5)
    except Exception as e:
        raise UnsupportedValue(f"{type(value).__name__} cannot be pickled ({str(e).splitlines()[0][:120]})") from None


def _hash_bytes_of(value: Any) -> bytes:
    """Bytes to hash ``value`` by: the C pickler (twice as fast), unless the value refers to
    code defined in the notebook, which only cloudpickle captures by value."""
    import pickle

    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:
        return _pickle(value)
    return _pickle(value) if b"__main__" in data else data


def value_hash(value: Any) -> str:
    """A content hash of ``value``; raises ``UnsupportedValue``."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if isinstance(value, types.ModuleType):
        hasher.update(f"module:{value.__name__}".encode())
    elif _is_numpy(value):
        _hash_array(hasher, value)
    elif _is_pandas(value):
        _hash_pandas(hasher, value)
    elif isinstance(value, types.FunctionType):
        hasher.update(f"function:{value.__qualname__}".encode())
        _hash_code(hasher, value.__code__)
    elif _plain(value):
        hasher.update(b"json:" + json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
    else:
        hasher.update(b"pickle:" + _hash_bytes_of(value))
    return hasher.hexdigest()


def dump(value: Any, path: str) -> str:
    """Write ``value`` to ``path``; returns its format: npy, parquet, parquet-series, json or pickle."""
    if _is_numpy(value) and not value.dtype.hasobject:
        import numpy as np

        with open(path, "wb") as f:
            np.save(f, value, allow_pickle=False)
        return "npy"
    if _is_pandas(value) and _write_parquet(value, path):
        return "parquet" if _is_frame(value) else "parquet-series"
    if _plain(value):
        with open(path, "w") as f:
            json.dump(value, f)
        return "json"
    data = _pickle(value)
    with open(path, "wb") as f:
        f.write(data)
    return "pickle"


def _is_frame(value) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _write_parquet(value, path: str) -> bool:
    """Write parquet if a sample reads back with the same dtypes and index type (else: pickle)."""
    frame = value if _is_frame(value) else value.to_frame()
    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.duplicated().any():
        return False
    try:
        sample = value.head(8)
        buffer = io.BytesIO()
        (sample if _is_frame(value) else sample.to_frame()).to_parquet(buffer, engine="pyarrow")
        buffer.seek(0)
        back = _read_parquet(buffer, series=not _is_frame(value))
        same_types = back.dtypes.equals(sample.dtypes) if _is_frame(value) else back.dtype == sample.dtype
        if not (same_types and type(back.index) is type(sample.index) and back.index.equals(sample.index)):
            return False
        frame.to_parquet(path, engine="pyarrow")
        return True
    except Exception:
        return False


def _read_parquet(path, *, series: bool):
    import pandas as pd

    frame = pd.read_parquet(path, engine="pyarrow")
    return frame.iloc[:, 0] if series else frame


def load(fmt: str, path: str) -> Any:
    """Read a value written by ``dump``."""
    if fmt == "npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    if fmt in ("parquet", "parquet-series"):
        return _read_parquet(path, series=fmt == "parquet-series")
    with open(path, "rb") as f:
        data = f.read()
    if fmt == "json":
        return json.loads(data)
    if fmt == "pickle":
        import pickle

        return pickle.loads(data)
    raise UnsupportedValue(f"unknown saved format {fmt!r}: written by a newer mlops-jupyter?")

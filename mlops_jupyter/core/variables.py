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
import os
import sys
import types
from typing import Any

import blake3

from .errors import MlopsError

_PLAIN = (type(None), bool, int, float, str)
# DataFrames and Series from this size on are saved as parquet; smaller ones load faster pickled
# (reading parquet first imports pyarrow, ~35 ms, more than a small frame is worth).
PARQUET_FROM = 1 << 20


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


def is_plain(value: Any, depth: int = 0) -> bool:
    """Data that JSON holds exactly: None, bools, ints, finite floats, str, and lists/dicts of them."""
    if depth > 50:
        return False
    if type(value) in _PLAIN:
        return not (type(value) is float and not math.isfinite(value))
    if type(value) is list:
        return all(is_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain(v, depth + 1) for k, v in value.items())
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
            continue
        try:
            hasher.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
        except TypeError:  # unhashable cells (lists, dicts): their pickled values instead
            hasher.update(b"cells:" + _hash_bytes_of(column.tolist()))


# --- code: functions and classes -------------------------------------------------------------

_INSTALLED = tuple({os.path.realpath(p) + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})
_user_modules: dict[str, bool] = {}
_global_names_of: dict[types.CodeType, tuple[str, ...]] = {}


def _is_user_code(obj: Any) -> bool:
    """Code of the notebook (``__main__``) or of a module of the user's own, not an installed one."""
    name = getattr(obj, "__module__", None)
    if not isinstance(name, str):
        return False
    known = _user_modules.get(name)
    if known is None:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        known = name == "__main__" or (
            isinstance(file, str) and not os.path.realpath(file).startswith(_INSTALLED)
        )
        _user_modules[name] = known
    return known


def _code_bytes(code: types.CodeType) -> bytes:
    """A code object's behaviour, without its file name or line numbers (they change per kernel)."""
    parts = [code.co_code, repr(code.co_names).encode()]
    for const in code.co_consts:
        parts.append(_code_bytes(const) if isinstance(const, types.CodeType) else repr(const).encode())
    return b"\x00".join(parts)


def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """The module-level names a function's code (nested code included) loads or stores."""
    names = _global_names_of.get(code)
    if names is None:
        import dis

        found = set()
        for instruction in dis.get_instructions(code):
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"):
                found.add(instruction.argval)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found.update(_global_names(const))
        names = _global_names_of[code] = tuple(sorted(found))
    return names


class _Hashing:
    """One value's hash; ``seen`` stops cycles through the code of the notebook (recursion)."""

    def __init__(self) -> None:
        self.seen: dict[int, bytes] = {}

    def digest(self, value: Any) -> bytes:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        standing = getattr(type(value), "__mlops_hash__", None)
        if isinstance(standing, str):  # a value whose content the fingerprint holds already
            hasher.update(f"as:{standing}".encode())
        elif isinstance(value, types.ModuleType):
            hasher.update(f"module:{value.__name__}".encode())
        elif _is_numpy(value):
            _hash_array(hasher, value)
        elif _is_pandas(value):
            _hash_pandas(hasher, value)
        elif isinstance(value, types.FunctionType):
            self._function(hasher, value)
        elif isinstance(value, type) and _is_user_code(value):
            self._class(hasher, value)
        elif callable(value) and _is_user_code(getattr(value, "__wrapped__", None)):
            # A decorator's wrapper object (functools.lru_cache…): its kind and what it wraps.
            hasher.update(f"wrapped:{type(value).__module__}.{type(value).__qualname__}:".encode())
            hasher.update(self.digest(value.__wrapped__))
        elif is_plain(value):
            hasher.update(b"json:" + json.dumps(value, sort_keys=True, separators=(",", ":")).encode())
        else:
            hasher.update(b"pickle:" + _hash_bytes_of(value, self))
        return hasher.digest()

    def _guarded(self, obj: Any, build) -> bytes:
        """Hash of a piece of notebook code, once per object; a cycle back to it hashes as a marker."""
        key = id(obj)
        if key in self.seen:
            return self.seen[key] or b"<cycle>"
        self.seen[key] = b""
        hasher = blake3.blake3()
        build(hasher)
        self.seen[key] = hasher.digest()
        return self.seen[key]

    def _function(self, hasher, fn: types.FunctionType) -> None:
        hasher.update(f"function:{fn.__module__}:{fn.__qualname__}:".encode())
        hasher.update(_code_bytes(fn.__code__))
        for default in fn.__defaults__ or ():
            hasher.update(self.digest(default))
        for key, default in sorted((fn.__kwdefaults__ or {}).items()):
            hasher.update(key.encode() + self.digest(default))
        if _is_user_code(fn):  # what it reads decides what it does: closure cells and globals
            hasher.update(self._guarded(fn, lambda h: self._surroundings(h, fn)))

    def _surroundings(self, hasher, fn: types.FunctionType) -> None:
        for cell in fn.__closure__ or ():
            try:
                hasher.update(b"cell:" + self.digest(cell.cell_contents))
            except ValueError:  # a cell not filled yet
                hasher.update(b"cell:<empty>")
        namespace = fn.__globals__
        for name in _global_names(fn.__code__):
            if name in namespace:
                hasher.update(f"global:{name}:".encode() + self.digest(namespace[name]))
            else:  # a builtin, or not defined yet: defining it later changes what the function does
                hasher.update(f"global:{name}:<unbound>".encode())

    def _class(self, hasher, cls: type) -> None:
        hasher.update(f"class:{cls.__module__}:{cls.__qualname__}:".encode())
        hasher.update(self._guarded(cls, lambda h: self._members(h, cls)))

    def _members(self, hasher, cls: type) -> None:
        for base in cls.__bases__:
            if base is not object:
                hasher.update(b"base:" + self.digest(base))
        for name, member in sorted(vars(cls).items()):
            if name in _CLASS_BOOKKEEPING:
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            elif isinstance(member, property):
                member = (member.fget, member.fset, member.fdel)
            try:
                hasher.update(f"member:{name}:".encode() + self.digest(member))
            except UnsupportedValue:
                hasher.update(f"member:{name}:{type(member).__qualname__}".encode())


# Set by Python or by pickling (copyreg adds __slotnames__), not by the class body.
_CLASS_BOOKKEEPING = {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__", "__slotnames__",
                      "__firstlineno__", "__static_attributes__"}


def _plain_pickle(value: Any) -> bytes | None:
    """The C pickler's bytes, when they stand alone: None if the value refers to code of the
    notebook (which the C pickler would only name) or cannot be pickled so."""
    import pickle

    try:
        data = pickle.dumps(value, protocol=5)
    except Exception:
        return None
    return None if b"__main__" in data else data


def _cannot_pickle(value: Any, error: Exception) -> UnsupportedValue:
    return UnsupportedValue(f"{type(value).__name__} cannot be pickled ({str(error).splitlines()[0][:120]})")


def _pickle(value: Any) -> bytes:
    """Bytes that restore ``value`` in a fresh kernel: the C pickler's, or cloudpickle's when the
    value refers to code of the notebook."""
    data = _plain_pickle(value)
    if data is not None:
        return data
    import cloudpickle

    try:
        return cloudpickle.dumps(value, protocol=5)
    except Exception as e:
        raise _cannot_pickle(value, e) from None


def _hash_bytes_of(value: Any, hashing: _Hashing | None = None) -> bytes:
    """Bytes to hash ``value`` by: the C pickler's, with the notebook's own functions and classes
    stood for by their code hashes (the pickler would name them only, cloudpickle would add
    file names, line numbers and per-process ids)."""
    import pickle

    data = _plain_pickle(value)
    if data is not None:
        return data
    hashing = hashing or _Hashing()

    class CodeByHash(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, (types.FunctionType, type)) and _is_user_code(obj):
                return hashing.digest(obj)
            return None

    buffer = io.BytesIO()
    try:
        CodeByHash(buffer, protocol=5).dump(value)
    except UnsupportedValue:
        raise
    except Exception as e:
        raise _cannot_pickle(value, e) from None
    return buffer.getvalue()


def value_hash(value: Any) -> str:
    """A content hash of ``value``; raises ``UnsupportedValue``.

    Functions hash by their code, defaults and keyword defaults; those of the notebook (or of a
    module of the user's own) also by their closure cells and the globals they read, through
    every function of the notebook they call. Classes of the notebook hash by their bases and
    members. Any failure to hash is an ``UnsupportedValue`` (the stage then runs uncached).
    """
    try:
        return _Hashing().digest(value).hex()
    except UnsupportedValue:
        raise
    except RecursionError:
        raise UnsupportedValue(f"{type(value).__name__} is nested too deeply to hash") from None
    except Exception as e:
        first = (str(e).splitlines() or [""])[0][:120]
        raise UnsupportedValue(f"{type(value).__name__} could not be hashed ({type(e).__name__}: {first})") from None


def figure_like(value: Any) -> bool:
    """A matplotlib figure, axes or other artist, a collection of them (``plt.subplots`` axes,
    ``plt.plot`` lines), or an object holding one (scikit-learn's ``*Display``)."""
    artist = sys.modules.get("matplotlib.artist")
    if artist is None:
        return False
    kind = artist.Artist
    if isinstance(value, kind):
        return True
    if _is_numpy(value) and value.dtype.hasobject and value.size:
        return all(isinstance(v, kind) for v in value.flat)
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, kind) for v in value)
    attributes = getattr(value, "__dict__", None)
    return isinstance(attributes, dict) and any(isinstance(v, kind) for v in attributes.values())


def dump(value: Any, path: str) -> str:
    """Write ``value`` to ``path``; returns its format: npy, parquet, parquet-series, json or pickle."""
    if _is_numpy(value) and not value.dtype.hasobject:
        import numpy as np

        with open(path, "wb") as f:
            np.save(f, value, allow_pickle=False)
        return "npy"
    if _is_pandas(value) and _size(value) >= PARQUET_FROM and _write_parquet(value, path):
        return "parquet" if _is_frame(value) else "parquet-series"
    if is_plain(value):
        with open(path, "w") as f:
            json.dump(value, f)
        return "json"
    data = _pickle(value)
    with open(path, "wb") as f:
        f.write(data)
    return "pickle"


def _size(value) -> int:
    """Bytes of a DataFrame's or Series' data and index (object cells counted as pointers)."""
    usage = value.memory_usage(index=True)
    return int(usage.sum()) if _is_frame(value) else int(usage)


def _is_frame(value) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _write_parquet(value, path: str) -> bool:
    """Write parquet if it gives the value back: text-only object columns (lists or dicts would
    come back as arrays), and a sample that reads back with the same dtypes and index (else: pickle)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = value if _is_frame(value) else value.to_frame()
    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.duplicated().any():
        return False
    try:
        table = pa.Table.from_pandas(frame)
        for name, dtype in frame.dtypes.items():
            kind = table.schema.field(name).type
            if dtype == object and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                                        or pa.types.is_binary(kind) or pa.types.is_null(kind)):
                return False
        sample = value.head(8)
        buffer = io.BytesIO()
        (sample if _is_frame(value) else sample.to_frame()).to_parquet(buffer, engine="pyarrow")
        buffer.seek(0)
        back = _read_parquet(buffer, series=not _is_frame(value))
        same_types = back.dtypes.equals(sample.dtypes) if _is_frame(value) else back.dtype == sample.dtype
        if not (same_types and type(back.index) is type(sample.index) and back.index.equals(sample.index)):
            return False
        pq.write_table(table, path)
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
        return unpickle(data)
    raise UnsupportedValue(f"unknown saved format {fmt!r}: written by a newer mlops-jupyter?")


def unpickle(data: bytes) -> Any:
    """A pickled value back. Unpickling runs code: callers pass only bytes whose hash verified."""
    import pickle

    return pickle.loads(data)

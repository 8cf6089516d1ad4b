"""A model object as bytes and back, by flavor, and the signature of its input example.

- ``sklearn``: an estimator (anything of scikit-learn's ``BaseEstimator``), pickled; the library
  versions are recorded, and loading with other versions warns, as MLflow does.
- ``onnx``: an ``onnx.ModelProto``, the bytes of one, or a ``.onnx`` file; loaded as a ``ModelProto``
  when ``onnx`` is installed, else as the bytes.
- ``python``: any other object cloudpickle can write (functions and classes of the notebook too).
"""

from __future__ import annotations

import io
import os
import pickle
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

from .errors import MlopsError

_ONNX_MAGIC = b"\x08"  # an ONNX protobuf starts with field 1 (ir_version), varint


class ModelFileError(MlopsError):
    pass


def _is_sklearn(obj: Any) -> bool:
    return any(cls.__module__.startswith("sklearn.") and cls.__name__ == "BaseEstimator" for cls in type(obj).__mro__)


def _library_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def dump(obj: Any) -> tuple[bytes, str, dict]:
    """(bytes, flavor, info) of a model object."""
    if _is_sklearn(obj):
        return pickle.dumps(obj, protocol=5), "sklearn", _library_versions("scikit-learn", "numpy", "scipy")
    if type(obj).__name__ == "ModelProto" and hasattr(obj, "SerializeToString"):
        return obj.SerializeToString(), "onnx", _library_versions("onnx")
    if isinstance(obj, (str, os.PathLike)) and str(obj).endswith(".onnx"):
        path = Path(obj)
        if not path.is_file():
            raise ModelFileError(f"log_model: {path} does not exist")
        return path.read_bytes(), "onnx", _library_versions("onnx")
    if isinstance(obj, (bytes, bytearray)):
        if not bytes(obj[:1]) == _ONNX_MAGIC:
            raise ModelFileError("log_model: these bytes are no ONNX model; pass the model object itself")
        return bytes(obj), "onnx", _library_versions("onnx")
    import cloudpickle

    try:
        return cloudpickle.dumps(obj, protocol=5), "python", _library_versions("cloudpickle")
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise ModelFileError(f"log_model: {type(obj).__name__} cannot be pickled ({e}); "
                             "log what it is made of instead") from None


def load(data: bytes, flavor: str, info: dict) -> Any:
    if flavor == "onnx":
        try:
            import onnx
        except ImportError:
            return data
        return onnx.load_model_from_string(data)
    if flavor == "sklearn":
        _warn_versions(info, "scikit-learn")
    try:
        return pickle.load(io.BytesIO(data))
    except ModuleNotFoundError as e:
        raise ModelFileError(f"the model needs {e.name}, which is not installed here: pip install {e.name}") from None


def _warn_versions(info: dict, library: str) -> None:
    wanted = info.get(library)
    here = _library_versions(library).get(library)
    if wanted and here and wanted != here:
        warnings.warn(f"the model was saved with {library} {wanted}; this is {here}: predictions may differ",
                      stacklevel=3)


def signature(example: Any) -> dict | None:
    """Column names and dtypes of a DataFrame, or dtype and shape (first axis free) of an array."""
    if example is None:
        return None
    if hasattr(example, "dtypes") and hasattr(example, "columns"):
        return {"inputs": [{"name": str(c), "type": str(t)} for c, t in example.dtypes.items()]}
    if "numpy" in sys.modules or hasattr(example, "shape"):
        import numpy as np

        array = np.asarray(example)
        return {"inputs": {"dtype": str(array.dtype), "shape": [-1, *array.shape[1:]]}}
    return None

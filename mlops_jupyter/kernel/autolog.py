"""scikit-learn autologging, as MLflow's ``sklearn.autolog``: each outermost ``fit`` (also
``fit_transform``, ``fit_predict``) of an estimator records its ``get_params()`` as params, training
metrics on the data it was fitted on, and the fitted model — on the run that was current when it
fitted, named by the variable that holds the estimator when the cell ends (``model.n_estimators``,
``model.training_accuracy_score``; the class name when no variable holds it).

``mj.autolog()`` turns it on for the kernel (``disable=True`` off); ``%%stage --autolog`` for one
stage. A restored stage fits nothing, so nothing is logged again: its run already holds it all.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass
from typing import Any

_METHODS = ("fit", "fit_transform", "fit_predict")
_state = threading.local()  # depth of fit calls in progress: only the outermost one is logged
_switch = {"kernel": False, "stages": 0}
_patched: set[type] = set()
_pending: list[_Fit] = []


@dataclass
class _Fit:
    estimator: Any
    run_id: str
    params: dict[str, Any]
    metrics: dict[str, float]


def autolog(disable: bool = False) -> None:
    """Log every scikit-learn fit of this kernel (see the module's doc)."""
    _switch["kernel"] = not disable
    if not disable:
        _patch_all()
        _hook_cells()


def enabled() -> bool:
    return _switch["kernel"] or _switch["stages"] > 0


class for_stage:
    """``with autolog.for_stage(): ...``: on for the body of one ``%%stage --autolog``."""

    def __enter__(self):
        _patch_all()
        _switch["stages"] += 1

    def __exit__(self, *exc):
        _switch["stages"] -= 1


def _patch_all() -> None:
    from sklearn.utils import all_estimators

    for _, cls in all_estimators():
        for method in _METHODS:
            original = cls.__dict__.get(method)
            if original is not None and cls not in _patched:
                setattr(cls, method, _wrap(original))
        _patched.add(cls)


def _wrap(original):
    @functools.wraps(original)
    def fitting(self, *args, **kwargs):
        depth = getattr(_state, "depth", 0)
        _state.depth = depth + 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _state.depth = depth
        if depth == 0 and enabled():
            X = args[0] if args else kwargs.get("X")
            _record(self, X, args[1] if len(args) > 1 else kwargs.get("y"))
        return result

    fitting.__mlops_autolog__ = True
    return fitting


def _plain(value: Any) -> Any:
    """A param as the store keeps it: JSON values as they are, anything else (an estimator) as text."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _record(estimator, X, y) -> None:
    from . import tracking

    run = tracking.TRACKER.current()
    params = {key: _plain(value) for key, value in estimator.get_params(deep=False).items()}
    _pending.append(_Fit(estimator, run.run_id, params, _training_metrics(estimator, X, y)))


def _training_metrics(estimator, X, y) -> dict[str, float]:
    if y is None or not hasattr(estimator, "predict"):
        return {}
    from sklearn import base, metrics

    predicted = estimator.predict(X)
    if base.is_classifier(estimator):
        return {"training_accuracy_score": metrics.accuracy_score(y, predicted),
                "training_f1_score": metrics.f1_score(y, predicted, average="weighted"),
                "training_precision_score": metrics.precision_score(y, predicted, average="weighted", zero_division=0),
                "training_recall_score": metrics.recall_score(y, predicted, average="weighted", zero_division=0)}
    if base.is_regressor(estimator):
        return {"training_mean_squared_error": metrics.mean_squared_error(y, predicted),
                "training_mean_absolute_error": metrics.mean_absolute_error(y, predicted),
                "training_r2_score": metrics.r2_score(y, predicted)}
    return {}


def flush(namespace: dict[str, Any]) -> None:
    """Log the fits recorded so far, each named by the variable of ``namespace`` holding its estimator."""
    from ..core.store import now_ms
    from . import models_api, tracking

    while _pending:
        fit = _pending.pop(0)
        name = next((key for key, value in namespace.items() if value is fit.estimator and not key.startswith("_")),
                    type(fit.estimator).__name__)
        store, project = tracking.TRACKER.open()
        store.log_params(fit.run_id, {f"{name}.{key}": value for key, value in fit.params.items()})
        if fit.metrics:
            tracking.TRACKER.flush()
            store.log_metric_points([(fit.run_id, f"{name}.{key}", 0, float(value), now_ms())
                                     for key, value in fit.metrics.items()])
        models_api.store_model(store, project, fit.run_id, fit.estimator, name)


_hooked = threading.Event()


def _hook_cells() -> None:
    """In IPython, the fits of a cell are logged when the cell ends (when its variables are bound)."""
    if _hooked.is_set():
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.events.register("post_run_cell", lambda result: flush(shell.user_ns))
        _hooked.set()

"""mlops-jupyter: DVC, MLflow and Airflow brought into the notebook.

``import mlops_jupyter as mj`` stays fast: the tracking API is loaded on first
use.
"""

from ._labextension import _jupyter_labextension_paths  # noqa: F401 - JupyterLab looks here
from ._version import __version__

_TRACKING_API = (
    "start_run",
    "end_run",
    "active_run",
    "set_experiment",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
    "log_artifact",
    "flush",
    "runs",
    "experiments",
)

_PLOT_API = ("log_plot", "log_sklearn_plot")  # plots of the run (``kernel.plotting``)
_WIDGETS = ("show_runs", "show_experiments", "compare", "show_pipeline")  # ipywidgets views (``widgets``)
_MODELS_API = ("log_model", "register_model", "load_model")  # the model registry (``kernel.models_api``)
_AUTOLOG = ("autolog",)  # scikit-learn fits logged (``kernel.autolog``)
# Each lazily loaded name -> the module that defines it.
_LAZY = {**dict.fromkeys(_TRACKING_API, "kernel.tracking"), **dict.fromkeys(_PLOT_API, "kernel.plotting"),
         **dict.fromkeys(_WIDGETS, "widgets"), **dict.fromkeys(_MODELS_API, "kernel.models_api"), **dict.fromkeys(_AUTOLOG, "kernel.autolog")}

__all__ = ["__version__", "params", "load_ipython_extension", *_LAZY]


def _jupyter_server_extension_points():
    """The server extension (``jupyter server extension list``)."""
    return [{"module": "mlops_jupyter.server"}]


def load_ipython_extension(ipython) -> None:
    """``%load_ext mlops_jupyter``: registers ``%%stage`` and ``%mlops``."""
    from .kernel.magics import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    if name == "params":  # changes with every stage: never cached here
        from .kernel.tracking import stage_params

        return stage_params()
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlops_jupyter' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)

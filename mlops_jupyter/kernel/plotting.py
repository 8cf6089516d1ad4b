"""``mj.log_plot`` and ``mj.log_sklearn_plot``, and the plots of a stage's ``--plots`` files.

A plot is recorded on the run as an artifact (``core.plots``: its definition and its data as cache
objects) and, in IPython, displayed as Vega-Lite with a PNG fallback, which the stage's output
recorder keeps and replays like any output. The display's metadata (``mlops_jupyter.plot``) names
the plot and its definition, so a restored stage redraws a ``--plots`` file whose definition changed
since (a new ``--template``, a plots.yaml edit) instead of replaying the old picture.

Nothing here imports IPython unless a shell is running: exported stage scripts log plots too, and
``write_logged_to`` makes them also write each logged plot's data file (for DVC).
"""

from __future__ import annotations

import mimetypes
import sys
from pathlib import Path
from typing import Any, Sequence

from ..core import plot_specs, plots
from ..core.errors import InvalidValue
from ..core.models import Artifact
from ..core.objects import ObjectStore
from ..core.plots import PlotDef, PlotError

MARK = "mlops_jupyter"  # the display metadata key naming a plot
SKLEARN = {  # kind -> (x, y, template), the fields and template dvclive gives them
    "roc": ("fpr", "tpr", "simple"),
    "precision_recall": ("recall", "precision", "simple"),
    "confusion_matrix": ("actual", "predicted", "confusion"),
    "calibration": ("prob_pred", "prob_true", "simple"),
}

_logged_folder: Path | None = None
_orders: dict[str, dict[str, int]] = {}  # run id -> plot id -> position among the run's plots


def write_logged_to(folder: str | Path | None) -> None:
    """Also write each logged plot's data to ``folder/<name>.json`` (an exported stage, for DVC)."""
    global _logged_folder
    _logged_folder = Path(folder) if folder is not None else None


def record(store, objects: ObjectStore, run_id: str, plot: PlotDef, data: dict[str, bytes]) -> None:
    """Store a plot's data files as objects (artifacts ``plots/<id>@<file>``) and its record as the
    run's artifact ``plots/<id>``."""
    digests = {}
    for file, raw in data.items():  # each data object an artifact too: push, pull and gc keep it with the run
        digests[file], size = objects.put_bytes(raw)
        mime = plots.IMAGES.get(Path(file).suffix.lower()) or mimetypes.guess_type(file)[0] or "application/json"
        store.add_artifact(run_id, Artifact(plots.data_artifact_name(plot.id, file), plots.DATA_KIND, digests[file],
                                            size, mime))
    positions = _orders.setdefault(run_id, {})
    order = positions.setdefault(plot.id, len(positions))
    body = plots.record_bytes(plot, digests, order)
    digest, size = objects.put_bytes(body)
    store.add_artifact(run_id, Artifact(plots.artifact_name(plot.id), plots.KIND, digest, size, "application/json"))


def _shell():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def bundle(plot: PlotDef, tables: dict[str, Any]) -> tuple[dict, dict]:
    """The MIME bundle and metadata that display ``plot`` drawn over ``tables`` ({file: rows})."""
    spec = plot_specs.vega_lite(plot, [("", tables)])
    metadata = {MARK: {"plot": plot.id, "origin": plot.origin, "key": plot.key()}}
    return plot_specs.mime_bundle(plot, spec), metadata


def show(plot: PlotDef, tables: dict[str, Any]) -> None:
    """Display a plot in the running IPython shell, if there is one; the spec is checked either way."""
    data, metadata = bundle(plot, tables) if _shell() is not None else (None, None)
    if data is None:
        plot_specs.vega_lite(plot, [("", tables)])  # a missing field is an error in scripts too
        return
    from IPython.display import display

    display(data, raw=True, metadata=metadata)


# --- mj.log_plot / mj.log_sklearn_plot -------------------------------------------------------


def log_plot(name: str, rows: Any, x: str | None = None, y: str | Sequence[str] | None = None,
             template: str = plots.DEFAULT_TEMPLATE, title: str | None = None, x_label: str | None = None,
             y_label: str | None = None) -> None:
    """Log a plot of ``rows`` (a list of dicts, a dict of columns or a DataFrame) as an artifact of
    the run and display it: ``x`` and ``y`` name fields (``y`` may be a list), ``template`` is one of
    linear, simple, smooth, scatter, scatter_jitter, confusion, confusion_normalized, bar_horizontal,
    bar_horizontal_sorted (as in DVC)."""
    from . import tracking

    plots.check_name(name, "log_plot: name")
    table = plots.rows_of(rows, f"log_plot {name!r}")
    props = {"x": x, "y": list(y) if isinstance(y, (list, tuple)) else y, "template": template, "title": title,
             "x_label": x_label, "y_label": y_label}
    plot = plots.definition(name, {k: v for k, v in props.items() if v is not None}, f"log_plot {name!r}",
                            origin="logged")
    plot_specs.vega_lite(plot, [("", {name: table})])  # fields and template checked before anything is kept
    data = plots.dump_rows(table)
    run = tracking.TRACKER.current()
    record(run.store, ObjectStore(run.project.cache_dir), run.run_id, plot, {name: data})
    if _logged_folder is not None:
        target = _logged_folder / f"{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    show(plot, {name: table})


def _scores(kind: str, values: Any):
    import numpy as np

    scores = np.asarray(values, dtype=float)
    if scores.ndim == 2 and scores.shape[1] == 2:
        return scores[:, 1]  # predict_proba of a binary classifier: the positive class
    if scores.ndim != 1:
        raise InvalidValue(f"log_sklearn_plot({kind!r}): the scores have {scores.shape[1]} columns (one per class); "
                           f"a {kind} curve is one class against the rest: pass y_true == c and y_score[:, c]")
    return scores


def _sklearn_rows(kind: str, y_true: Any, y_pred: Any, options: dict) -> list[dict]:
    try:
        from sklearn import calibration, metrics
    except ImportError:
        raise InvalidValue("log_sklearn_plot needs scikit-learn: pip install scikit-learn") from None
    import numpy as np

    truth = np.asarray(y_true)
    try:
        if kind == "confusion_matrix":
            predicted = np.asarray(y_pred)
            if truth.shape != predicted.shape:
                raise InvalidValue(f"log_sklearn_plot('confusion_matrix'): y_true has {truth.shape[0]} labels and "
                                   f"y_pred {predicted.shape[0] if predicted.ndim else 1}; pass one prediction per label")
            return [{"actual": plots.clean_value(a), "predicted": plots.clean_value(p)}
                    for a, p in zip(truth.tolist(), predicted.tolist())]
        scores = _scores(kind, y_pred)
        if kind == "roc":
            fpr, tpr, thresholds = metrics.roc_curve(truth, scores, **options)
            return [{"fpr": f, "tpr": t, "threshold": h} for f, t, h in zip(fpr, tpr, thresholds)]
        if kind == "precision_recall":
            precision, recall, thresholds = metrics.precision_recall_curve(truth, scores, **options)
            return [{"precision": p, "recall": r, "threshold": h} for p, r, h in zip(precision, recall, thresholds)]
        prob_true, prob_pred = calibration.calibration_curve(truth, scores, **options)
        return [{"prob_pred": p, "prob_true": t} for p, t in zip(prob_pred, prob_true)]
    except (ValueError, TypeError) as e:
        if isinstance(e, InvalidValue):
            raise
        hint = str(e).splitlines()[0]
        if "multiclass" in hint or "binary" in hint:
            hint += "; for one class of several, pass y_true == c and its scores"
        raise InvalidValue(f"log_sklearn_plot({kind!r}): {hint}") from None


def log_sklearn_plot(kind: str, y_true: Any, y_pred: Any, name: str | None = None, *, normalized: bool = False,
                     title: str | None = None, x_label: str | None = None, y_label: str | None = None,
                     **options: Any) -> None:
    """Log a scikit-learn plot, as dvclive does: ``kind`` is ``roc``, ``precision_recall``,
    ``calibration`` (``y_pred``: the scores or probabilities of the positive class) or
    ``confusion_matrix`` (``y_pred``: the predicted labels; ``normalized=True`` for shares).
    ``options`` go to scikit-learn (``drop_intermediate``, ``pos_label``, ``n_bins``, ...)."""
    if kind not in SKLEARN:
        raise InvalidValue(f"log_sklearn_plot: unknown kind {kind!r}; choose one of {', '.join(SKLEARN)}")
    x, y, template = SKLEARN[kind]
    if kind == "confusion_matrix" and normalized:
        template = "confusion_normalized"
    elif normalized:
        raise InvalidValue(f"log_sklearn_plot({kind!r}): normalized= is for confusion_matrix")
    rows = [{k: plots.clean_value(v) for k, v in row.items()} for row in _sklearn_rows(kind, y_true, y_pred, options)]
    log_plot(name or kind, rows, x=x, y=y, template=template, title=title, x_label=x_label, y_label=y_label)


# --- the plots of a stage's --plots files ---------------------------------------------------------


def stage_plots(spec, project) -> list[PlotDef]:
    """What the stage draws from the files it writes (``--plots`` and the project's plots.yaml)."""
    return plots.stage_definitions(spec.plot_defs, spec.all_outs, project.name_of,
                                   plots.project_definitions(project.root))


def _files(plot_list: Sequence[PlotDef], root: Path) -> list[PlotDef]:
    """The plots whose files all exist, folders expanded into a plot per file."""
    found = []
    for plot in plot_list:
        for each in plots.expand_folder(plot, root):
            if all((root / f).is_file() for f in each.files):
                found.append(each)
    return found


def _tables(plot: PlotDef, root: Path) -> dict[str, Any]:
    return {f: plots.read_table((root / f).read_bytes(), f) for f in plot.files}


def show_file_plots(plot_list: Sequence[PlotDef], root: Path) -> None:
    """Display each data plot of the stage (images are left alone: the cell showed them already).
    Every plot is tried; the first problem is raised after the others were shown."""
    problem = None
    for plot in _files(plot_list, root):
        if plot.is_image:
            continue
        try:
            show(plot, _tables(plot, root))
        except PlotError as e:
            problem = problem or e
    if problem:
        raise problem


def record_file_plots(store, objects: ObjectStore, run_id: str, plot_list: Sequence[PlotDef], root: Path) -> None:
    for plot in _files(plot_list, root):
        record(store, objects, run_id, plot, {f: (root / f).read_bytes() for f in plot.files})


def refresh(outputs: list[dict], plot_list: Sequence[PlotDef], root: Path) -> tuple[list[dict], PlotError | None]:
    """A restored stage's outputs with its file plots as they are defined now: a plot whose
    definition changed is redrawn from its (restored) files, one no longer defined is dropped, a
    new one is added before the cell's result. Logged plots are the code's: replayed as recorded."""
    current = {p.id: p for p in _files(plot_list, root) if not p.is_image}
    result, seen, problem = [], set(), None

    def draw(plot: PlotDef) -> dict | None:
        nonlocal problem
        try:
            data, metadata = bundle(plot, _tables(plot, root))
        except PlotError as e:
            problem = problem or e
            return None
        return {"output_type": "display_data", "data": data, "metadata": metadata}

    for output in outputs:
        mark = (output.get("metadata") or {}).get(MARK) or {}
        if mark.get("origin") in ("flag", "config"):
            plot = current.get(mark.get("plot"))
            if plot is None or plot.id in seen:
                continue
            seen.add(plot.id)
            if mark.get("key") != plot.key():
                output = draw(plot)
                if output is None:
                    continue
        result.append(output)
    added = [out for plot in current.values() if plot.id not in seen and (out := draw(plot)) is not None]
    if added:
        at = next((i for i, o in enumerate(result) if o["output_type"] == "execute_result"), len(result))
        result[at:at] = added
    return result, problem

"""Plots in DVC's vocabulary: definitions, their data, and the plots a run recorded.

A definition (``PlotDef``) names its data files and, for each, the x field and the y fields, with
a template (``linear``, ``confusion``, … — see ``plot_specs``), a title and axis labels. Definitions
come from the ``%%stage`` line (``--plots PATH --plot-x F --plot-y F --template T --title …``), from
a ``plots:`` list in ``plots.yaml`` or ``.mlops/config.toml`` in exactly dvc.yaml's format (paths
relative to the project root), and from ``mj.log_plot`` / ``mj.log_sklearn_plot``.

Plot data are tables: a JSON list of objects (or an object holding one such list, as dvclive writes
them), a CSV, a TSV or YAML; or an image. A run records each plot as an artifact of kind ``plot``
named ``plots/<id>``: a small JSON object (the definition, and for each data file the cache object
holding its bytes, itself an artifact ``plots/<id>@<file>`` of kind ``plot-data``), so ``run_plots`` gives any run's plots back, and ``views`` overlays the same
plot across runs, as ``dvc plots diff`` does. No Jupyter imports here.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

from .errors import MlopsError

TEMPLATES = ("linear", "simple", "smooth", "scatter", "scatter_jitter", "confusion", "confusion_normalized",
             "bar_horizontal", "bar_horizontal_sorted")
DEFAULT_TEMPLATE = "linear"  # DVC's
IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}
TABLES = (".json", ".csv", ".tsv", ".yaml", ".yml")
PROPS = ("x", "y", "template", "title", "x_label", "y_label")  # of a definition, as dvc.yaml names them
CONFIG_FILE = "plots.yaml"
KIND = "plot"  # the artifact kind of a recorded plot
DATA_KIND = "plot-data"  # and of each of its data files
RECORD_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9_][\w\-.]*(/[A-Za-z0-9_][\w\-.]*)*$")


class PlotError(MlopsError, ValueError):
    """A plot definition or plot data that cannot be drawn."""


@dataclass(frozen=True)
class PlotDef:
    """One plot. ``x`` and ``y`` pair data files with fields; a file with no x field is drawn
    against its row number (``step``), one with no y field against its last field."""

    id: str
    files: tuple[str, ...]
    x: tuple[tuple[str, str], ...] = ()
    y: tuple[tuple[str, str], ...] = ()
    template: str | None = None
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None
    origin: str = field(default="config", compare=False)  # flag, config or logged: what an error tells to fix

    @property
    def template_name(self) -> str:
        return self.template or DEFAULT_TEMPLATE

    @property
    def is_image(self) -> bool:
        return bool(self.files) and all(is_image(f) for f in self.files)

    def x_of(self, file: str) -> str | None:
        return next((f for name, f in self.x if name == file), None)

    def y_of(self, file: str) -> list[str]:
        return [f for name, f in self.y if name == file]

    def renamed(self, rename) -> PlotDef:
        """The same plot with its files (and its id, when the id is one of them) renamed."""
        return replace(
            self, id=rename(self.id) if self.id in self.files else self.id,
            files=tuple(rename(f) for f in self.files),
            x=tuple((rename(f), v) for f, v in self.x), y=tuple((rename(f), v) for f, v in self.y),
        )

    def fix(self, what: str) -> str:
        """How the user changes ``what`` (x, y, template) of this plot, for error messages."""
        if self.origin == "flag":
            return {"x": "fix --plot-x", "y": "fix --plot-y", "template": "fix --template"}.get(what, f"fix --{what}")
        if self.origin == "logged":
            return f"pass another {what}= to log_plot"
        return f"fix its {what}: in {CONFIG_FILE} or config.toml"

    # --- dvc.yaml's format ------------------------------------------------------------------

    def props(self) -> dict:
        """dvc.yaml's top-level form of the properties: x and y as ``{file: field}`` where needed."""
        out: dict[str, Any] = {}
        single = self.files == (self.id,)
        if self.template:
            out["template"] = self.template
        xs = dict(self.x)
        if xs:
            out["x"] = xs[self.id] if single and len(set(xs.values())) == 1 else dict(xs)
        if self.y:
            if single:
                fields = self.y_of(self.id)
                out["y"] = fields[0] if len(fields) == 1 else fields
            else:
                by_file: dict[str, Any] = {}
                for name, f in self.y:
                    by_file.setdefault(name, []).append(f)
                out["y"] = {name: v[0] if len(v) == 1 else v for name, v in by_file.items()}
        for key in ("title", "x_label", "y_label"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def stage_props(self) -> dict | None:
        """The properties as a stage's plot output takes them in dvc.yaml (one file, at most one x
        and one y field), or None when only the top-level ``plots:`` can say them."""
        if self.files != (self.id,) or len(self.y) > 1 or len(self.x) > 1:
            return None
        return self.props()

    def to_dvc(self) -> Any:
        """An item of dvc.yaml's top-level ``plots:`` list."""
        props = self.props()
        return {self.id: props} if props else self.id

    def to_record(self) -> dict:
        return {"id": self.id, "files": list(self.files), "x": [list(p) for p in self.x], "y": [list(p) for p in self.y],
                **{k: getattr(self, k) for k in ("template", "title", "x_label", "y_label") if getattr(self, k)}}

    @classmethod
    def from_record(cls, data: dict) -> PlotDef:
        return cls(id=data["id"], files=tuple(data["files"]), x=tuple(tuple(p) for p in data.get("x", ())),
                   y=tuple(tuple(p) for p in data.get("y", ())), template=data.get("template"),
                   title=data.get("title"), x_label=data.get("x_label"), y_label=data.get("y_label"),
                   origin=data.get("origin", "config"))

    def key(self) -> str:
        """A stable text of what is drawn, to tell a changed definition."""
        return json.dumps(self.to_record(), sort_keys=True)


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGES


def check_template(template: str | None, where: str) -> None:
    if template is not None and template not in TEMPLATES:
        raise PlotError(f"{where}: unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")


def check_name(name: Any, what: str = "plot name") -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name.split("/"):
        raise PlotError(f"{what} {name!r}: use letters, digits, _, -, . and / (e.g. 'roc' or 'train/loss')")
    return name


def _fields(value: Any, where: str, key: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise PlotError(f"{where}: {key} must be a field name or a list of them, got {value!r}")
    return values


def definition(plot_id: str, props: Mapping | None, where: str, origin: str = "config") -> PlotDef:
    """One plot from dvc.yaml's form: ``props`` may hold x (a field or ``{file: field}``), y (a
    field, a list, or ``{file: field or list}``), template, title, x_label, y_label."""
    props = dict(props or {})
    unknown = sorted(set(props) - set(PROPS))
    if unknown:
        raise PlotError(f"{where}: plot {plot_id!r} has unknown key {unknown[0]!r}; a plot takes {', '.join(PROPS)}")
    for key in ("template", "title", "x_label", "y_label"):
        if props.get(key) is not None and not isinstance(props[key], str):
            raise PlotError(f"{where}: plot {plot_id!r}: {key} must be text, got {props[key]!r}")
    check_template(props.get("template"), f"{where}: plot {plot_id!r}")
    x, y = props.get("x"), props.get("y")
    files: list[str] = []
    ys: list[tuple[str, str]] = []
    if isinstance(y, dict):
        for file, fields in y.items():
            files.append(str(file))
            ys += [(str(file), f) for f in _fields(fields, where, f"y of {file}")]
    elif isinstance(x, dict):  # the files are x's; y, if given, names fields of each
        files = [str(f) for f in x]
        ys = [(file, f) for file in files for f in _fields(y, where, "y")] if y is not None else []
    else:
        files = [plot_id]
        if y is not None:
            ys = [(plot_id, f) for f in _fields(y, where, "y")]
    xs: list[tuple[str, str]] = []
    if isinstance(x, dict):
        for file, f in x.items():
            if not isinstance(f, str) or not f:
                raise PlotError(f"{where}: plot {plot_id!r}: x of {file} must be a field name, got {f!r}")
            if str(file) not in files:
                files.append(str(file))
            xs.append((str(file), f))
    elif x is not None:
        if not isinstance(x, str) or not x:
            raise PlotError(f"{where}: plot {plot_id!r}: x must be a field name or {{file: field}}, got {x!r}")
        xs = [(file, x) for file in files]
    return PlotDef(plot_id, tuple(dict.fromkeys(files)), tuple(xs), tuple(ys), props.get("template"),
                   props.get("title"), props.get("x_label"), props.get("y_label"), origin)


def definitions(entries: Any, where: str) -> tuple[PlotDef, ...]:
    """A ``plots:`` list in dvc.yaml's format: each item a path, or ``{ID: {x: …, y: …, …}}``."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise PlotError(f"{where}: plots must be a list (of paths, or of {{ID: {{x: ..., y: ...}}}})")
    found: dict[str, PlotDef] = {}
    for entry in entries:
        if isinstance(entry, str):
            plot = definition(entry, None, where)
        elif isinstance(entry, dict) and len(entry) == 1:
            (plot_id, props), = entry.items()
            if props is not None and not isinstance(props, dict):
                raise PlotError(f"{where}: plot {plot_id!r} must map to its properties (x, y, template, ...)")
            plot = definition(str(plot_id), props, where)
        else:
            raise PlotError(f"{where}: each item of plots is a path or {{ID: {{x: ..., y: ...}}}}, got {entry!r}")
        if plot.id in found:
            raise PlotError(f"{where}: plot {plot.id!r} is defined twice")
        found[plot.id] = plot
    return tuple(found.values())


def project_definitions(root: Path) -> tuple[PlotDef, ...]:
    """The ``plots:`` of ``plots.yaml`` at the project root and of ``.mlops/config.toml``."""
    found: list[PlotDef] = []
    path = root / CONFIG_FILE
    if path.is_file():
        from .yamlio import UserYAMLError, load_user

        try:
            data = load_user(path.read_text(encoding="utf-8"))
        except UserYAMLError as e:
            raise PlotError(f"{path}: not valid YAML ({e}); fix it") from None
        if data is not None and not isinstance(data, dict):
            raise PlotError(f"{path}: must hold a mapping with a plots: list, as dvc.yaml does")
        found += definitions((data or {}).get("plots"), str(path))
    config = root / ".mlops" / "config.toml"
    if config.is_file():
        from .project import _load_toml

        found += definitions(_load_toml(config).get("plots"), str(config))
    seen: set[str] = set()
    for plot in found:
        if plot.id in seen:
            raise PlotError(f"plot {plot.id!r} is defined in both {CONFIG_FILE} and config.toml; keep one")
        seen.add(plot.id)
    return tuple(found)


# --- the %%stage flags -------------------------------------------------------------------

_FLAG_PROPS = {"--plot-x": "x", "--plot-y": "y", "--template": "template", "--title": "title",
               "--x-label": "x_label", "--y-label": "y_label"}


class PlotFlag(argparse.Action):
    """``--plots PATH`` starts a plot; ``--plot-x``, ``--plot-y``, ``--template``, ``--title``,
    ``--x-label`` and ``--y-label`` describe the latest ``--plots`` before them."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = list(getattr(namespace, "plot_props", None) or [])
        if option_string == "--plots":
            setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
            items.append((values, {}))
        else:
            key = _FLAG_PROPS[option_string]
            if not items:
                raise argparse.ArgumentError(self, "must follow the --plots PATH it describes")
            path, props = items[-1]
            if key in props:
                raise argparse.ArgumentError(self, f"given twice for --plots {path}")
            items[-1] = (path, {**props, key: values})
        namespace.plot_props = items


def flag_definitions(items: Sequence[tuple[str, dict]]) -> tuple[PlotDef, ...]:
    """One definition per ``--plots PATH`` (the last one of a path repeated)."""
    plots: dict[str, PlotDef] = {}
    for path, props in items:
        check_template(props.get("template"), f"--plots {path}")
        y = props.get("y")
        if y is not None:
            fields = [f.strip() for f in y.split(",")]
            if not all(fields):
                raise PlotError(f"--plots {path}: empty field in --plot-y {y!r}; write --plot-y tpr or --plot-y loss,val_loss")
            props = {**props, "y": fields}
        if props.get("x") is not None and not props["x"].strip():
            raise PlotError(f"--plots {path}: --plot-x needs a field name")
        if is_image(path) and (props.keys() & {"x", "y", "template"}):
            raise PlotError(f"--plots {path} is an image: --plot-x, --plot-y and --template are for data files")
        plots[path] = definition(path, props, f"--plots {path}", origin="flag")
    return tuple(plots.values())


# --- tables ------------------------------------------------------------------------------


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else None


def clean_value(value: Any) -> Any:
    """A cell value as JSON holds it: numpy scalars as numbers, NaN and infinities as null."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        try:
            return clean_value(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def rows_of(data: Any, what: str) -> list[dict]:
    """Rows (a list of dicts) from a list of mappings, a dict of equal-length columns or a DataFrame."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        data = data.to_dict("records")
    elif isinstance(data, Mapping) and data and all(isinstance(v, (list, tuple)) or hasattr(v, "tolist")
                                                    for v in data.values()):
        columns = {str(k): list(v.tolist() if hasattr(v, "tolist") else v) for k, v in data.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) != 1:
            raise PlotError(f"{what}: the columns have different lengths ({', '.join(map(str, sorted(lengths)))})")
        data = [dict(zip(columns, values)) for values in zip(*columns.values())]
    if not isinstance(data, (list, tuple)) or not all(isinstance(row, Mapping) for row in data):
        raise PlotError(f"{what}: plot data must be a list of dicts (rows), a dict of columns or a DataFrame")
    return [{str(k): clean_value(v) for k, v in row.items()} for row in data]


def read_table(data: bytes, name: str) -> list[dict]:
    """The rows of a plot data file, by its extension (JSON without one)."""
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in TABLES and suffix not in IMAGES:
        suffix = ".json"  # a logged plot (named, no extension) keeps its rows as JSON
    hint = (f"{name} is no plot data: write a JSON list of objects, a CSV or TSV with a header row, "
            f"or an image ({', '.join(IMAGES)})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlotError(hint) from None
    if suffix in (".csv", ".tsv"):
        reader = csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        lines = [line for line in reader if line]
        if not lines:
            return []
        header = lines[0]
        if len(set(header)) != len(header) or not all(header):
            raise PlotError(f"{hint} (its header row has empty or repeated names)")
        return [{k: _number(v) for k, v in zip(header, line)} for line in lines[1:]]
    if suffix == ".json":
        try:
            value = json.loads(text)
        except ValueError:
            raise PlotError(hint) from None
    elif suffix in (".yaml", ".yml"):
        from .yamlio import UserYAMLError, load_user

        try:
            value = load_user(text)
        except UserYAMLError:
            raise PlotError(hint) from None
    else:
        raise PlotError(hint)
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), list):
        value = next(iter(value.values()))  # {"roc": [...]}, as dvclive writes them
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise PlotError(hint)
    return rows_of(value, name)


def dump_rows(rows: list[dict]) -> bytes:
    """Rows as the JSON file a plot's data is stored (and exported) as."""
    return (json.dumps(rows, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()


# --- the plots of a stage ------------------------------------------------------------------


def _inside(path: str, folders: Iterable[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def stage_definitions(flags: Sequence[PlotDef], outs: Sequence[str], name_of, project_defs: Sequence[PlotDef],
                      exists=os.path.exists) -> list[PlotDef]:
    """What a stage draws: a definition per ``--plots`` path (files named by ``name_of``, the
    project's naming), a folder's data files each as a plot of its own, then the project's
    definitions whose files the stage writes (all of them); a project definition of the same id
    replaces the flag's."""
    outs = [name_of(o) for o in outs]
    chosen = [d for d in project_defs if d.files and all(_inside(f, outs) for f in d.files)]
    taken = {d.id for d in chosen}
    found = []
    for flag in flags:
        plot = flag.renamed(name_of)
        if plot.id in taken:
            continue
        found.append(plot)
    return [*found, *chosen]


def expand_folder(plot: PlotDef, root: Path) -> list[PlotDef]:
    """A plot of a folder: one plot per data file or image in it (with the folder's properties)."""
    if len(plot.files) != 1 or not (root / plot.files[0]).is_dir():
        return [plot]
    folder = plot.files[0]
    found = []
    for path in sorted((root / folder).rglob("*")):
        if path.is_file() and path.suffix.lower() in (*TABLES, *IMAGES):
            name = path.relative_to(root).as_posix()
            found.append(plot.renamed(lambda f, name=name: name if f == folder else f))
    return found


# --- recorded plots ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunPlot:
    """A plot a run recorded: its definition and, per data file, the cache object of its bytes."""

    run_id: str
    plot: PlotDef
    objects: dict[str, str]  # file -> object hash
    order: int = 0  # the run's plots in the order they were drawn


def artifact_name(plot_id: str) -> str:
    return f"plots/{plot_id}"


def data_artifact_name(plot_id: str, file: str) -> str:
    return f"plots/{plot_id}@{file}"


def record_bytes(plot: PlotDef, objects: Mapping[str, str], order: int = 0) -> bytes:
    """The JSON object a run's plot artifact names: the definition, its data objects, its place."""
    return json.dumps({"version": RECORD_VERSION, "plot": plot.to_record(), "objects": dict(objects), "order": order},
                      sort_keys=True).encode()


def run_plots(store, objects, run_id: str) -> list[RunPlot]:
    """The plots run ``run_id`` recorded, in the order it recorded them (read from the cache)."""
    detail = store.get_run(run_id)
    found = []
    for artifact in detail.artifacts:
        if artifact.kind != KIND:
            continue
        data = json.loads(objects.read_bytes(artifact.hash))
        if data.get("version") != RECORD_VERSION:
            continue
        found.append(RunPlot(detail.run.id, PlotDef.from_record(data["plot"]), dict(data["objects"]), data.get("order", 0)))
    return sorted(found, key=lambda p: p.order)


def tables_of(plot: RunPlot, objects) -> dict[str, Any]:
    """Each data file of a recorded plot: its rows, or an image's bytes."""
    found: dict[str, Any] = {}
    for file, digest in plot.objects.items():
        data = objects.read_bytes(digest)
        found[file] = data if is_image(file) else read_table(data, file)
    return found


@dataclass(frozen=True)
class PlotView:
    """One plot across runs: a vega-lite spec (data plots) or the images of each run."""

    id: str
    runs: tuple[str, ...]  # labels of the runs that have it
    spec: dict | None = None
    images: tuple[tuple[str, str, bytes], ...] = ()  # (label, mime, bytes)
    sources: tuple[tuple[str, str], ...] = ()  # per image: (run id, artifact name) that holds its bytes
    error: str | None = None  # with keep_errors: why this plot cannot be drawn


def views(store, objects, run_ids: Sequence[str], labels: Sequence[str] | None = None, *,
          keep_errors: bool = False) -> list[PlotView]:
    """Every plot of these runs, the same plot id of several runs overlaid in one view (as
    ``dvc plots diff``): lines of each run, side-by-side confusion matrices, each run's image.
    A plot that cannot be drawn raises ``PlotError``, or with ``keep_errors`` is a view with its
    ``error`` (the other plots still drawn)."""
    from . import plot_specs

    labels = list(labels or [run_id[:8] for run_id in run_ids])
    by_id: dict[str, list[tuple[str, RunPlot]]] = {}
    for run_id, label in zip(run_ids, labels):
        for plot in run_plots(store, objects, run_id):
            by_id.setdefault(plot.plot.id, []).append((label, plot))
    found = []
    for plot_id, plots in by_id.items():
        newest = plots[-1][1].plot
        runs = tuple(label for label, _ in plots)
        if newest.is_image:
            images, sources = [], []
            for label, plot in plots:
                for f, data in tables_of(plot, objects).items():
                    images.append((label, IMAGES[PurePosixPath(f).suffix.lower()], data))
                    sources.append((plot.run_id, data_artifact_name(plot_id, f)))
            found.append(PlotView(plot_id, runs, images=tuple(images), sources=tuple(sources)))
            continue
        try:
            revisions = [(label if len(run_ids) > 1 else "", tables_of(plot, objects)) for label, plot in plots]
            found.append(PlotView(plot_id, runs, plot_specs.vega_lite(newest, revisions)))
        except PlotError as e:
            if not keep_errors:
                raise
            found.append(PlotView(plot_id, runs, error=str(e)))
    return found

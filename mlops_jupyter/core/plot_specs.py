"""Vega-Lite v5 specs of plot definitions, their PNG and SVG renderings, and HTML pages of them.

``vega_lite(plot, revisions)`` draws a definition (``core.plots.PlotDef``) over the data of one or
more revisions (runs): ``[(label, {file: rows})]``. The rows are normalised to ``x``, ``y`` and a
``series`` label naming what varies among the lines (the run, the file, the y field), so each
template is one small spec of our own, with the fields' names as axis titles:

- ``linear`` lines with points, ``simple`` lines, ``smooth`` a loess line over the faint raw line
  (its bandwidth on a slider), ``scatter`` points, ``scatter_jitter`` points of categories spread
  around their cell;
- ``confusion`` / ``confusion_normalized`` one rect per (x, y) cell of every label pair, with its
  count or its share of the row, one matrix per run side by side;
- ``bar_horizontal`` / ``bar_horizontal_sorted`` one bar per row, x the value and y the category.

Rendering needs ``vl-convert-python`` (a Rust build of Vega with no browser and no network);
``html_page`` bundles Vega, Vega-Lite and vega-embed into the file, so it opens with no CDN.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any, Sequence

from .plots import PlotDef, PlotError

VEGA_LITE_MIME = "application/vnd.vegalite.v5+json"
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
VL_VERSION = "5.21"  # what the specs are rendered and bundled with (JupyterLab renders v5 itself)
MAX_POINTS = 5000  # per line: longer series are thinned evenly for drawing (the data stays whole)
WIDTH, HEIGHT = 420, 260
_LINES = ("linear", "simple", "smooth", "scatter")
_CONFUSION = ("confusion", "confusion_normalized")
_BARS = ("bar_horizontal", "bar_horizontal_sorted")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _label_key(value: str):
    """Class labels in their natural order: numbers by value, then text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value)


def _series(plot: PlotDef, revisions: Sequence[tuple[str, dict]]) -> list[dict]:
    """Each line to draw: its run label, file, x field, y field and rows; fields checked."""
    found = []
    for label, tables in revisions:
        for file in plot.files:
            rows = tables.get(file)
            if rows is None:
                continue
            if not isinstance(rows, list):
                raise PlotError(f"plot {plot.id!r}: {file} is an image; draw it alone, not with data files")
            names = list(dict.fromkeys(k for row in rows for k in row))
            x = plot.x_of(file)
            if x is not None and rows and x not in names:
                raise PlotError(f"plot {plot.id!r}: {file} has no field {x!r} (its fields: {', '.join(names)}); "
                                f"{plot.fix('x')}")
            ys = plot.y_of(file)
            for y in ys:
                if rows and y not in names:
                    raise PlotError(f"plot {plot.id!r}: {file} has no field {y!r} (its fields: {', '.join(names)}); "
                                    f"{plot.fix('y')}")
            if not ys:
                rest = [n for n in names if n != x and n != "step"] or names
                ys = rest[-1:]  # DVC's default: the last field
            for y in ys:
                found.append({"rev": label, "file": file, "x": x, "y": y, "rows": rows})
    return found


def _names(series: list[dict]) -> list[str]:
    """A label per line naming only what varies: the run, the file, the field."""
    varying = [key for key in ("rev", "file", "y") if len({s[key] for s in series}) > 1]
    return [" · ".join(str(s[key]) for key in varying) or str(series[0]["y"]) for s in series]


def _thin(rows: list, limit: int) -> list:
    if len(rows) <= limit:
        return rows
    step = len(rows) / limit
    picked = [rows[int(i * step)] for i in range(limit)]
    return picked if picked[-1] is rows[-1] else [*picked, rows[-1]]


def _color(names: list[str]) -> dict:
    if len(set(names)) <= 1:
        return {}
    domain = list(dict.fromkeys(names))
    return {"color": {"field": "series", "type": "nominal", "title": None, "scale": {"domain": domain},
                      "legend": {"orient": "bottom", "labelLimit": 400}}}


def _titles(plot: PlotDef, series: list[dict]) -> tuple[str, str]:
    xs = list(dict.fromkeys(s["x"] or "step" for s in series)) or ["step"]
    ys = list(dict.fromkeys(s["y"] for s in series if s["y"] is not None))
    return plot.x_label or ", ".join(xs), plot.y_label or ", ".join(ys)


def _points(plot: PlotDef, series: list[dict], names: list[str], numeric: str, limit: int) -> list[dict]:
    """Rows ``{x, y, series}``; ``numeric`` ("x" or "y") must hold numbers."""
    values = []
    for s, name in zip(series, names):
        for i, row in enumerate(_thin(s["rows"], limit)):
            x = row.get(s["x"]) if s["x"] else row.get("step", i)
            y = row.get(s["y"])
            if x is None or y is None:
                continue
            value = x if numeric == "x" else y
            if not _is_number(value):
                field = s["x"] if numeric == "x" else s["y"]
                raise PlotError(f"plot {plot.id!r}: field {field!r} of {s['file']} holds {value!r}, not a number, "
                                f"and a {plot.template_name} plot needs numbers there; {plot.fix('template')} "
                                f"or {plot.fix(numeric)}")
            values.append({"x": x, "y": y, "series": name})
    return values


def _axis_type(values: list[dict], key: str) -> str:
    return "quantitative" if all(_is_number(v[key]) for v in values) else "ordinal"


def _lines(plot: PlotDef, series: list[dict], limit: int) -> dict:
    names = _names(series)
    values = _points(plot, series, names, "y", limit)
    x_title, y_title = _titles(plot, series)
    x_type = _axis_type(values, "x")
    x = {"field": "x", "type": x_type, "title": x_title}
    if x_type == "ordinal":
        x["sort"] = None
    encoding = {"x": x, "y": {"field": "y", "type": "quantitative", "title": y_title, "scale": {"zero": False}},
                **_color(names)}
    tooltip = [{"field": "series", "title": "line"}] * (len(set(names)) > 1) + [
        {"field": "x", "title": x_title}, {"field": "y", "title": y_title}]
    template = plot.template_name
    spec: dict[str, Any] = {"data": {"values": values}, "encoding": encoding}
    if template == "linear":
        spec["layer"] = [{"mark": {"type": "line", "strokeWidth": 2}},
                         {"mark": {"type": "point", "filled": True, "size": 24}, "encoding": {"tooltip": tooltip}}]
    elif template == "simple":
        spec["mark"] = {"type": "line", "strokeWidth": 2, "tooltip": True}
        spec["encoding"]["tooltip"] = tooltip
    elif template == "scatter":
        spec["mark"] = {"type": "point", "filled": True, "size": 40, "opacity": 0.8}
        spec["encoding"]["tooltip"] = tooltip
    else:  # smooth
        spec["params"] = [{"name": "smoothing", "value": 0.2,
                           "bind": {"input": "range", "min": 0.05, "max": 1, "step": 0.05, "name": "smoothing "}}]
        spec["layer"] = [
            {"mark": {"type": "line", "opacity": 0.25, "strokeWidth": 1}},
            {"mark": {"type": "line", "strokeWidth": 2},
             "transform": [{"loess": "y", "on": "x", "groupby": ["series"], "bandwidth": {"signal": "smoothing"}}]},
        ]
    return spec


def _jitter(plot: PlotDef, series: list[dict], limit: int) -> dict:
    names = _names(series)
    values = []
    for s, name in zip(series, names):
        for i, row in enumerate(_thin(s["rows"], limit)):
            x = row.get(s["x"]) if s["x"] else row.get("step", i)
            if x is not None and row.get(s["y"]) is not None:
                values.append({"x": _label(x), "y": _label(row.get(s["y"])), "series": name})
    x_title, y_title = _titles(plot, series)
    xs = sorted({v["x"] for v in values}, key=_label_key)
    ys = sorted({v["y"] for v in values}, key=_label_key)
    return {
        "data": {"values": values},
        "transform": [{"calculate": "random() - 0.5", "as": "jitter_x"}, {"calculate": "random() - 0.5", "as": "jitter_y"}],
        "mark": {"type": "point", "filled": True, "size": 30, "opacity": 0.7},
        "encoding": {
            "x": {"field": "x", "type": "ordinal", "title": x_title, "sort": xs},
            "y": {"field": "y", "type": "ordinal", "title": y_title, "sort": ys[::-1]},
            "xOffset": {"field": "jitter_x", "type": "quantitative", "scale": {"domain": [-0.5, 0.5]}},
            "yOffset": {"field": "jitter_y", "type": "quantitative", "scale": {"domain": [-0.5, 0.5]}},
            **_color(names),
        },
    }


def _confusion(plot: PlotDef, series: list[dict]) -> dict:
    """One rect per cell of the label grid (zero counts included), one matrix per line."""
    names = _names(series)
    normalized = plot.template_name == "confusion_normalized"
    labels: set[str] = set()
    counts: dict[str, dict[tuple[str, str], int]] = {}
    for s, name in zip(series, names):
        if s["x"] is None:
            raise PlotError(f"plot {plot.id!r}: a confusion matrix needs x (the actual class field) and y (the "
                            f"predicted one); {plot.fix('x')}")
        cells = counts.setdefault(name, {})
        for row in s["rows"]:
            actual, predicted = _label(row.get(s["x"])), _label(row.get(s["y"]))
            labels.update((actual, predicted))
            cells[(actual, predicted)] = cells.get((actual, predicted), 0) + 1
    ordered = sorted(labels, key=_label_key)
    values = []
    for name, cells in counts.items():
        for actual in ordered:
            total = sum(cells.get((actual, p), 0) for p in ordered)
            for predicted in ordered:
                n = cells.get((actual, predicted), 0)
                value = round(n / total, 4) if normalized and total else n
                values.append({"x": actual, "y": predicted, "value": value, "series": name})
    top = max((v["value"] for v in values), default=0)
    x_title, y_title = _titles(plot, series)
    side = max(160, 34 * len(ordered))
    inner = {
        "width": side, "height": side,
        "encoding": {"x": {"field": "x", "type": "nominal", "sort": ordered, "title": x_title, "axis": {"labelAngle": 0}},
                     "y": {"field": "y", "type": "nominal", "sort": ordered, "title": y_title}},
        "layer": [
            {"mark": {"type": "rect", "stroke": "white"},
             "encoding": {"color": {"field": "value", "type": "quantitative", "title": "share" if normalized else "count",
                                    "scale": {"scheme": "blues", "domainMin": 0}},
                          "tooltip": [{"field": "x", "title": x_title}, {"field": "y", "title": y_title},
                                      {"field": "value", "title": "share" if normalized else "count"}]}},
            {"mark": {"type": "text", "fontSize": 12},
             "encoding": {"text": {"field": "value", "type": "quantitative", "format": ".2f" if normalized else "d"},
                          "color": {"condition": {"test": f"datum.value > {top / 2!r}", "value": "white"},
                                    "value": "black"}}},
        ],
    }
    if len(counts) == 1:
        return {"data": {"values": values}, **inner}
    return {"data": {"values": values},
            "facet": {"column": {"field": "series", "type": "nominal", "title": None, "sort": list(counts)}},
            "spec": inner, "resolve": {"scale": {"color": "shared"}}}


def _bars(plot: PlotDef, series: list[dict], limit: int) -> dict:
    names = _names(series)
    for s in series:
        if s["x"] is None:
            raise PlotError(f"plot {plot.id!r}: a horizontal bar plot needs x (the value field) and y (the category "
                            f"field); {plot.fix('x')}")
    values = _points(plot, series, names, "x", limit)
    for v in values:
        v["y"] = _label(v["y"])
    x_title, y_title = _titles(plot, series)
    sort = "-x" if plot.template_name == "bar_horizontal_sorted" else None
    encoding = {"x": {"field": "x", "type": "quantitative", "title": x_title},
                "y": {"field": "y", "type": "nominal", "title": y_title, "sort": sort},
                "tooltip": [{"field": "y", "title": y_title}, {"field": "x", "title": x_title}], **_color(names)}
    if len(set(names)) > 1:
        encoding["yOffset"] = {"field": "series", "type": "nominal", "sort": list(dict.fromkeys(names))}
    height = {"step": 18 if len(set(names)) <= 1 else 10 * len(set(names))}
    return {"data": {"values": values}, "mark": {"type": "bar"}, "encoding": encoding, "height": height}


def vega_lite(plot: PlotDef, revisions: Sequence[tuple[str, dict]], *, max_points: int = MAX_POINTS) -> dict:
    """The Vega-Lite v5 spec of ``plot`` over ``revisions``: ``[(run label, {file: rows})]`` (one
    revision with label "" for a single run). Raises ``PlotError`` naming a missing field."""
    if plot.is_image:
        raise PlotError(f"plot {plot.id!r} is an image, which is shown as it is, not drawn")
    series = _series(plot, revisions)
    template = plot.template_name
    if not series:
        raise PlotError(f"plot {plot.id!r}: none of its files ({', '.join(plot.files)}) has data")
    if template in _CONFUSION:
        body = _confusion(plot, series)
    elif template in _BARS:
        body = _bars(plot, series, max_points)
    elif template == "scatter_jitter":
        body = _jitter(plot, series, max_points)
    else:
        body = _lines(plot, series, max_points)
    spec = {"$schema": SCHEMA, "title": plot.title or plot.id}
    if template not in _CONFUSION and "width" not in body:
        spec["width"] = WIDTH
        if template not in _BARS:
            spec["height"] = HEIGHT
    spec.update(body)
    spec["config"] = {"view": {"stroke": None}, "axis": {"labelLimit": 200}, "legend": {"labelLimit": 400}}
    return spec


def text(plot: PlotDef, spec: dict) -> str:
    """The plain-text stand-in of a plot (terminals, text-only viewers)."""
    return f"<{plot.template_name} plot {plot.id!r}>"


# --- rendering ---------------------------------------------------------------------------------


def _vl_convert():
    try:
        import vl_convert
    except ImportError:
        raise PlotError("drawing plots needs vl-convert-python: pip install vl-convert-python") from None
    return vl_convert


_version: str | None = None


def vl_version() -> str:
    """``VL_VERSION``, or the newest Vega-Lite 5 an older vl-convert bundles."""
    global _version
    if _version is None:
        known = [v for v in _vl_convert().get_vegalite_versions() if v.startswith("5.")]
        _version = VL_VERSION if VL_VERSION in known or not known else max(known, key=lambda v: int(v.split(".")[1]))
    return _version


def _render(name: str, spec: dict, **options):
    try:
        return getattr(_vl_convert(), name)(spec, vl_version=vl_version(), allowed_base_urls=[], **options)
    except PlotError:
        raise
    except Exception as e:  # vl-convert's own errors: a spec Vega-Lite refuses
        raise PlotError(f"plot {spec.get('title')!r} cannot be drawn: {str(e).splitlines()[0]}") from None


def to_png(spec: dict, scale: float = 1.0) -> bytes:
    return _render("vegalite_to_png", spec, scale=scale)


def to_svg(spec: dict) -> str:
    return _render("vegalite_to_svg", spec)


def scenegraph(spec: dict) -> dict:
    """Vega's scenegraph of the rendered spec: the marks actually drawn (what tests count)."""
    return _render("vegalite_to_scenegraph", spec)


def mime_bundle(plot: PlotDef, spec: dict, png: bool = True) -> dict:
    """What a notebook displays: the Vega-Lite spec (JupyterLab draws it), a PNG for static viewers
    (GitHub, nbviewer; left out when vl-convert is missing) and a line of text."""
    bundle: dict[str, Any] = {VEGA_LITE_MIME: spec}
    if png:
        try:
            bundle["image/png"] = base64.b64encode(to_png(spec)).decode()
        except PlotError:
            pass
    bundle["text/plain"] = text(plot, spec)
    return bundle


_bundle: str | None = None


def javascript() -> str:
    """Vega, Vega-Lite and vega-embed as one script, safe to inline in HTML."""
    global _bundle
    if _bundle is None:
        _bundle = _vl_convert().javascript_bundle(vl_version=vl_version()).replace("</script", "<\\/script")
    return _bundle


def _json_for_script(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/").replace("<!--", "<\\!--")


def html_page(title: str, views: Sequence, subtitle: str = "") -> str:
    """One self-contained HTML file of plot views (``core.plots.PlotView``): each data plot drawn
    by the bundled vega-embed (SVG), each image inline; nothing is fetched from the network."""
    sections, specs = [], {}
    for i, view in enumerate(views):
        head = f'<h2>{html.escape(view.id)}</h2><p class="runs">{html.escape(", ".join(view.runs))}</p>'
        if view.spec is not None:
            specs[f"plot-{i}"] = view.spec
            body = f'<div class="plot" id="plot-{i}"></div>'
        else:
            figures = "".join(
                f'<figure><img alt="{html.escape(view.id)} of {html.escape(label)}" '
                f'src="data:{mime};base64,{base64.b64encode(data).decode()}"><figcaption>{html.escape(label)}'
                f"</figcaption></figure>" for label, mime, data in view.images)
            body = f'<div class="images">{figures}</div>'
        sections.append(f'<section data-plot-id="{html.escape(view.id, quote=True)}">{head}{body}</section>')
    empty = "<p>No plots.</p>" if not views else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
.subtitle {{ color: #666; margin: 0 0 20px; }}
main {{ display: flex; flex-wrap: wrap; gap: 24px; }}
section {{ border: 1px solid #ddd; border-radius: 6px; padding: 12px 16px; }}
h2 {{ font-size: 15px; margin: 0; font-family: ui-monospace, monospace; }}
.runs {{ color: #666; font-size: 12px; margin: 2px 0 8px; }}
.images {{ display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }}
figure {{ margin: 0; display: flex; flex-direction: column; gap: 4px; }}
figure img {{ max-width: 420px; height: auto; }} figcaption {{ font-size: 12px; color: #666; }}
</style>
<script>{javascript()}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p class="subtitle">{html.escape(subtitle)}</p>
<main>
{"".join(sections)}{empty}
</main>
<script>
const specs = {_json_for_script(specs)};
for (const [id, spec] of Object.entries(specs)) {{
  vegaEmbed("#" + id, spec, {{renderer: "svg", actions: {{export: true, source: false, compiled: false, editor: false}}}})
    .catch(error => {{ document.getElementById(id).textContent = String(error); }});
}}
</script>
</body>
</html>
"""

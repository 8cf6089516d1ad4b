"""Static HTML of the views: what a widget's cells show, and what a frontend without a widget
manager (nbconvert, GitHub) shows instead of the widget. Colours are JupyterLab's theme variables,
with light fallbacks elsewhere."""

from __future__ import annotations

import base64
import math
from html import escape
from typing import Any

from ..core import report
from ..core.models import RunSummary

# The theme's colours where it defines them (JupyterLab, Notebook 7), readable defaults elsewhere.
FONT = "var(--jp-ui-font-family, system-ui, sans-serif)"
TEXT = "var(--jp-ui-font-color1, #212121)"
MUTED = "var(--jp-ui-font-color2, #616161)"
BORDER = "var(--jp-border-color2, #e0e0e0)"
HEADER = "var(--jp-layout-color2, #eeeeee)"
BETTER = "var(--jp-success-color1, #388e3c)"
WORSE = "var(--jp-error-color1, #d32f2f)"
_CELL = f"padding:2px 8px;border-bottom:1px solid {BORDER};text-align:left;white-space:nowrap"


def cell_text(value: Any) -> str:
    return report.shorten(report.format_value(value)) if value is not None else "—"


def run_cells(row: RunSummary, columns: list[str]) -> list[str]:
    """The texts of one row of the table: id, stage, status, start, duration, then ``columns``."""
    run = row.run
    return [run.id[:8], run.stage or "", run.status, report.format_time(run.start_time), report.run_duration(run),
            *(cell_text(report.flat_value(row, column)) for column in columns)]


FIELDS = ["run", "stage", "status", "started", "duration"]


def table(rows: list[RunSummary], columns: list[str], caption: str = "") -> str:
    """The page as one HTML table."""
    head = "".join(f'<th style="{_CELL};background:{HEADER}" title="{escape(c)}">{escape(report.shorten(c, 24))}</th>'
                   for c in [*FIELDS, *columns])
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{escape(text)}</td>' for text in run_cells(row, columns))
                   + "</tr>" for row in rows)
    note = f'<div style="color:{MUTED};margin-top:4px">{escape(caption)}</div>' if caption else ""
    return (f'<div style="font-family:{FONT};font-size:12px;color:{TEXT};overflow-x:auto">'
            f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"{note}</div>")


def comparison_rows(runs: list[RunSummary], *, only_changed: bool = True) -> list[tuple[str, list[Any]]]:
    """``(key, [value of each run])`` for every param and metric, or only those that differ."""
    rows = []
    for prefix in ("params", "metrics"):
        keys = sorted({key for run in runs for key in getattr(run, prefix)})
        for key in keys:
            values = [getattr(run, prefix).get(key) for run in runs]
            if only_changed and len({_same_key(v) for v in values}) == 1:
                continue
            rows.append((f"{prefix}.{key}", values))
    return rows


def _same_key(value: Any) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else repr(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def comparison(runs: list[RunSummary], *, only_changed: bool = True) -> str:
    """Params and metrics of ``runs`` side by side: the first is the baseline, the others show their
    change (``300 → 150``, ``+0.012``)."""
    rows = comparison_rows(runs, only_changed=only_changed)
    if not rows:
        return f'<div style="font-family:{FONT};color:{MUTED}">No differences in params or metrics.</div>'
    head = "".join(f'<th style="{_CELL};background:{HEADER}">{escape(h)}</th>'
                   for h in ["", *(f"{run.run.stage or 'run'} {run.run.id[:8]}" for run in runs)])
    lines = []
    for key, values in rows:
        base = values[0]
        cells = [f'<td style="{_CELL};color:{MUTED}" title="{escape(key)}">{escape(report.shorten(key, 32))}</td>',
                 f'<td style="{_CELL}">{escape(cell_text(base))}</td>']
        for value in values[1:]:
            cells.append(f'<td style="{_CELL}">{_change(key, base, value)}</td>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div style="font-family:{FONT};font-size:12px;color:{TEXT};overflow-x:auto"><table style="border-collapse:'
            f'collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>')


def _change(key: str, base: Any, value: Any) -> str:
    text = escape(cell_text(value))
    if _same_key(base) == _same_key(value):
        return text
    x, y = _number(base), _number(value)
    if x is None or y is None or math.isnan(x) or math.isnan(y):
        return f"{escape(cell_text(base))} → {text}" if key.startswith("params.") else text
    if key.startswith("params."):
        return f"{escape(cell_text(base))} → {text}"
    delta = y - x
    colour = BETTER if delta > 0 else WORSE  # a metric's direction is unknown: up is green, as W&B shows it
    return f'{text} <span style="color:{colour}">({delta:+.4g})</span>'


def history_spec(series: dict[str, list], key: str) -> dict:
    """A vega-lite line chart of metric ``key`` over steps, one line per run (``series``: label → points)."""
    values = [{"run": label, "step": step, key: value}
              for label, points in series.items() for step, value, _ in points if not math.isnan(value)]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": 360, "height": 180,
        "data": {"values": values},
        "mark": {"type": "line", "point": len(values) <= 60},
        "encoding": {
            "x": {"field": "step", "type": "quantitative", "title": "step"},
            "y": {"field": key, "type": "quantitative", "scale": {"zero": False}},
            "color": {"field": "run", "type": "nominal", "title": None},
        },
        "config": {"background": None, "font": "sans-serif"},
    }


def svg(spec: dict) -> str:
    """The chart as inline SVG, drawn in the kernel (vl-convert): it shows in every frontend."""
    from ..core.plot_specs import to_svg

    return to_svg(spec)


def plot_views(views: list) -> str:
    """The runs' plots (``core.plots.PlotView``): each data plot overlaid across the runs as SVG,
    each image plot as the images of the runs that have it."""
    parts = []
    for view in views:
        title = f'<div style="font-weight:bold;margin:8px 0 2px">{escape(view.id)}</div>'
        if view.spec is not None:
            parts.append(title + svg(view.spec))
        else:
            images = "".join(
                f'<figure style="display:inline-block;margin:0 8px 0 0"><img style="max-width:320px" '
                f'src="data:{mime};base64,{base64.b64encode(data).decode()}"/><figcaption style="color:{MUTED}">'
                f"{escape(label)}</figcaption></figure>" for label, mime, data in view.images)
            parts.append(title + images)
    return f'<div class="mlops-plots" style="font-family:{FONT};font-size:12px;color:{TEXT}">{"".join(parts)}</div>'

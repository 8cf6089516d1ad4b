"""The pipeline of this kernel's notebook as an SVG graph: stages in layers (each one right of
everything it reads from), coloured by what their next run does (``mlops-jupyter status``)."""

from __future__ import annotations

import os
import threading
from html import escape
from pathlib import Path

import ipywidgets as w

from ..core.graph_render import STATE_STYLE, edge_labels
from . import html, live
from .base import Static

BOX_W, BOX_H, GAP_X, GAP_Y = 150, 44, 70, 22


def layers(order: tuple[str, ...], upstream: dict[str, list[str]]) -> dict[str, int]:
    """Each stage's column: one past the deepest stage it reads from (``order`` is upstream first)."""
    depth: dict[str, int] = {}
    for name in order:
        depth[name] = 1 + max((depth[up] for up in upstream.get(name, ()) if up in depth), default=-1)
    return depth


def svg(pipeline, states: dict[str, str]) -> str:
    upstream = {name: pipeline.upstream(name) for name in pipeline.order}
    depth = layers(pipeline.order, upstream)
    rows: dict[int, int] = {}
    place = {}
    for name in pipeline.order:
        column = depth[name]
        place[name] = (column * (BOX_W + GAP_X) + 10, rows.get(column, 0) * (BOX_H + GAP_Y) + 10)
        rows[column] = rows.get(column, 0) + 1
    width = (max(depth.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X + 20
    height = max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><defs><marker id="mj-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/></marker></defs>']
    for (up, down), what in edge_labels(pipeline).items():
        (x1, y1), (x2, y2) = place[up], place[down]
        x1, y1, y2 = x1 + BOX_W, y1 + BOX_H / 2, y2 + BOX_H / 2
        parts.append(f'<path class="mj-edge" d="M{x1},{y1} C{x1 + GAP_X / 2},{y1} {x2 - GAP_X / 2},{y2} {x2},{y2}" '
                     f'fill="none" stroke="#90a4ae" stroke-width="1.5" marker-end="url(#mj-arrow)">'
                     f'<title>{escape(", ".join(what))}</title></path>')
    for name in pipeline.order:
        x, y = place[name]
        state = states.get(name, "never run")
        fill, stroke, text = STATE_STYLE[state]
        parts.append(f'<g class="mj-stage" data-stage="{escape(name)}" data-state="{escape(state)}">'
                     f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" stroke="{stroke}" '
                     f'stroke-width="1.5"/><text x="{x + 10}" y="{y + 18}" fill="{text}" font-weight="bold">'
                     f'{escape(name[:20])}</text><text x="{x + 10}" y="{y + 34}" fill="{text}">{escape(state)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


class PipelineView(Static, w.VBox):
    """The DAG with each stage's state, redrawn when runs land or the notebook is saved."""

    def __init__(self, notebook: Path, project=None):
        super().__init__()
        self.add_class("mlops-pipeline-view")
        self.notebook, self.project = notebook, project
        self._lock = threading.RLock()
        self._stamp = None
        self.graph = w.HTML()
        self.graph.add_class("mlops-pipeline")
        self.legend = w.HTML()
        self.children = [self.graph, self.legend]
        self.refresh()
        live.watch(self)

    def _stamp_now(self):
        from ..kernel.tracking import TRACKER

        store, _ = TRACKER.open(self.project)
        try:
            saved = os.stat(self.notebook).st_mtime_ns
        except OSError:
            saved = None
        return store.version(), saved

    def refresh(self) -> None:
        from ..core.graph import load
        from ..core.status import pipeline_status
        from ..kernel.tracking import TRACKER

        with self._lock:
            self._stamp = self._stamp_now()
            store, project = TRACKER.open(self.project)
            pipeline = load(self.notebook)
            states = {s.stage: s.state for s in pipeline_status(pipeline, self.notebook, project, store)}
            self.graph.value = (f'<div style="overflow-x:auto">{svg(pipeline, states)}</div>' if pipeline.order else
                                f'<div style="color:{html.MUTED}">No stages in {escape(self.notebook.name)} — '
                                "add %%stage NAME to a cell</div>")
            self.legend.value = legend(sorted(set(states.values())))

    def refresh_if_changed(self) -> None:
        if self._stamp_now() != self._stamp:
            self.refresh()

    def static_html(self) -> str:
        return self.graph.value + self.legend.value


def legend(states: list[str]) -> str:
    items = "".join(f'<span style="margin-right:12px"><span style="display:inline-block;width:10px;height:10px;'
                    f'background:{STATE_STYLE[s][0]};border:1px solid {STATE_STYLE[s][1]};margin-right:4px"></span>'
                    f"{escape(s)}</span>" for s in states)
    return f'<div style="font-family:{html.FONT};font-size:11px;color:{html.MUTED}">{items}</div>'

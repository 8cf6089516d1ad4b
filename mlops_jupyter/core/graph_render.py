"""A pipeline as text, Mermaid or Graphviz dot, with stage states when known."""

from __future__ import annotations

import json
from collections import defaultdict

from .graph import Pipeline

STATE_STYLE = {  # state -> fill, stroke, text colours
    "fresh": ("#d4edda", "#2e7d32", "#1b5e20"),
    "cached": ("#d1ecf1", "#00838f", "#004d56"),
    "stale": ("#fff3cd", "#b7791f", "#7c5200"),
    "unknown": ("#ede7f6", "#6a4c93", "#3e2a63"),
    "uncached": ("#fde2cf", "#d46a1c", "#7a3408"),
    "never run": ("#eceff1", "#78909c", "#37474f"),
    "failed": ("#f8d7da", "#c62828", "#8e0000"),
    "running": ("#d0e7ff", "#1565c0", "#0d47a1"),
}


def edge_labels(pipeline: Pipeline) -> dict[tuple[str, str], list[str]]:
    """(upstream, downstream) -> what flows: variables, files, or 'after'."""
    labels: dict[tuple[str, str], list[str]] = defaultdict(list)
    for edge in pipeline.edges:
        labels[edge.upstream, edge.downstream].append("after" if edge.kind == "after" else edge.label)
    return labels


def to_text(pipeline: Pipeline, states: dict[str, str] | None = None) -> str:
    lines = []
    labels = edge_labels(pipeline)
    for name in pipeline.order:
        state = f"  [{states[name]}]" if states and name in states else ""
        lines.append(f"{name}{state}")
        for (up, down), what in labels.items():
            if up == name:
                lines.append(f"  └─▶ {down}  ({', '.join(what)})")
    return "\n".join(lines)


def _id(name: str) -> str:
    return "s_" + "".join(c if c.isalnum() else "_" for c in name)


def to_mermaid(pipeline: Pipeline, states: dict[str, str] | None = None) -> str:
    lines = ["flowchart LR"]
    for name in pipeline.order:
        lines.append(f'    {_id(name)}["{name}"]')
    for (up, down), what in edge_labels(pipeline).items():
        lines.append(f'    {_id(up)} -->|"{", ".join(what)}"| {_id(down)}')
    for name, state in (states or {}).items():
        fill, stroke, color = STATE_STYLE[state]
        lines.append(f"    style {_id(name)} fill:{fill},stroke:{stroke},color:{color}")
    return "\n".join(lines)


def to_dot(pipeline: Pipeline, states: dict[str, str] | None = None) -> str:
    lines = ["digraph pipeline {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fillcolor="#ffffff"];']
    for name in pipeline.order:
        fill = STATE_STYLE[states[name]][0] if states and name in states else "#ffffff"
        lines.append(f"  {json.dumps(name)} [fillcolor={json.dumps(fill)}];")
    for (up, down), what in edge_labels(pipeline).items():
        lines.append(f"  {json.dumps(up)} -> {json.dumps(down)} [label={json.dumps(', '.join(what))}];")
    lines.append("}")
    return "\n".join(lines)

"""Runs turned into rows and records for people (tables) and programs (JSON, CSV).

Shared by the CLI and the ``%mlops`` magic; plain data in, plain data out.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from .models import Experiment, Run, RunDetail, RunSummary


def format_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds >= 0.0095 else f"{seconds * 1000:.2g}ms"
    if seconds < 60:
        return f"{seconds:.3g}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.6g}"
    return str(value)


def json_number(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as protobuf's JSON mapping does."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


RUN_FIELDS = (
    "run_id", "experiment", "stage", "status", "start_time", "end_time",
    "duration", "notebook", "cell_id", "fingerprint",
)


def run_fields(run: Run) -> dict[str, Any]:
    """The run's own fields, keyed and ordered as ``RUN_FIELDS``."""
    return {
        "run_id": run.id,
        "experiment": run.experiment,
        "stage": run.stage,
        "status": run.status,
        "start_time": iso_time(run.start_time),
        "end_time": iso_time(run.end_time),
        "duration": run.duration,
        "notebook": run.notebook,
        "cell_id": run.cell_id,
        "fingerprint": run.fingerprint,
    }


def run_record(summary: RunSummary) -> dict[str, Any]:
    """A JSON-ready dict of one run."""
    return {
        **run_fields(summary.run),
        "params": {k: json_number(v) for k, v in summary.params.items()},
        "metrics": {k: json_number(v) for k, v in summary.metrics.items()},
        "tags": dict(summary.tags),
    }


def detail_record(detail: RunDetail) -> dict[str, Any]:
    env = detail.environment
    return {
        **run_record(detail),
        "metric_steps": detail.metric_steps,
        "code": detail.code,
        "environment": None if env is None else {
            "python": env.python,
            "platform": env.platform,
            "packages": env.packages,
            "git_commit": env.git_commit,
            "git_dirty": env.git_dirty,
            "host": env.host,
            "pid": env.pid,
        },
        "artifacts": [a.__dict__ for a in detail.artifacts],
        "lineage": [e.__dict__ for e in detail.lineage],
    }


def flat_columns(summaries: list[RunSummary], *, tags: bool = True) -> list[str]:
    """``metrics.*``, ``params.*`` (and ``tags.*``) columns present in any of the runs."""
    columns = []
    for prefix in ("metrics", "params", "tags") if tags else ("metrics", "params"):
        keys = sorted({key for s in summaries for key in getattr(s, prefix)})
        columns.extend(f"{prefix}.{key}" for key in keys)
    return columns


def flat_value(summary: RunSummary, column: str) -> Any:
    prefix, _, key = column.partition(".")
    return getattr(summary, prefix).get(key)


CELL_WIDTH = 40  # characters of a value in a table of runs; --json and --csv give them whole


def shorten(text: str, width: int = CELL_WIDTH) -> str:
    """``text`` cut to ``width`` characters (ending in …) and kept on one line."""
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def run_duration(run: Run) -> str:
    """A run's duration for people: empty while it runs, — when its end is unknown (killed)."""
    if run.end_time is None:
        return "" if run.status == "running" else "—"
    return format_duration(run.duration)


def runs_table(summaries: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the human table of ``runs ls`` (long values shortened)."""
    columns = flat_columns(summaries, tags=False)
    headers = ["run", "experiment", "stage", "status", "started", "duration", *(shorten(c) for c in columns)]
    rows = [
        [
            s.run.id[:8],
            shorten(s.run.experiment),
            shorten(s.run.stage or ""),
            s.run.status,
            format_time(s.run.start_time),
            run_duration(s.run),
            *(shorten(format_value(flat_value(s, c))) for c in columns),
        ]
        for s in summaries
    ]
    return headers, rows


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def diff_rows(a: RunSummary, b: RunSummary, *, all_rows: bool = False) -> list[dict[str, Any]]:
    """Params and metrics of two runs side by side, with the change of numbers (b - a)."""
    rows = []
    for prefix in ("params", "metrics"):
        left, right = getattr(a, prefix), getattr(b, prefix)
        for key in sorted(set(left) | set(right)):
            old, new = left.get(key), right.get(key)
            same = key in left and key in right and (
                old == new or (isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new))
            )
            if same and not all_rows:
                continue
            x, y = _number(old), _number(new)
            change = None if x is None or y is None or same else y - x
            rows.append({"key": f"{prefix}.{key}", "a": old, "b": new, "change": change, "missing": (key not in left, key not in right)})
    return rows


def diff_table(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """The rows of ``diff_rows`` for people: key, A, B and the change (``-`` where a side lacks the key)."""

    def cell(row, side: int) -> str:
        return "-" if row["missing"][side] else shorten(format_value(row["ab"[side]]))

    def change(row) -> str:
        if row["change"] is None:
            return "" if row["a"] == row["b"] else "changed"
        return f"{row['change']:+.6g}"

    return [(r["key"], cell(r, 0), cell(r, 1), change(r)) for r in rows]


def diff_record(a: RunSummary, b: RunSummary, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON of a diff of two runs (or experiments)."""
    return {
        "a": a.run.id,
        "b": b.run.id,
        "rows": [{"key": r["key"], "a": json_number(r["a"]), "b": json_number(r["b"]),
                  "change": json_number(r["change"])} for r in rows],
    }


# --- experiments (core.experiments) ---------------------------------------------------------------


def experiment_record(experiment: Experiment) -> dict[str, Any]:
    """A JSON-ready dict of one experiment: its run's record, the joined values, its upstream runs."""
    return {**run_record(experiment),
            "upstream": [{"run_id": u.run_id, "stage": u.stage} for u in experiment.upstream]}


def changed_columns(summaries: list[RunSummary], columns: list[str]) -> list[str]:
    """The columns holding two or more distinct values among the rows that have them (a key only some
    rows have is no change by itself), as the sidebar's "only columns that differ"."""
    changed = []
    for column in columns:
        seen = {repr(flat_value(s, column)) for s in summaries if flat_value(s, column) is not None}
        if len(seen) > 1:
            changed.append(column)
    return changed


def experiments_table(experiments: list[Experiment], *, only_changed: bool = False) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of ``exp show``: one row per experiment, its metrics then its params."""
    columns = flat_columns(experiments, tags=False)
    if only_changed:
        columns = changed_columns(experiments, columns)
    headers = ["run", "stage", "status", "started", *(shorten(c) for c in columns)]
    rows = [
        [e.run.id[:8], shorten(e.run.stage or ""), e.run.status, format_time(e.run.start_time),
         *(shorten(format_value(flat_value(e, c))) for c in columns)]
        for e in experiments
    ]
    return headers, rows

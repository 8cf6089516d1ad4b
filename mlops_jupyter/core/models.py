"""Value objects of the run store. Times are milliseconds since the epoch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("running", "finished", "failed", "killed")


@dataclass(frozen=True)
class Environment:
    python: str
    platform: str
    packages: dict[str, str]
    git_commit: str | None
    git_dirty: bool | None
    host: str
    pid: int
    pid_start_time: float | None


@dataclass(frozen=True)
class Run:
    id: str
    experiment: str
    stage: str | None
    status: str
    start_time: int
    end_time: int | None
    notebook: str | None = None
    cell_id: str | None = None
    fingerprint: str | None = None
    code_hash: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while running."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time) / 1000.0


@dataclass(frozen=True)
class RunSummary:
    """A run with its params, latest metric values and tags: one table row."""

    run: Run
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    step: int
    value: float
    timestamp: int


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str
    hash: str
    size: int
    mime: str | None


@dataclass(frozen=True)
class LineageEdge:
    upstream_run_id: str
    via: str
    kind: str  # "variable" or "file"


@dataclass(frozen=True)
class RunDetail(RunSummary):
    """Everything the store knows about one run."""

    code: str | None = None
    environment: Environment | None = None
    metric_steps: dict[str, int] = field(default_factory=dict)
    artifacts: tuple[Artifact, ...] = ()
    lineage: tuple[LineageEdge, ...] = ()


@dataclass(frozen=True)
class UpstreamRun:
    run_id: str
    stage: str | None


@dataclass(frozen=True)
class Experiment(RunSummary):
    """A run with the params, latest metrics and tags of every run upstream of it, as one row
    (``core.experiments`` says how keys are named); ``upstream`` nearest first."""

    upstream: tuple[UpstreamRun, ...] = ()

"""Each stage's state, from ``mlops.lock``, the files and the store: nothing is executed.

fresh     what the lock records is what the stage is made of now
stale     with its reasons: code changed, param train.n_est 100 → 200, dep data/x.csv changed,
          out model.pkl missing, upstream prepare stale
never run no lock entry
failed    its latest run failed
running   its latest run is running now
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import lockfile
from . import params as params_mod
from .cellcode import code_hash
from .errors import MlopsError
from .graph import Pipeline
from .hashing import DepError, FileHasher
from .project import Project
from .report import format_value
from .store import RunStore

STATES = ("fresh", "stale", "never run", "failed", "running")


@dataclass(frozen=True)
class StageStatus:
    stage: str
    state: str
    reasons: tuple[str, ...] = ()
    last_run: str | None = None
    cell_index: int | None = None
    cell_id: str | None = None


def _param_reasons(old: dict, new: dict) -> list[str]:
    before, after = params_mod.flatten(old), params_mod.flatten(new)
    reasons = []
    for key in sorted(set(before) | set(after)):
        if key not in before:
            reasons.append(f"param {key} added")
        elif key not in after:
            reasons.append(f"param {key} removed")
        elif before[key] != after[key]:
            reasons.append(f"param {key} {format_value(before[key])} → {format_value(after[key])}")
    return reasons


@dataclass
class _Checker:
    pipeline: Pipeline
    project: Project
    folder: Path  # the notebook's folder: paths in stage flags are relative to it
    hasher: FileHasher
    store: RunStore | None
    notebook: str | None
    lock: dict = field(default_factory=dict)

    def latest_run(self, stage: str):
        if self.store is None:
            return None
        found = self.store.search(stage=stage, notebook=self.notebook, limit=1)
        return found[0].run if found else None

    def own_reasons(self, cell, entry: dict) -> list[str]:
        spec, reasons = cell.spec, []
        if code_hash(cell.source) != entry.get("code"):
            reasons.append("code changed")
        try:
            declared = params_mod.resolve(self.project.root, spec.params)
            reasons += _param_reasons(params_mod.merged(entry.get("params") or {}), params_mod.merged(declared))
        except MlopsError as e:
            reasons.append(str(e))
        locked_deps = {d["path"]: d["hash"] for d in entry.get("deps") or []}
        for dep in spec.deps:
            path = self.project.name_of(dep, self.folder)
            try:
                digest = self.hasher.hash_path(self.folder / dep).hash
            except DepError:
                reasons.append(f"dep {path} missing")
                continue
            if path not in locked_deps:
                reasons.append(f"dep {path} added")
            elif locked_deps[path] != digest:
                reasons.append(f"dep {path} changed")
        declared_deps = {self.project.name_of(d, self.folder) for d in spec.deps}
        reasons += [f"dep {path} removed" for path in sorted(set(locked_deps) - declared_deps)]
        locked_outs = {o["path"]: o["hash"] for o in entry.get("outs") or []}
        for out in spec.all_outs:
            path = self.project.name_of(out, self.folder)
            target = self.folder / out
            if not target.exists():
                reasons.append(f"out {path} missing")
            elif path not in locked_outs:
                reasons.append(f"out {path} added")
            elif self.hasher.hash_path(target).hash != locked_outs[path]:
                reasons.append(f"out {path} changed")
        return reasons

    def check(self) -> list[StageStatus]:
        states: dict[str, StageStatus] = {}
        for name in self.pipeline.order:
            cell = self.pipeline.stage(name)
            last = self.latest_run(name)
            last_id = last.id if last else None
            entry = self.lock.get(name)

            def status(state: str, reasons=()) -> StageStatus:
                return StageStatus(name, state, tuple(reasons), last_id, cell.index, cell.cell_id)

            if last is not None and last.status == "running":
                states[name] = status("running")
            elif last is not None and last.status in ("failed", "killed"):
                states[name] = status("failed", [f"last run {last.id[:8]} {last.status}"])
            elif entry is None:
                states[name] = status("never run")
            else:
                reasons = self.own_reasons(cell, entry)
                for up in self.pipeline.upstream(name):
                    if states[up].state != "fresh":
                        reasons.append(f"upstream {up} {states[up].state}")
                states[name] = status("stale" if reasons else "fresh", reasons)
        return [states[name] for name in self.pipeline.order]


def pipeline_status(pipeline: Pipeline, notebook_path: Path, project: Project, store: RunStore | None) -> list[StageStatus]:
    notebook_path = notebook_path.resolve()
    notebook = project.name_of(notebook_path)
    checker = _Checker(pipeline, project, notebook_path.parent, FileHasher(store), store, notebook,
                       lockfile.read(project.lock_path))
    return checker.check()

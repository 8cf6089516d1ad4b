"""Each stage's state, from ``mlops.lock``, the notebook, the files and the store: nothing is
executed. The state says what the next run of the stage will do.

fresh      what the lock records is what the stage is made of now: it restores
cached     it changed, to something computed before (a param set back, an upstream restored from
           another run): it restores that run
stale      with its reasons: code changed, param train.n_est 100 → 200, dep data/x.csv changed,
           input threshold changed (cell 3), out model.pkl missing, upstream prepare stale: it runs
unknown    it reads what only the kernel knows (a plain cell's ``df = load()``): it may run
uncached   its last run could not be cached (a value that cannot be saved, --no-cache): it runs
never run  no lock entry
failed     its latest run failed
running    its latest run is running now

Plain cells are read statically (``core.statics``): imports, functions, classes and literal
constants by their source, so a changed helper function or constant makes the stages that read it
stale; a name computed at run time makes them unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import lockfile
from . import params as params_mod
from .cellcode import code_hash, to_python
from .errors import MlopsError
from .graph import CodeCell, Pipeline
from .hashing import DepError, FileHasher, OutsideBoundary
from .objects import CorruptObject, ObjectStore
from .project import Project
from .report import format_value
from .stage_cache import fingerprint
from .statics import Binding, cell_bindings, computed, signature
from .store import RunStore

STATES = ("fresh", "cached", "stale", "unknown", "uncached", "never run", "failed", "running")
# An upstream stage in one of these states will not give back what the lock recorded.
_RUNS_AGAIN = {"stale": "stale", "never run": "stale", "failed": "stale", "running": "stale",
               "unknown": "unknown", "uncached": "unknown"}


@dataclass(frozen=True)
class StageStatus:
    stage: str
    state: str
    reasons: tuple[str, ...] = ()
    last_run: str | None = None
    cell_index: int | None = None
    cell_id: str | None = None


@dataclass
class _Expected:
    """What a stage will give its downstream stages after the next run (when status can tell)."""

    variables: dict[str, str] = field(default_factory=dict)  # name -> value hash
    outs: dict[str, str] = field(default_factory=dict)  # path -> hash


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


def _bindings_above(pipeline: Pipeline) -> dict[str, dict[str, Binding]]:
    """For each stage, what the cells above it bind (plain cells statically, stages as computed)."""
    bindings: dict[str, Binding] = {}
    above: dict[str, dict[str, Binding]] = {}
    for cell in pipeline.cells:
        if cell.spec is not None:
            above[cell.spec.name] = dict(bindings)
            bindings.update(computed(cell.writes, cell.index))
            continue
        try:
            bindings.update(cell_bindings(to_python(cell.source).code, cell.index))
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            bindings.update(computed(cell.writes, cell.index))
    return above


@dataclass
class _Checker:
    pipeline: Pipeline
    project: Project
    folder: Path  # the notebook's folder: paths in stage flags are relative to it
    hasher: FileHasher
    store: RunStore | None
    notebook: str | None
    lock: dict = field(default_factory=dict)
    confine: Path | None = None

    def __post_init__(self) -> None:
        self.above = _bindings_above(self.pipeline)
        self.expected: dict[str, _Expected] = {}
        self.states: dict[str, str] = {}

    def latest_run(self, stage: str):
        if self.store is None:
            return None
        found = self.store.search(stage=stage, notebook=self.notebook, limit=1)
        return found[0].run if found else None

    # --- what the stage is made of now ---------------------------------------------

    def params(self, cell: CodeCell, reasons: list[str]) -> dict | None:
        for ref in cell.spec.params:
            try:
                self.hasher.check(self.project.root / ref.file)
            except OutsideBoundary:
                reasons.append(f"params {ref.file} not checked: outside the server's root")
                return None
        try:
            return params_mod.resolve(self.project.root, cell.spec.params, overrides={})
        except MlopsError as e:
            reasons.append(str(e))
            return None

    def deps(self, cell: CodeCell, reasons: list[str]) -> dict[str, str]:
        """The hash of each dep as the run will see it: an upstream's out as that upstream will
        check it out, any other file as it is on disk."""
        from_upstream = {path: digest for up in self.pipeline.upstream(cell.spec.name)
                         for path, digest in self.expected.get(up, _Expected()).outs.items()}
        found = {}
        for dep in cell.spec.deps:
            path = self.project.name_of(dep, self.folder)
            if path in from_upstream:
                found[path] = from_upstream[path]
                continue
            try:
                found[path] = self.hasher.hash_path(self.folder / dep).hash
            except OutsideBoundary:  # as the flag says it: where it leads is not told
                reasons.append(f"dep {dep} not checked: outside the server's root")
            except DepError:
                reasons.append(f"dep {path} missing")
        return found

    def inputs(self, cell: CodeCell, entry: dict, reasons: list[str], unknown: list[str]) -> dict[str, str] | None:
        """The value hash of each input the lock names, as the next run will see it (None: not known)."""
        produced = {e.label: e.upstream for e in self.pipeline.edges
                    if e.downstream == cell.spec.name and e.kind == "variable"}
        bindings = self.above[cell.spec.name]
        locked_statics = entry.get("statics") or {}
        found: dict[str, str] | None = {}
        for name, locked in sorted((entry.get("inputs") or {}).items()):
            upstream = produced.get(name)
            if upstream is not None:
                digest = self.expected.get(upstream, _Expected()).variables.get(name)
                if digest is None:
                    found = None
                elif digest != locked:
                    reasons.append(f"input {name} changed (from stage {upstream})")
                if found is not None and digest is not None:
                    found[name] = digest
                continue
            binding, now = bindings.get(name), signature(name, bindings)
            if now is None:
                where = f" ({binding.where})" if binding is not None else ""
                unknown.append(f"{name}{where}")
                found = None
                continue
            if binding.literal:  # its signature is its value's hash
                if now != locked:
                    reasons.append(f"input {name} changed ({binding.where})")
                if found is not None:
                    found[name] = now
            elif locked_statics.get(name) != now:
                reasons.append(f"input {name} changed ({binding.where})")
                found = None  # its value is not known until it runs
            elif found is not None:
                found[name] = locked
        return found

    def own_reasons(self, cell: CodeCell, entry: dict, declared: dict | None, deps: dict[str, str],
                    problems: list[str]) -> list[str]:
        """Code, params, deps and outs against the lock; ``problems``: what params/deps could not be read."""
        spec, reasons = cell.spec, []
        if code_hash(cell.source) != entry.get("code"):
            reasons.append("code changed")
        reasons += problems
        if declared is not None:
            reasons += _param_reasons(params_mod.merged(entry.get("params") or {}), params_mod.merged(declared))
        locked_deps = {d["path"]: d["hash"] for d in entry.get("deps") or []}
        for path, digest in deps.items():
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
            try:
                self.hasher.check(target)
            except OutsideBoundary:
                reasons.append(f"out {out} not checked: outside the server's root")
                continue
            if not target.exists():
                reasons.append(f"out {path} missing")
            elif path not in locked_outs:
                reasons.append(f"out {path} added")
            elif self.hasher.hash_path(target).hash != locked_outs[path]:
                reasons.append(f"out {path} changed")
        return reasons

    # --- what the next run does -------------------------------------------------------

    def cached_result(self, fp: str) -> tuple[str | None, _Expected] | None:
        """(run id, what it restores) of a cached result, read from its manifest."""
        if self.store is None:
            return None
        found = self.store.cached_stage(fp)
        if found is None:
            return None
        run_id = found.run_id
        try:
            manifest = json.loads(ObjectStore(self.project.cache_dir).read_bytes(found.manifest))
        except (CorruptObject, ValueError):
            return None  # the run would find it broken and run again
        return run_id, _Expected({n: v["hash"] for n, v in manifest.get("variables", {}).items()},
                                 {p: o["hash"] for p, o in manifest.get("outs", {}).items()})

    def check_stage(self, cell: CodeCell, entry: dict) -> tuple[str, list[str]]:
        name, spec = cell.spec.name, cell.spec
        problems: list[str] = []
        declared = self.params(cell, problems)
        deps = self.deps(cell, problems)
        reasons = self.own_reasons(cell, entry, declared, deps, problems)
        unknown: list[str] = []
        inputs = self.inputs(cell, entry, reasons, unknown)
        upstream_runs = upstream_unknown = False  # an upstream that runs again gives what is not known yet
        for up in self.pipeline.upstream(name):
            if self.states[up] in _RUNS_AGAIN:
                reasons.append(f"upstream {up} {self.states[up]}")
                upstream_runs = True
                upstream_unknown = upstream_unknown or _RUNS_AGAIN[self.states[up]] == "unknown"
        known = inputs is not None and declared is not None and not unknown and not upstream_runs
        fp = fingerprint(stage=name, code=code_hash(cell.source), params=declared, deps=deps, inputs=inputs,
                         outs=[self.project.name_of(p, self.folder) for p in spec.all_outs],
                         keep=spec.keep) if known else None
        uncached = entry.get("uncached")
        if unknown and not reasons:
            self.expected[name] = _Expected(dict(entry.get("variables") or {}))
            return "unknown", [f"reads kernel state: {', '.join(unknown)}"]
        if not reasons:
            self.expected[name] = _Expected(dict(entry.get("variables") or {}),
                                            {o["path"]: o["hash"] for o in entry.get("outs") or []})
            return ("uncached", [f"not cacheable: {uncached}"]) if uncached else ("fresh", [])
        hit = self.cached_result(fp) if fp else None
        if hit is not None:
            run_id, self.expected[name] = hit
            return "cached", [*reasons, f"restores run {(run_id or '?')[:8]}"]
        if unknown or upstream_unknown:
            extra = [f"reads kernel state: {', '.join(unknown)}"] if unknown else []
            return "unknown", [*reasons, *extra]
        return "stale", reasons

    def check(self) -> list[StageStatus]:
        result: dict[str, StageStatus] = {}
        for name in self.pipeline.order:
            cell = self.pipeline.stage(name)
            last = self.latest_run(name)
            entry = self.lock.get(name)
            if last is not None and last.status == "running":
                state, reasons = "running", []
            elif last is not None and last.status in ("failed", "killed"):
                state, reasons = "failed", [f"last run {last.id[:8]} {last.status}"]
            elif entry is None:
                state, reasons = "never run", []
            else:
                state, reasons = self.check_stage(cell, entry)
            self.states[name] = state
            result[name] = StageStatus(name, state, tuple(reasons), last.id if last else None, cell.index, cell.cell_id)
        return [result[name] for name in self.pipeline.order]


def pipeline_status(pipeline: Pipeline, notebook_path: Path, project: Project, store: RunStore | None, *,
                    confine: Path | None = None) -> list[StageStatus]:
    """``confine``: the folder outside which no dep, out or params file is read (the server's root)."""
    notebook_path = notebook_path.resolve()
    notebook = project.name_of(notebook_path)
    checker = _Checker(pipeline, project, notebook_path.parent, FileHasher(store, confine=confine), store, notebook,
                       lockfile.read(project.lock_path, notebook), confine)
    return checker.check()

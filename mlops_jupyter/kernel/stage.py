"""Running one ``%%stage`` cell: fingerprint, restore on a hit, run and record on a miss."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..core import graph, lockfile, locks, runenv, transfer
from ..core import params as params_mod
from ..core.cellcode import code_hash, to_python
from ..core.errors import MlopsError, StoreError, describe_os_error
from ..core.graph import GraphError
from ..core.hashing import DepError, FileHasher, PathHash
from ..core.lockfile import LockfileError
from ..core.models import Artifact, LineageEdge
from ..core.names import CellNames, analyze
from ..core.objects import CorruptObject, ObjectStore
from ..core.plot_specs import VEGA_LITE_MIME
from ..core.plots import PlotError
from ..core.project import is_state_path
from ..core.remotes import RemoteError
from ..core.report import format_duration
from ..core.spec import StageSpec, parse_stage_line, split_cell
from ..core.values import file_metrics
from ..core.stage_cache import StageCache, UntrustedResult, fingerprint
from ..core.statics import Binding, cell_bindings, computed, signature
from ..core.variables import UnsupportedValue, figure_like, value_hash
from . import autolog, plotting, tracking
from .identity import cell_id, notebook_file
from .recorder import OutputRecorder, replay

# Names a stage never treats as its data: IPython's own, and what the stage injects.
_SHELL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open", "params", "mj"}


def _is_data(name: str, value: Any) -> bool:
    """Whether a namespace entry can matter to a stage: not IPython's own, not a module, not a
    closed file (what ``with open(...) as f:`` leaves behind)."""
    return not (
        name.startswith("_")
        or name in _SHELL_NAMES
        or isinstance(value, types.ModuleType)
        or (isinstance(value, io.IOBase) and value.closed)
    )


def _refuse_state_paths(spec: StageSpec, project) -> None:
    """Deps may hold the project folder (its state is skipped); nothing may be read from inside
    the state, and no out may hold it (a restore would overwrite or delete it)."""
    for dep in spec.deps:
        if is_state_path(Path(dep).absolute()):
            raise UsageError(f"stage {spec.name!r}: dep {dep} is inside the project's own state (.mlops/, .git/, mlops.lock), "
                             "which is never data; depend on your own files")
    for out in spec.all_outs:
        if project.holds_state(out):
            raise UsageError(f"stage {spec.name!r}: out {out} holds the project's own state (.mlops/, .git/, mlops.lock); "
                             "name the files or folders the stage writes instead")


@dataclass
class Context:
    spec: StageSpec
    body: str
    store: Any
    project: Any
    hasher: FileHasher
    cache: StageCache
    declared: dict
    flat_params: dict
    deps: dict[str, PathHash]
    inputs: dict[str, str]
    problems: list[str]
    fingerprint: str | None
    notebook: str | None  # as the project names it: the key of the stage's mlops.lock entry
    cell_id: str | None
    loop_only: frozenset[str]  # names the body binds only as `for` targets
    plots: list = field(default_factory=list)  # what it draws from its files (kernel.plotting.stage_plots)


class StageRunner:
    def __init__(self, shell):
        self.shell = shell
        self.producers: dict[str, tuple[str, str]] = {}  # variable -> (run id, value hash)
        # Pickle bytes are not canonical: an unpickled object hashes differently from the one that
        # was saved, and differently again in another process (set order follows the per-process
        # string hash seed). So a restored pickled variable maps its hash, taken at once, to the
        # recorded one: stages downstream hit alike after a run and after a restore, and a later
        # mutation changes the hash and escapes the alias.
        self.aliases: dict[str, str] = {}
        self.cells: dict[str, str] = {}  # stage name -> id of the cell that ran it last
        # What the cells run so far bound, as status reads it from the notebook (core.statics).
        self.bindings: dict[str, Binding] = {}
        self._in_body = False  # a stage's body runs as a cell of its own: not a plain cell
        self._checked_notebook: tuple | None = None  # (path, mtime, size) of the notebook last checked
        self._pipeline: graph.Pipeline | None = None  # that notebook's pipeline, when it forms one

    def observe(self, result) -> None:
        """IPython's post_run_cell event: keep what each executed cell binds (``core.statics``)."""
        raw = getattr(getattr(result, "info", None), "raw_cell", None)
        if self._in_body or not raw or len(raw) > 1_000_000:
            return
        parts = split_cell(raw)
        try:
            if parts is None:
                self.bindings.update(cell_bindings(to_python(raw).code))
            else:  # what a stage binds is computed at run time
                self.bindings.update(computed(analyze(to_python(parts[1]).code)))
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            pass

    def _hash(self, value: Any) -> str:
        digest = value_hash(value)
        return self.aliases.get(digest, digest)

    # --- helpers ----------------------------------------------------------------

    @staticmethod
    def _note(message: str) -> None:
        print(message, file=sys.stderr)

    @staticmethod
    def _event(**fields) -> None:
        path = os.environ.get(runenv.EVENTS)
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(fields) + "\n")

    # --- preparation ------------------------------------------------------------

    def prepare(self, line: str, body: str) -> Context:
        """Everything known before running: fails with a UsageError, having recorded nothing."""
        try:
            spec = parse_stage_line(line)
            store, project = tracking.TRACKER.open()
            declared = params_mod.resolve(project.root, spec.params)
            plot_defs = plotting.stage_plots(spec, project)
        except MlopsError as e:
            raise UsageError(str(e)) from None
        _refuse_state_paths(spec, project)
        hasher = FileHasher(store)
        config = tracking.TRACKER.config(project)
        trusted = frozenset(name for name, remote in config.remotes.items() if remote.trusted)
        cache = StageCache(store, ObjectStore(project.cache_dir), hasher, trusted)
        deps = {}
        for dep in spec.deps:
            try:
                deps[project.name_of(dep)] = hasher.hash_path(dep)
            except DepError:
                raise UsageError(f"stage {spec.name!r}: dep {dep} does not exist; create it or fix -d") from None
        try:
            names = analyze(to_python(body).code)
        except SyntaxError:
            names = CellNames(frozenset(), frozenset())  # the run shows the SyntaxError as usual
        reads = names.reads
        inputs, problems = {}, []
        namespace = self.shell.user_ns
        for name in sorted(reads):
            if name in namespace and _is_data(name, namespace[name]):
                try:
                    inputs[name] = self._hash(namespace[name])
                except UnsupportedValue as e:
                    problems.append(f"input `{name}`: {e}")
        flat = params_mod.flatten(params_mod.merged(declared))
        fp = None
        if not problems:
            fp = fingerprint(
                stage=spec.name, code=code_hash(body), params=declared,
                deps={path: h.hash for path, h in deps.items()}, inputs=inputs,
                outs=[project.name_of(p) for p in spec.all_outs], keep=spec.keep,
            )
        notebook_path = notebook_file(self.shell, body)
        cell = cell_id(self.shell, body, notebook_path)
        self._check_names(spec, notebook_path, cell)
        notebook = project.name_of(notebook_path) if notebook_path else None
        return Context(spec, body, store, project, hasher, cache, declared, flat, deps, inputs, problems, fp,
                       notebook, cell, names.loop_only, plot_defs)

    def _check_names(self, spec: StageSpec, path: Path | None, cell: str | None) -> None:
        """One line when the stage's name is taken by another cell, or the notebook's stages do not
        form a pipeline (an unknown --after, a cycle), as ``status`` would say; the cell still runs."""
        if cell and self.cells.setdefault(spec.name, cell) != cell:
            self._note(f"mlops: stage name {spec.name!r} is also used by another cell: stage names must be "
                       "unique (mlops.lock and status keep one entry per name)")
        if cell:
            self.cells[spec.name] = cell
        try:
            st = path.stat() if path else None
        except OSError:
            st = None
        if st is None or (path, st.st_mtime_ns, st.st_size) == self._checked_notebook:
            return
        self._checked_notebook = (path, st.st_mtime_ns, st.st_size)
        self._pipeline = None
        try:
            self._pipeline = graph.load(path)
        except GraphError as e:
            self._note(f"mlops: {path.name}: {e}")

    # --- restore ----------------------------------------------------------------

    def try_restore(self, ctx: Context) -> tuple[bool, Any]:
        spec = ctx.spec
        if spec.force or spec.no_cache or ctx.fingerprint is None:
            return False, None
        started = time.perf_counter()
        try:
            cached = ctx.cache.lookup(ctx.fingerprint) or self._from_remote(ctx)
            if cached is None:
                return False, None
            if any(not Path(p).exists() for p in spec.outs_no_cache + spec.metrics_no_cache):
                return False, None  # uncached outs cannot come from the cache
            values = ctx.cache.load_variables(cached)
        except CorruptObject as e:
            self._note(f"mlops: the cached result of stage {spec.name!r} is unusable ({e}); running it")
            return False, None
        except UntrustedResult as e:
            self._note(f"mlops: the cached result of stage {spec.name!r} is not restored: {e}; running it")
            return False, None
        for path, out in cached.outs.items():
            ctx.cache.checkout(ctx.project.root, path, out)
        for name, value in values.items():
            if cached.variables[name]["format"] == "pickle":
                self.aliases[value_hash(value)] = cached.variables[name]["hash"]
        self.shell.user_ns.update(values)
        self._remember_producers(cached.run_id, values, {n: v["hash"] for n, v in cached.variables.items()})
        outputs, plot_problem = plotting.refresh(cached.outputs, ctx.plots, ctx.project.root)
        result = replay(self.shell, outputs)
        self._write_lock(ctx, {n: v["hash"] for n, v in cached.variables.items()})
        took = time.perf_counter() - started
        saved = max(0.0, (cached.seconds or 0.0) - took)
        what = [f"{len(values)} variable{'s' * (len(values) != 1)}"] if values else []
        if cached.outs:
            what.append(f"{len(cached.outs)} out{'s' * (len(cached.outs) != 1)}")
        run = (cached.run_id or "?")[:8]
        timing = f"; {format_duration(took)} instead of {format_duration(cached.seconds or 0.0)}"
        where = f" of remote {cached.origin!r}" if cached.origin else ""
        print(f"✓ stage {spec.name!r} restored from run {run}{where} ({', '.join(what) or 'outputs'}"
              f"{timing if tracking.TRACKER.config(ctx.project).core.timings else ''})")
        self._event(stage=spec.name, status="restored", seconds=took, saved=saved, run_id=cached.run_id)
        if plot_problem is not None:
            raise UsageError(f"stage {spec.name!r} is restored, but {plot_problem}")
        return True, result

    def _shared_remote(self, ctx: Context, setting: str):
        """The default remote when the team-shared stage cache is on for ``setting``, else None."""
        config = tracking.TRACKER.config(ctx.project)
        remote = config.default_remote()
        if remote is None or not getattr(config.cache, setting):
            return None
        return transfer.Remote(remote)

    def _from_remote(self, ctx: Context):
        """On a miss: a teammate's result for the same fingerprint, pulled from the default remote
        (objects verified, its run record imported), or None."""
        try:
            remote = self._shared_remote(ctx, "remote_lookup")
            if remote is None or remote.read_entry(ctx.fingerprint) is None:
                return None
            transfer.fetch_entries(ctx.store, ctx.cache, remote, [ctx.fingerprint], quiet=True)
        except RemoteError as e:
            self._note(f"mlops: stage {ctx.spec.name!r}: the shared stage cache was not consulted: {e}")
            return None
        return ctx.cache.lookup(ctx.fingerprint)

    def _share(self, ctx: Context) -> None:
        """After a run: push its result to the default remote, so teammates restore it."""
        try:
            remote = self._shared_remote(ctx, "remote_push")
            if remote is not None:
                transfer.push(ctx.store, ctx.cache, remote, fingerprints=[ctx.fingerprint], quiet=True)
        except (RemoteError, CorruptObject, OSError) as e:
            self._note(f"mlops: stage {ctx.spec.name!r} ran, but its result was not pushed to the remote: {e}")

    def _remember_producers(self, run_id: str | None, values: dict[str, Any], hashes: dict[str, str] | None = None):
        if not run_id:
            return
        for name, value in values.items():
            try:
                self.producers[name] = (run_id, (hashes or {}).get(name) or self._hash(value))
            except UnsupportedValue:
                self.producers.pop(name, None)

    # --- run --------------------------------------------------------------------

    def run(self, ctx: Context) -> None:
        spec, store, project = ctx.spec, ctx.store, ctx.project
        for problem in ctx.problems:
            self._note(f"mlops: stage {spec.name!r} runs uncached: {problem}")
        active = tracking.TRACKER.start_run(
            stage=spec.name, project=project,
            notebook=ctx.notebook, cell_id=ctx.cell_id,
            code=ctx.body, code_hash=code_hash(ctx.body), fingerprint=ctx.fingerprint,
        )
        run_id = active.run_id
        if ctx.flat_params:
            store.log_params(run_id, ctx.flat_params)
        if spec.desc:
            store.set_tags(run_id, {"description": spec.desc})
        store.add_lineage(run_id, self._lineage(ctx))

        namespace = self.shell.user_ns
        view = params_mod.ParamsView(params_mod.merged(ctx.declared), spec.name)
        namespace["params"] = view
        tracking.set_stage_params(view)
        before = {name: id(value) for name, value in namespace.items()}
        started = time.perf_counter()
        self._in_body = True
        plots_shown: list[PlotError | None] = []

        def show_plots() -> None:  # the plots of the files it wrote: after its code, before its result
            if not plots_shown:
                try:
                    plotting.show_file_plots(ctx.plots, project.root)
                    plots_shown.append(None)
                except PlotError as e:
                    plots_shown.append(e)

        try:
            with OutputRecorder(self.shell, before_result=show_plots) as recorder, \
                    (autolog.for_stage() if spec.autolog else contextlib.nullcontext()):
                result = self.shell.run_cell(ctx.body, store_history=False)
                if result.success:
                    show_plots()
            if result.success:
                autolog.flush(namespace)  # the fits of the body, named by their variables, on this run
        finally:
            self._in_body = False
            tracking.set_stage_params(None)
        seconds = time.perf_counter() - started

        if not result.success:
            error = result.error_in_exec or result.error_before_exec
            status = "killed" if isinstance(error, KeyboardInterrupt) else "failed"
            active.end(status)
            self._event(stage=spec.name, status="failed", seconds=seconds, run_id=run_id)
            what = "was interrupted" if status == "killed" else "failed"
            raise UsageError(f"stage {spec.name!r} {what}: run {run_id[:8]} is recorded as {status}; nothing was cached")

        try:
            self._finish(ctx, active, recorder, before, seconds)
        except StoreError as e:
            raise UsageError(f"stage {spec.name!r} ran, but its run could not be recorded: {e}") from None
        except BaseException:
            if active.status is None:
                active.end("failed")
            raise
        if plots_shown and plots_shown[0] is not None:
            raise UsageError(f"stage {spec.name!r} ran and its run {run_id[:8]} is saved, but {plots_shown[0]}; "
                             "run the cell again to draw it from the cache")

    def _lineage(self, ctx: Context) -> list[LineageEdge]:
        edges = []
        for name, digest in ctx.inputs.items():
            producer = self.producers.get(name)
            if producer and producer[1] == digest:
                edges.append(LineageEdge(producer[0], name, "variable"))
        for path, hashed in ctx.deps.items():
            upstream = ctx.store.producer_of(path, hashed.hash)
            if upstream:
                edges.append(LineageEdge(upstream, path, "file"))
        return edges

    def _finish(self, ctx: Context, active, recorder: OutputRecorder, before: dict, seconds: float) -> None:
        spec, run_id = ctx.spec, active.run_id
        outputs = recorder.outputs()
        produced, hashes, problems = self._produced(ctx, before, outputs)
        self._log_metric_files(spec)
        outs_missing = [p for p in spec.all_outs if not Path(p).exists()]
        if outs_missing:
            active.end("failed")
            self._event(stage=spec.name, status="failed", seconds=seconds, run_id=run_id)
            raise UsageError(
                f"stage {spec.name!r} did not write {', '.join(outs_missing)}: write it or drop it from the flags "
                f"(run {run_id[:8]} recorded as failed)"
            )
        for problem in problems[len(ctx.problems):]:
            self._note(f"mlops: stage {spec.name!r} is not cached: {problem}")
        cacheable = not problems and not spec.no_cache and ctx.fingerprint is not None
        try:
            self._record(ctx, run_id, outputs, produced, hashes, seconds, cacheable)
        except (OSError, StoreError) as e:  # a full disk, a read-only cache: the body's work stands
            self._note(f"mlops: stage {spec.name!r} ran, but its result is not cached: {describe_os_error(e)}")
            cacheable, problems = False, [*problems, describe_os_error(e)]
        active.end("finished")
        if cacheable:
            self._share(ctx)
        self._remember_producers(run_id, produced, hashes)
        uncached = "--no-cache" if spec.no_cache else (problems[0] if problems else None)
        self._write_lock(ctx, hashes, uncached=uncached)
        self._event(stage=spec.name, status="ran", seconds=seconds, run_id=run_id, cached=cacheable)

    def _produced(self, ctx: Context, before: dict, outputs: list[dict]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
        """The variables the body bound or changed in place, their hashes, and what could not be hashed.

        A loop's leftover targets, and figures already captured as images, are left out (not
        cached, not restored) unless ``--keep`` names them or another stage of the notebook reads them."""
        namespace = self.shell.user_ns
        produced = {
            name: value for name, value in namespace.items()
            if _is_data(name, value) and (name not in before or before[name] != id(value))
        }
        wanted = set(ctx.spec.keep) | self._read_downstream(ctx.spec.name)
        shown = any(mime.startswith("image/") for o in outputs for mime in (o.get("data") or {}))
        for name in [n for n in produced if n not in wanted]:
            if name in ctx.loop_only or (shown and figure_like(produced[name])):
                del produced[name]
        problems = list(ctx.problems)
        hashes: dict[str, str] = {}
        for name, old in ctx.inputs.items():  # mutated in place: an output too
            if name in namespace and name not in produced:
                try:
                    new = self._hash(namespace[name])
                except UnsupportedValue as e:
                    problems.append(f"input `{name}` changed and {e}")
                    continue
                if new != old:
                    produced[name] = namespace[name]
                    hashes[name] = new
        for name, value in sorted(produced.items()):
            if name not in hashes:
                try:
                    hashes[name] = self._hash(value)
                except UnsupportedValue as e:
                    problems.append(f"output `{name}`: {e}")
        return produced, hashes, problems

    def _read_downstream(self, stage: str) -> set[str]:
        """Variables of ``stage`` that other stages of the notebook read (when the kernel knows it)."""
        if self._pipeline is None:
            return set()
        return {e.label for e in self._pipeline.edges if e.kind == "variable" and e.upstream == stage}

    def _record(self, ctx: Context, run_id: str, outputs: list[dict], produced: dict[str, Any],
                hashes: dict[str, str], seconds: float, cacheable: bool) -> None:
        """Artifacts of the run, and its cached result when it can be cached (the entry last, so a
        result whose saving fails half-way is never found)."""
        spec, store, project, cache = ctx.spec, ctx.store, ctx.project, ctx.cache
        self._log_figures(ctx, run_id, outputs)
        plotting.record_file_plots(store, cache.objects, run_id, ctx.plots, project.root)
        cached_outs: dict[str, dict] = {}
        for path in spec.all_outs:
            relative = project.name_of(path)
            hashed = ctx.hasher.hash_path(path)
            if path in spec.cached_outs and cacheable:
                cached_outs[relative] = cache.save_out(Path(path), hashed)
            store.add_artifact(run_id, Artifact(relative, "out", hashed.hash, hashed.size, None))
        if not cacheable:
            return
        saved_vars: dict[str, dict] = {}
        for name, value in sorted(produced.items()):
            saved = cache.save_variable(value)
            saved_vars[name] = {**saved, "hash": hashes[name]}
            store.add_artifact(run_id, Artifact(name, "variable", saved["object"], saved["size"], saved["format"]))
        cache.save(fingerprint=ctx.fingerprint, stage=spec.name, run_id=run_id, seconds=seconds,
                   outputs=outputs, variables=saved_vars, outs=cached_outs)

    def _log_metric_files(self, spec: StageSpec) -> None:
        for path in spec.metrics + spec.metrics_no_cache:
            if not Path(path).exists():
                continue
            try:
                metrics = file_metrics(path)
            except (OSError, ValueError) as e:
                self._note(f"mlops: metrics file {path} could not be read ({e}); its values are not logged")
                continue
            for key, value in metrics.items():
                tracking.log_metric(key, value)

    def _log_figures(self, ctx: Context, run_id: str, outputs: list[dict]) -> None:
        count = 0
        for output in outputs:
            if VEGA_LITE_MIME in (output.get("data") or {}):
                continue  # a plot: recorded as a plot artifact of its own
            for mime, data in (output.get("data") or {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml" and isinstance(data, str):
                    count += 1
                    raw = base64.b64decode(data)
                    digest, size = ctx.cache.objects.put_bytes(raw)
                    extension = mime.split("/")[1]
                    ctx.store.add_artifact(run_id, Artifact(f"figure-{count}.{extension}", "figure", digest, size, mime))

    def _write_lock(self, ctx: Context, variables: dict[str, str], *, uncached: str | None = None) -> None:
        """Record what the stage is now made of; outs are hashed as they are on disk (stat cache).
        ``uncached`` says why its result could not be cached, if so. A lock that cannot be written
        costs one line: the run and its cached result stand."""
        try:
            self._lock_entry(ctx, variables, uncached)
        except (LockfileError, OSError) as e:
            reason = e if isinstance(e, LockfileError) else describe_os_error(e)
            self._note(f"mlops: stage {ctx.spec.name!r}: its mlops.lock entry was not written: {reason}")

    def _lock_entry(self, ctx: Context, variables: dict[str, str], uncached: str | None) -> None:
        spec, cached = ctx.spec, set(ctx.spec.cached_outs) if not ctx.spec.no_cache else set()
        outs = []
        for path in spec.all_outs:
            if Path(path).exists():
                entry = {"path": ctx.project.name_of(path), "hash": ctx.hasher.hash_path(path).hash}
                outs.append(entry if path in cached else {**entry, "cache": False})
        statics = {name: signature(name, self.bindings) for name in ctx.inputs}
        entry = {
            "fingerprint": ctx.fingerprint,
            "code": code_hash(ctx.body),
            "deps": [{"path": p, "hash": h.hash} for p, h in sorted(ctx.deps.items())],
            "params": ctx.declared,
            "inputs": dict(sorted(ctx.inputs.items())),
            "statics": {name: sig for name, sig in sorted(statics.items()) if sig is not None},
            "outs": sorted(outs, key=lambda o: o["path"]),
            "variables": dict(sorted(variables.items())),
        }
        if spec.after:
            entry["after"] = list(spec.after)
        if uncached:
            entry["uncached"] = uncached
        lockfile.update(ctx.project.lock_path, ctx.notebook, spec.name, entry, locks_dir=ctx.project.locks_dir)

    # --- the cell -----------------------------------------------------------------

    def __call__(self, line: str, body: str) -> Any:
        __tracebackhide__ = True
        ctx = self.prepare(line, body)
        with self._exclusive(ctx):
            restored, result = self.try_restore(ctx)
            if restored:
                return result
            self.run(ctx)
        return None

    def _exclusive(self, ctx: Context):
        """The locks of the stage's fingerprint and outs, so a kernel running the same stage, or
        writing the same out, at the same time never mixes its result with this one."""
        names = [f"out:{ctx.project.name_of(path)}" for path in ctx.spec.all_outs]
        if ctx.fingerprint:
            names.append(f"fingerprint:{ctx.fingerprint}")

        def waiting(name: str) -> None:
            what = "running the same stage" if name.startswith("fingerprint:") else f"writing {name[4:]}"
            self._note(f"mlops: stage {ctx.spec.name!r} waits: another process is {what} (Ctrl-C stops waiting)")

        return locks.exclusive(ctx.project.locks_dir, names, waiting)

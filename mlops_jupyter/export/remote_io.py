"""Stages that share no disk (``MLOPS_IO=remote``): the project's default remote is all they share.

The task's script and the project (config with the remote, params, ``mlops.lock``) come from
where the script is — the image, read-only. The task works in a fresh temporary folder of its own
(below ``$MLOPS_WORK_DIR`` if set), laid out as the project: ``.mlops/`` with a new store and
cache, and the notebook's folder, where the stage's paths mean what they mean in the notebook.

Before the stage runs, the task pulls what it reads: the results of its upstream stages in this
pipeline run (found through their task records, see ``pipeline_runs``; their variables and the
outs that are its deps, each object verified), and its other deps from ``mlops.lock``'s pinned
data, else from the image. Its fingerprint is the one function of the stage cache, over the
stage's code, params, deps, the hashes of the variables it reads and its script with
``common.py``. When the remote has a result for it — computed by any earlier run, anywhere —
the task restores it (the result stays where it is; nothing runs) and says so. Otherwise the
stage runs, and its result, with the record of its run, is pushed (``transfer.push``). Stages
with ``--force`` or ``--no-cache`` always run; their results travel under a key of their own.

Pickled variables are loaded only from a trusted remote (``UntrustedResult``): the remote of a
pipeline is its transport, so mark it trusted in the config the image holds.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import blake3

from ..core import transfer, workspace
from ..core.cellcode import code_hash
from ..core.errors import MlopsError
from ..core.hashing import FileHasher
from ..core.models import Artifact, LineageEdge
from ..core.objects import CorruptObject, ObjectStore, hash_file
from ..core.project import Project, find_root
from ..core.remotes import RemoteError
from ..core.stage_cache import StageCache, UntrustedResult, fingerprint, manifest_objects, reflink_or_copy
from ..core.store import RunStore
from ..core.variables import UnsupportedValue, value_hash
from ..kernel import tracking
from . import pipeline_runs
from .layout import STAGES, relative
from .runtime import PIPELINE_RUN


def _overlaps(out: str, dep: str) -> bool:
    return out == dep or dep.startswith(out.rstrip("/") + "/") or out.startswith(dep.rstrip("/") + "/")


class RemoteIO:
    def __init__(self, stage):
        self.stage = stage
        spec, cell = stage.spec, stage.cell
        sys.dont_write_bytecode = True  # the code may be read-only, and is shared
        if not stage.pipeline_run:
            raise SystemExit(f"stage {spec.name!r}: {PIPELINE_RUN} is not set: with MLOPS_IO=remote each task says "
                             "which pipeline run it belongs to (the exported DAG sets it to Airflow's run id)")
        self.bundle = Project(find_root(cell.code_dir, use_env=False))
        config = self.bundle.config()
        if config.default_remote() is None:
            raise SystemExit(f"stage {spec.name!r}: MLOPS_IO=remote needs a default remote in "
                             f"{self.bundle.config_path} (`mlops-jupyter remote add -d NAME URL`, in the image too)")
        self.remote = transfer.Remote(config.default_remote())
        self.work = Path(tempfile.mkdtemp(prefix=f"mlops-{spec.name}-", dir=os.environ.get("MLOPS_WORK_DIR")))
        atexit.register(self._clean_up)
        self.project = Project(self.work).ensure()
        shutil.copy(self.bundle.config_path, self.project.config_path)
        self.params_root = self.bundle.root
        self.logged = self.work / "logged"  # for DVC, which does not run these tasks: left with the folder
        workdir = self.work / relative(cell.code_dir, self.bundle.root)
        workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(workdir)
        self.store = RunStore(self.project.db_path)
        self.hasher = FileHasher(self.store)
        trusted = frozenset({self.remote.name} if self.remote.config.trusted else ())
        self.cache = StageCache(self.store, ObjectStore(self.project.cache_dir), self.hasher, trusted)
        self.values: dict[str, Any] = {}  # what the stage loads, by (producer, name)
        self.inputs: dict[str, str] = {}  # variable -> the hash its producer recorded
        self.lineage: list[LineageEdge] = []
        self.saved: dict[str, Any] = {}
        self.fingerprint: str | None = None
        self._say(f"working in {self.work} (a new, empty folder); inputs from remote {self.remote.name!r}")

    # --- before the run ------------------------------------------------------------

    def _say(self, message: str) -> None:
        print(f"mlops: stage {self.stage.spec.name!r}: {message}", file=sys.stderr, flush=True)

    def _stop(self, message: str):
        raise SystemExit(f"stage {self.stage.spec.name!r}: {message}")

    def prepare(self) -> None:
        """Pull the inputs, fingerprint the stage, and restore its result (and exit) if the remote has it."""
        try:
            self._pull_inputs()
            self.fingerprint = self._fingerprint()
            spec = self.stage.spec
            if not (spec.force or spec.no_cache) and self._restore():
                raise SystemExit(0)
            if spec.force or spec.no_cache:  # a result that is never restored travels under a key of its own
                self.fingerprint = blake3.blake3(f"{self.fingerprint}:{uuid.uuid4().hex}".encode()).hexdigest()
        except (RemoteError, CorruptObject, UntrustedResult) as e:
            self._stop(str(e))

    def _upstream(self, producer: str):
        record = pipeline_runs.read(self.remote, self.stage.notebook_name, self.stage.pipeline_run, producer)
        if record is None:
            self._stop(f"remote {self.remote.name!r} has no result of stage {producer!r} for pipeline run "
                       f"{self.stage.pipeline_run!r}: run {producer!r} first")
        transfer.fetch_entries(self.store, self.cache, self.remote, [record.fingerprint], quiet=True)
        try:
            cached = self.cache.lookup(record.fingerprint)
        except UntrustedResult as e:
            self._stop(f"the result of {producer!r} is not loaded: {e}")
        if cached is None:
            self._stop(f"the result of {producer!r} ({record.fingerprint[:12]}) is missing from remote {self.remote.name!r}")
        return cached

    def _pull_inputs(self) -> None:
        wiring = self.stage.cell.wiring
        loads = [tuple(pair) for pair in wiring.get("loads", [])]
        deps_from = wiring.get("deps_from", {})
        producers = sorted({p for p, _ in loads} | set(deps_from.values()))
        if producers:
            self._say(f"pulling the results of {', '.join(producers)}")
        for producer in producers:
            cached = self._upstream(producer)
            wanted = [name for p, name in loads if p == producer]
            missing = [name for name in wanted if name not in cached.variables]
            if missing:
                self._stop(f"the result of {producer!r} holds no variable {missing[0]!r}: export the notebook again")
            values = self.cache.load_variables(dataclasses.replace(
                cached, variables={n: v for n, v in cached.variables.items() if n in wanted}))
            for name in wanted:
                self.values[producer, name] = values[name]
                self.inputs[name] = cached.variables[name]["hash"]
                self.lineage.append(LineageEdge(cached.run_id, name, "variable"))
            for dep in (d for d, p in deps_from.items() if p == producer):
                name = self.project.name_of(dep)
                for out, saved in cached.outs.items():
                    if _overlaps(out, name):
                        self.cache.checkout(self.project.root, out, saved)
                self.lineage.append(LineageEdge(cached.run_id, name, "file"))
        for dep in self.stage.spec.deps:
            if dep not in deps_from:
                self._bring(dep)

    def _bring(self, dep: str) -> None:
        """A dep no stage makes: the version ``mlops.lock`` pins (from the remote), else the image's file."""
        name = self.project.name_of(dep)
        pinned = workspace.pinned(self.bundle).data.get(name)
        if pinned is not None:
            transfer.fetch_objects(self.cache.objects, self.remote, [pinned["hash"]], quiet=True)
            out = workspace.data_out(self.cache, pinned)
            transfer.fetch_objects(self.cache.objects, self.remote, [d for _, d in out.get("files") or []], quiet=True)
            self.cache.checkout(self.project.root, name, out)
            return
        source = self.bundle.root / name
        if not source.exists():
            self._stop(f"dep {dep} is neither in the image ({source}) nor pinned in mlops.lock: put it in the image, "
                       "or `mlops-jupyter add` it and push")
        target = Path(dep)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, copy_function=reflink_or_copy, dirs_exist_ok=True)
        else:
            reflink_or_copy(source, target)

    def _fingerprint(self) -> str:
        stage, spec = self.stage, self.stage.spec
        try:
            deps = {self.project.name_of(dep): self.hasher.hash_path(dep).hash for dep in spec.deps}
        except MlopsError as e:
            self._stop(str(e))
        code = {f"{STAGES}/{name}": hash_file(stage.cell.folder / STAGES / name) for name in ("common.py", f"{spec.name}.py")}
        return fingerprint(stage=spec.name, code=code_hash(stage.cell.data["code"]), params=stage.declared, deps=deps,
                           inputs={**self.inputs, **code}, outs=[self.project.name_of(p) for p in spec.all_outs],
                           keep=spec.keep)

    def _restore(self) -> bool:
        """Whether the remote has this stage's result, whole (its task record then points to it)."""
        entry = self.remote.read_entry(self.fingerprint)
        if entry is None:
            return False
        transfer.fetch_objects(self.cache.objects, self.remote, [entry["manifest"]], quiet=True)
        needed = manifest_objects(entry["manifest"], self.cache.manifest(entry["manifest"]))
        if self.remote.present(needed, self.remote.backend.jobs) != needed:
            self._say("the remote's result for it lacks objects; running it")
            return False
        run_id = entry["run"]["run"]["id"]
        self._record(run_id, restored=True)
        print(f"✓ stage {self.stage.spec.name!r} restored from run {run_id[:8]} of remote {self.remote.name!r}",
              flush=True)
        return True

    def _record(self, run_id: str, *, restored: bool) -> None:
        pipeline_runs.write(self.remote, pipeline_runs.TaskRecord(
            self.stage.notebook_name, self.stage.pipeline_run, self.stage.spec.name, self.fingerprint, run_id,
            restored, time.time()))

    # --- the run -------------------------------------------------------------------

    def begin(self) -> None:
        self.stage.store.add_lineage(self.stage.run.run_id, self.lineage)

    def load(self, producer: str, name: str) -> Any:
        if (producer, name) not in self.values:
            self.stage.fail(f"{name} of stage {producer!r} was not pulled: export the notebook again")
        return self.values[producer, name]

    def save(self, name: str, value: Any) -> None:
        self.saved[name] = value

    def finish(self, logged: dict[str, float]) -> None:
        """Save the outs and variables as the stage's result, end the run, push both, and say so."""
        stage, spec, run_id = self.stage, self.stage.spec, self.stage.run.run_id
        stage.log_metrics_files()
        stage.check_outs()
        outs = {}
        for path in spec.all_outs:  # every out travels: the next task has no other way to it
            hashed = stage.hash(path)
            outs[self.project.name_of(path)] = self.cache.save_out(Path(path), hashed)
            self.store.add_artifact(run_id, Artifact(self.project.name_of(path), "out", hashed.hash, hashed.size, None))
        saved = {}
        for name, value in sorted(self.saved.items()):
            try:
                saved[name] = {**self.cache.save_variable(value), "hash": value_hash(value)}
            except UnsupportedValue as e:
                stage.fail(f"variable {name!r} cannot travel to the stages that read it: {e}")
            self.store.add_artifact(run_id, Artifact(name, "variable", saved[name]["object"], saved[name]["size"],
                                                     saved[name]["format"]))
        seconds = (time.time() * 1000 - stage.run.run.start_time) / 1000
        self.cache.save(fingerprint=self.fingerprint, stage=spec.name, run_id=run_id, seconds=seconds, outputs=[],
                        variables=saved, outs=outs)
        stage.run.end("finished")
        try:
            transfer.push(self.store, self.cache, self.remote, fingerprints=[self.fingerprint], quiet=True)
            self._record(run_id, restored=False)
        except (RemoteError, OSError) as e:
            self._stop(f"ran (run {run_id[:8]}), but its result did not reach the remote: {e}")
        self._say(f"ran as run {run_id[:8]}; its result and run record are on remote {self.remote.name!r}")

    def _clean_up(self) -> None:
        """At exit, whatever happened: end the run (failed if it did not finish), then remove the folder."""
        tracking.TRACKER.shutdown()
        self.store.close()
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(self.work, ignore_errors=True)


__all__ = ["RemoteIO"]

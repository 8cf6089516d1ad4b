"""What an exported stage script runs on: the same run record as the notebook's.

``start_stage(__file__)`` moves into the notebook's folder (see ``layout``), so
the stage's paths mean what they meant in its cell, and starts a run in the
project's store with what the notebook records: the stage, the notebook as the
project names it, the cell id, the cell's code, the declared params (flattened),
and the tag ``exported=true``. ``load``/``save`` pass variables through
``vars/<stage>/<name>/value.<format>`` in the cache's typed formats (npy,
parquet, json, pickle), recording lineage; ``finish`` logs the metrics files,
writes the metrics logged with ``mj.log_metric`` to ``logged/<stage>.json`` (a
DVC metrics file), records the outs as artifacts and ends the run. A stage that
raises ends as a failed run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ..core import params as params_mod
from ..core import variables
from ..core.cellcode import code_hash
from ..core.errors import MlopsError
from ..core.hashing import FileHasher
from ..core.models import Artifact, LineageEdge
from ..core.objects import ObjectStore
from ..core.project import find_project
from ..core.spec import parse_stage_line
from ..core.stage_cache import StageCache
from ..core.values import file_metrics
from ..kernel import tracking
from .layout import LOGGED, NOTEBOOK_DIR, VARS


class Stage:
    """One run of an exported stage."""

    def __init__(self, script: str | os.PathLike):
        script = Path(script).resolve()
        self.folder = script.parent.parent
        cell = json.loads(script.with_suffix(".json").read_text(encoding="utf-8"))
        self.spec = spec = parse_stage_line(cell["stage"])
        notebook = self.folder / cell["notebook"]
        workdir = Path(os.environ.get(NOTEBOOK_DIR) or notebook.parent).resolve()
        if not workdir.is_dir():
            raise SystemExit(f"stage {spec.name!r}: the notebook's folder {workdir} does not exist: "
                             f"set {NOTEBOOK_DIR} to where {notebook.name} is")
        os.chdir(workdir)
        sys.path.insert(1, str(workdir))  # the notebook's own modules import as in its kernel
        self.project = project = find_project()
        try:
            declared = params_mod.resolve(project.root, spec.params)
        except MlopsError as e:
            raise SystemExit(f"stage {spec.name!r}: {e}") from None
        self.run = tracking.TRACKER.start_run(
            stage=spec.name, project=project, tags={"exported": "true"},
            notebook=project.name_of(notebook.name), cell_id=cell["cell_id"],
            code=cell["code"], code_hash=code_hash(cell["code"]),
        )
        self.store = self.run.store
        self.hasher = FileHasher(self.store)
        flat = params_mod.flatten(params_mod.merged(declared))
        if flat:
            self.store.log_params(self.run.run_id, flat)
        if spec.desc:
            self.store.set_tags(self.run.run_id, {"description": spec.desc})
        self.params = params_mod.ParamsView(params_mod.merged(declared), spec.name)
        tracking.set_stage_params(self.params)
        self._saved: list[Path] = []
        deps = [self._edge(dep, project.name_of(dep), "file") for dep in spec.deps]
        self.store.add_lineage(self.run.run_id, [edge for edge in deps if edge])

    def _fail(self, message: str):
        self.run.end("failed")
        raise SystemExit(f"stage {self.spec.name!r}: {message}")

    def _hash(self, path: str | Path):
        try:
            return self.hasher.hash_path(path)
        except MlopsError as e:
            self._fail(str(e))

    def _edge(self, path: str | Path, via: str, kind: str) -> LineageEdge | None:
        upstream = self.store.producer_of(self.project.name_of(path), self._hash(path).hash)
        return LineageEdge(upstream, via, kind) if upstream else None

    def load(self, producer: str, name: str) -> Any:
        """The value of ``name`` that stage ``producer`` saved."""
        folder = self.folder / VARS / producer / name
        found = sorted(folder.glob("value.*"))
        if len(found) != 1:
            self._fail(f"{folder} holds no saved value of {name}: run stage {producer!r} first")
        edge = self._edge(folder, name, "variable")
        if edge:
            self.store.add_lineage(self.run.run_id, [edge])
        return variables.load(found[0].suffix[1:], str(found[0]))

    def save(self, name: str, value: Any) -> None:
        folder = self.folder / VARS / self.spec.name / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        tmp = folder / "value.tmp"
        fmt = variables.dump(value, str(tmp))
        tmp.rename(folder / f"value.{fmt}")
        self._saved.append(folder)

    def finish(self) -> None:
        """Record the metrics and the outs, and end the run as finished."""
        spec, run_id = self.spec, self.run.run_id
        tracking.TRACKER.flush()
        logged = {k: v for k, v in sorted(self.store.get_run(run_id).metrics.items()) if math.isfinite(v)}
        (self.folder / LOGGED).mkdir(exist_ok=True)
        (self.folder / LOGGED / f"{spec.name}.json").write_text(json.dumps(logged, indent=2) + "\n")
        for path in spec.metrics + spec.metrics_no_cache:
            self._log_metrics_file(Path(path))
        missing = [p for p in spec.all_outs if not Path(p).exists()]
        if missing:
            self._fail(f"did not write {', '.join(missing)}: write it or drop it from the flags")
        cache = StageCache(self.store, ObjectStore(self.project.cache_dir), self.hasher)
        for path in (*spec.all_outs, *self._saved):
            hashed = self._hash(path)
            if str(path) in spec.cached_outs and not spec.no_cache:
                cache.save_out(Path(path), hashed)
            self.store.add_artifact(run_id, Artifact(self.project.name_of(path), "out", hashed.hash, hashed.size, None))
        self.run.end("finished")
        tracking.set_stage_params(None)

    def _log_metrics_file(self, path: Path) -> None:
        try:
            metrics = file_metrics(path)
        except (OSError, ValueError) as e:
            print(f"mlops: metrics file {path} could not be read ({e}); its values are not logged", file=sys.stderr)
            return
        for key, value in metrics.items():
            self.run.log_metric(key, value)


def start_stage(script: str | os.PathLike) -> Stage:
    """Start the run of the exported stage whose script is ``script`` (its ``__file__``)."""
    return Stage(script)

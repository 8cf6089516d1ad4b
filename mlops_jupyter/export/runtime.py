"""What an exported stage script runs on: the same run record as the notebook's.

``start_stage(__file__)`` moves into the notebook's folder (see ``layout``), so
the stage's paths mean what they meant in its cell, and starts a run with what the
notebook records: the stage, the notebook as the project names it, the cell id, the
cell's code, the declared params (flattened), and the tags ``exported=true`` and
``pipeline_run`` (``$MLOPS_PIPELINE_RUN``, Airflow's run id). ``load``/``save`` pass
variables between stages, ``finish`` logs the metrics files, records the outs as
artifacts and ends the run. A stage that raises ends as a failed run.

How the stages pass data is ``$MLOPS_IO``:

- ``local`` (default): through one disk, as ``LocalIO`` says: ``vars/<stage>/<name>/
  value.<format>`` in the cache's typed formats, runs in the project's store, the
  metrics logged with ``mj.log_metric`` in ``logged/<stage>.json`` (a DVC metrics file);
- ``remote``: through the project's default remote, sharing no disk (``remote_io``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from dataclasses import dataclass
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
from ..core.spec import StageSpec, parse_stage_line
from ..core.stage_cache import StageCache
from ..core.values import file_metrics
from ..kernel import plotting, tracking
from .layout import LOGGED, NOTEBOOK_DIR, VARS

IO, PIPELINE_RUN = "MLOPS_IO", "MLOPS_PIPELINE_RUN"


@dataclass(frozen=True)
class Cell:
    """A stage's ``stages/<name>.json``, with where its script finds the notebook."""

    spec: StageSpec
    data: dict  # the JSON: notebook, cell_id, stage, code, pipeline
    folder: Path  # the export folder (of stages/)
    code_dir: Path  # the notebook's folder

    @property
    def notebook(self) -> Path:
        return self.code_dir / Path(self.data["notebook"]).name

    @property
    def wiring(self) -> dict:
        return self.data.get("pipeline", {})


def read_cell(script: str | os.PathLike) -> Cell:
    script = Path(script).resolve()
    data = json.loads(script.with_suffix(".json").read_text(encoding="utf-8"))
    spec = parse_stage_line(data["stage"])
    notebook = script.parent.parent / data["notebook"]
    code_dir = Path(os.environ.get(NOTEBOOK_DIR) or notebook.parent).resolve()
    if not code_dir.is_dir():
        raise SystemExit(f"stage {spec.name!r}: the notebook's folder {code_dir} does not exist: "
                         f"set {NOTEBOOK_DIR} to where {notebook.name} is")
    return Cell(spec, data, script.parent.parent, code_dir)


def io_mode(name: str) -> str:
    mode = os.environ.get(IO) or "local"
    if mode not in ("local", "remote"):
        raise SystemExit(f"stage {name!r}: {IO}={mode!r}: set it to local or remote")
    return mode


class LocalIO:
    """Stages on one disk: the notebook's folder, the project's store, ``vars/`` of the export."""

    def __init__(self, stage: Stage):
        self.stage = stage
        os.chdir(stage.cell.code_dir)
        self.project = find_project()
        self.params_root = self.project.root
        self.logged = stage.cell.folder / LOGGED  # logged metrics and plots, for DVC
        self.fingerprint = None
        self._saved: list[Path] = []

    def prepare(self) -> None:
        """Nothing to pull: the inputs are on the disk."""

    def begin(self) -> None:
        stage = self.stage
        deps = [stage.edge(dep, self.project.name_of(dep), "file") for dep in stage.spec.deps]
        stage.store.add_lineage(stage.run.run_id, [edge for edge in deps if edge])

    def load(self, producer: str, name: str) -> Any:
        folder = self.stage.cell.folder / VARS / producer / name
        found = sorted(folder.glob("value.*"))
        if len(found) != 1:
            self.stage.fail(f"{folder} holds no saved value of {name}: run stage {producer!r} first")
        edge = self.stage.edge(folder, name, "variable")
        if edge:
            self.stage.store.add_lineage(self.stage.run.run_id, [edge])
        return variables.load(found[0].suffix[1:], str(found[0]))

    def save(self, name: str, value: Any) -> None:
        folder = self.stage.cell.folder / VARS / self.stage.spec.name / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        tmp = folder / "value.tmp"
        fmt = variables.dump(value, str(tmp))
        tmp.rename(folder / f"value.{fmt}")
        self._saved.append(folder)

    def finish(self, logged: dict[str, float]) -> None:
        stage, spec, store = self.stage, self.stage.spec, self.stage.store
        self.logged.mkdir(exist_ok=True)
        (self.logged / f"{spec.name}.json").write_text(json.dumps(logged, indent=2) + "\n")
        stage.log_metrics_files()
        stage.check_outs()
        cache = StageCache(store, ObjectStore(self.project.cache_dir), stage.hasher)
        for path in (*spec.all_outs, *self._saved):
            hashed = stage.hash(path)
            if str(path) in spec.cached_outs and not spec.no_cache:
                cache.save_out(Path(path), hashed)
            store.add_artifact(stage.run.run_id, Artifact(self.project.name_of(path), "out", hashed.hash, hashed.size, None))
        stage.run.end("finished")


class Stage:
    """One run of an exported stage."""

    def __init__(self, script: str | os.PathLike):
        self.cell = cell = read_cell(script)
        self.spec = spec = cell.spec
        self.pipeline_run = os.environ.get(PIPELINE_RUN) or None
        if io_mode(spec.name) == "remote":
            from .remote_io import RemoteIO

            self.io = RemoteIO(self)
        else:
            self.io = LocalIO(self)
        sys.path.insert(1, str(cell.code_dir))  # the notebook's own modules import as in its kernel
        project = self.io.project
        try:
            declared = params_mod.resolve(self.io.params_root, spec.params)
        except MlopsError as e:
            raise SystemExit(f"stage {spec.name!r}: {e}") from None
        self.declared = declared
        self.io.prepare()  # remote: may restore the stage's result and exit
        tags = {"exported": "true", **({"pipeline_run": self.pipeline_run} if self.pipeline_run else {})}
        self.run = tracking.TRACKER.start_run(
            stage=spec.name, project=project, tags=tags, notebook=self.notebook_name, cell_id=cell.data["cell_id"],
            code=cell.data["code"], code_hash=code_hash(cell.data["code"]), fingerprint=self.io.fingerprint,
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
        plotting.write_logged_to(self.io.logged / "plots" / spec.name)  # what dvc.yaml's plots read
        self.io.begin()

    @property
    def notebook_name(self) -> str:
        """The notebook as its project names it (the key of its runs and of its pipeline runs)."""
        return getattr(self.io, "bundle", self.io.project).name_of(self.cell.notebook)

    def fail(self, message: str):
        self.run.end("failed")
        raise SystemExit(f"stage {self.spec.name!r}: {message}")

    def hash(self, path: str | Path):
        try:
            return self.hasher.hash_path(path)
        except MlopsError as e:
            self.fail(str(e))

    def edge(self, path: str | Path, via: str, kind: str) -> LineageEdge | None:
        upstream = self.store.producer_of(self.io.project.name_of(path), self.hash(path).hash)
        return LineageEdge(upstream, via, kind) if upstream else None

    def load(self, producer: str, name: str) -> Any:
        """The value of ``name`` that stage ``producer`` saved."""
        return self.io.load(producer, name)

    def save(self, name: str, value: Any) -> None:
        self.io.save(name, value)

    def finish(self) -> None:
        """Record the metrics and the outs, and end the run as finished."""
        tracking.TRACKER.flush()
        metrics = self.store.get_run(self.run.run_id).metrics
        self.record_plots()
        self.io.finish({k: v for k, v in sorted(metrics.items()) if math.isfinite(v)})
        tracking.set_stage_params(None)

    def record_plots(self) -> None:
        """The plots of the stage's --plots files (and plots.yaml), recorded on its run as in the notebook."""
        project = self.io.project
        try:
            plotting.record_file_plots(self.store, ObjectStore(project.cache_dir), self.run.run_id,
                                       plotting.stage_plots(self.spec, project), project.root)
        except MlopsError as e:
            print(f"mlops: stage {self.spec.name!r}: its plots are not recorded: {e}", file=sys.stderr)

    def log_metrics_files(self) -> None:
        for path in self.spec.metrics + self.spec.metrics_no_cache:
            try:
                metrics = file_metrics(Path(path))
            except (OSError, ValueError) as e:
                print(f"mlops: metrics file {path} could not be read ({e}); its values are not logged", file=sys.stderr)
                continue
            for key, value in metrics.items():
                self.run.log_metric(key, value)

    def check_outs(self) -> None:
        missing = [p for p in self.spec.all_outs if not Path(p).exists()]
        if missing:
            self.fail(f"did not write {', '.join(missing)}: write it or drop it from the flags")


def start_stage(script: str | os.PathLike) -> Stage:
    """Start the run of the exported stage whose script is ``script`` (its ``__file__``)."""
    return Stage(script)


__all__ = ["Cell", "LocalIO", "Stage", "read_cell", "start_stage"]

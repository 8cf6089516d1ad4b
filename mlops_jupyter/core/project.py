"""Where a project lives and how it is configured (DESIGN §3).

The project root is ``$MLOPS_JUPYTER_DIR`` if set, else the nearest ancestor
of the starting folder that holds ``.mlops/``, else the git root, else the
starting folder itself.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ProjectError

ENV_VAR = "MLOPS_JUPYTER_DIR"
MLOPS_DIR = ".mlops"
LOCK_FILE = "mlops.lock"
# Tool state, never user data: not hashed, copied, cached or restored, at any depth. (Reading a
# store file to hash or copy it would also drop this process's SQLite locks on it.)
STATE_DIRS = frozenset({MLOPS_DIR, ".git"})
STATE_FILES = frozenset({LOCK_FILE, f".{LOCK_FILE}.tmp"})


def is_state_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` is tool state: inside ``.mlops/`` or ``.git/``, or a ``mlops.lock``."""
    parts = Path(path).parts
    return not STATE_DIRS.isdisjoint(parts) or (bool(parts) and parts[-1] in STATE_FILES)

DEFAULT_CONFIG = """\
# mlops-jupyter project settings. Every key is optional.
[core]
# Experiment that new runs belong to unless another is chosen.
experiment = "Default"
# Seconds between background flushes of buffered metrics (a crash loses at most this much).
metric_flush_interval = 1.0
# Seconds a writer waits for another process's lock on the run store.
busy_timeout = 30.0
# Restore lines say how long they took. Off by default: the line is part of the cell's output,
# and a committed notebook would then change on every run.
timings = false

[cache]
# With a default remote (`mlops-jupyter remote add NAME URL`): on a miss, look the stage up there
# first, so a teammate's result is restored instead of run; and push each result after it ran.
remote_lookup = true
remote_push = true
"""

# What must never be committed: the store and the cache are per machine.
GITIGNORE = "/runs.db\n/runs.db-*\n/cache/\n/tmp/\n/locks/\n"


@dataclass(frozen=True)
class CoreConfig:
    experiment: str = "Default"
    metric_flush_interval: float = 1.0
    busy_timeout: float = 30.0
    timings: bool = False  # restore lines say how long they took (the notebook then changes each run)
    remote: str = ""  # the default remote ([remote.NAME]); "" for none


@dataclass(frozen=True)
class CacheConfig:
    remote_lookup: bool = True  # on a miss, look the stage up on the default remote
    remote_push: bool = True  # after a stage ran, push its result to the default remote


@dataclass(frozen=True)
class Config:
    core: CoreConfig = field(default_factory=CoreConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    remotes: dict = field(default_factory=dict)  # name -> remotes.RemoteConfig
    export: dict = field(default_factory=dict)  # the [export] table, read by mlops_jupyter.export.settings

    def default_remote(self):
        """The default remote's config, or None."""
        return self.remotes.get(self.core.remote) if self.core.remote else None


def _load_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ProjectError(f"{path}: not valid TOML ({e}); fix or delete the file") from None


def load_config(path: Path) -> Config:
    """Read ``config.toml``; a missing file means all defaults."""
    if not path.exists():
        return Config()
    data = _load_toml(path)
    core = _section(CoreConfig, "core", data.get("core", {}), path)
    cache = _section(CacheConfig, "cache", data.get("cache", {}), path)
    from . import remotes as remote_config

    try:
        remotes = remote_config.parse(data.get("remote", {}), path)
    except remote_config.RemoteError as e:
        raise ProjectError(str(e)) from None
    if core.remote and core.remote not in remotes:
        raise ProjectError(f"{path}: core.remote names {core.remote!r}, which has no [remote.{core.remote}] table")
    export = data.get("export", {})
    if not isinstance(export, dict):
        raise ProjectError(f"{path}: 'export' must be a table ([export])")
    return Config(core=core, cache=cache, remotes=remotes, export=export)


def _section(kind, name: str, section: dict, path: Path):
    known = {f.name: f for f in fields(kind)}
    values = {}
    for key, value in section.items():
        if key not in known:
            raise ProjectError(
                f"{path}: unknown setting {name}.{key}; known: {', '.join(sorted(known))}"
            )
        default = getattr(kind, key)
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not type(default):
            raise ProjectError(
                f"{path}: {name}.{key} must be a {type(default).__name__}, got {value!r}"
            )
        low = _LOWEST.get(key)
        if low is not None and not value >= low:
            raise ProjectError(
                f"{path}: {name}.{key} must be at least {low:g}, got {value!r} (the default is {default:g})"
            )
        values[key] = value
    return kind(**values)


# Below these a setting makes no sense: a flush interval of 0 would spin a core.
_LOWEST = {"metric_flush_interval": 0.01, "busy_timeout": 0.0}


def is_within(path: Path, folder: Path) -> bool:
    """Whether the (resolved) ``path`` is ``folder`` or lies below it."""
    return path == folder or folder in path.parents


def find_root(start: str | os.PathLike | None = None, *, use_env: bool = True,
              stop: str | os.PathLike | None = None) -> Path:
    """The project root for a notebook or script in ``start`` (default: cwd).

    ``use_env=False`` when ``start`` was named explicitly: it then wins over the variable.
    ``stop`` bounds the search: the root is ``stop`` or below it, never above (a Jupyter server
    serves no project above its own root), and the variable counts only when it names such a folder.
    """
    bound = Path(stop).expanduser().resolve() if stop is not None else None
    override = os.environ.get(ENV_VAR) if use_env else None
    if override:
        root = Path(override).expanduser().resolve()
        if bound is None or is_within(root, bound):
            return root
    start = Path(start or os.getcwd()).resolve()
    folders = [f for f in (start, *start.parents) if bound is None or is_within(f, bound)]
    for folder in folders:
        if (folder / MLOPS_DIR).is_dir():
            return folder
    for folder in folders:  # else the git root
        if (folder / ".git").exists():
            return folder
    return start


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def mlops_dir(self) -> Path:
        return self.root / MLOPS_DIR

    @property
    def db_path(self) -> Path:
        return self.mlops_dir / "runs.db"

    @property
    def cache_dir(self) -> Path:
        return self.mlops_dir / "cache"

    @property
    def locks_dir(self) -> Path:
        return self.mlops_dir / "locks"

    @property
    def config_path(self) -> Path:
        return self.mlops_dir / "config.toml"

    @property
    def params_path(self) -> Path:
        return self.root / "params.yaml"

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    def name_of(self, path: str | os.PathLike, folder: str | os.PathLike | None = None) -> str:
        """How the project names a path (``folder``-relative when not absolute): relative to
        the root in posix form, or absolute when it lies outside. Lock entries, artifacts, status
        and run identity all name files this way."""
        absolute = (Path(folder or os.getcwd()) / path).resolve()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()

    def holds_state(self, path: str | os.PathLike) -> bool:
        """Whether a path (cwd-relative unless absolute) is, lies in or contains this project's
        own state: the project folder itself or above, or anything in ``.mlops/`` or ``.git/``."""
        absolute = (Path.cwd() / path).resolve()
        return is_state_path(absolute) or absolute == self.root or absolute in self.root.parents

    def config(self) -> Config:
        return load_config(self.config_path)

    def ensure(self) -> Project:
        """Create ``.mlops/`` with its ignore file if missing; keep what exists."""
        try:
            self.mlops_dir.mkdir(parents=True, exist_ok=True)
            ignore = self.mlops_dir / ".gitignore"
            present = ignore.read_text().splitlines() if ignore.exists() else []
            missing = [line for line in GITIGNORE.splitlines() if line not in present]
            if missing:  # a project made by an older version gets the new entries too
                ignore.write_text("".join(f"{line}\n" for line in (*present, *missing)))
        except OSError as e:
            raise ProjectError(f"cannot create {self.mlops_dir}: {e.strerror}") from None
        return self


def find_project(start: str | os.PathLike | None = None) -> Project:
    """The project of ``start`` if given (whatever the environment says), else of the cwd."""
    return Project(find_root(start, use_env=start is None))


def init_project(path: str | os.PathLike | None = None) -> tuple[Project, bool]:
    """Create the project layout in ``path``; returns it and whether it is new."""
    root = Path(path).resolve() if path else find_root()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} is not a folder")
    project = Project(root)
    created = not project.mlops_dir.is_dir()
    project.ensure()
    if not project.config_path.exists():
        project.config_path.write_text(DEFAULT_CONFIG)
    return project, created

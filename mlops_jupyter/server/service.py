"""Projects, their run stores and their objects as the server sees them: all inside its root.

The server's root is a boundary: a project is never looked for above it, and no path outside it is
read (hashed or checked) for a stage's state. The work runs in a small pool of threads, never on
tornado's event loop; each thread keeps its own connection to each store, so reads run in parallel
(SQLite's WAL lets them), and reopens it when the file was replaced: never stale data.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Callable, TypeVar

from ..core.errors import RunNotFound
from ..core.hashing import FileHasher
from ..core.models import Artifact
from ..core.objects import CorruptObject, ObjectStore
from ..core.project import Project, find_root, is_within
from ..core.store import RunStore

WORKERS = 4  # threads for store queries and stage states: reads in parallel, hashing never blocks the loop
_HASH = re.compile(r"^[0-9a-f]{64}$")
T = TypeVar("T")


class Projects:
    def __init__(self, root_dir: str | os.PathLike, workers: int = WORKERS):
        self.root = Path(root_dir).expanduser().resolve()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mlops-jupyter")
        self._local = threading.local()  # .stores: {project root: ((device, inode), RunStore)} of one thread
        self._cache: dict[tuple[Path, str], tuple[tuple, object]] = {}  # (root, what) -> (store version, value)
        self._cache_lock = threading.Lock()

    async def run(self, function: Callable[..., T], *args) -> T:
        """``function(*args)`` in a worker thread, awaited from a handler."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def resolve(self, path: str) -> Path:
        """A request's ``path`` as an absolute path inside the server's root (else ValueError)."""
        if "\x00" in path:
            raise ValueError("path contains a NUL character")
        resolved = (self.root / path.lstrip("/")).resolve() if path else self.root
        if not is_within(resolved, self.root):
            raise ValueError(f"path {path!r} is outside the server's root")
        return resolved

    def project(self, path: str) -> Project:
        """The project of a notebook or folder, found as the kernel finds it but never above the root."""
        target = self.resolve(path)
        folder = target if target.is_dir() else target.parent
        return Project(find_root(folder, stop=self.root))

    def store(self, project: Project) -> RunStore | None:
        """This thread's connection to the project's store, or None while it has none (reading
        creates nothing). A store file moved aside, deleted or replaced is noticed by its inode."""
        stores = getattr(self._local, "stores", None)
        if stores is None:
            stores = self._local.stores = {}
        try:
            st = project.db_path.stat()
            identity = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            identity = None
        held = stores.get(project.root)
        if held is not None and held[0] == identity:
            return held[1]
        if held is not None:
            del stores[project.root]
            held[1].close()  # SQLite neither checkpoints nor deletes the -wal of a moved file on close
        if identity is None:
            return None
        store = RunStore(project.db_path, busy_timeout=project.config().core.busy_timeout)
        stores[project.root] = (identity, store)
        return store

    def cached(self, project: Project, store: RunStore, what: str, compute: Callable[..., T], *args, **kwargs) -> T:
        """``compute(*args, **kwargs)``, computed again only when the project's store changed (its
        version): for what costs a walk of every run's lineage, such as the experiments' columns."""
        st = store.path.stat()
        version = (st.st_dev, st.st_ino, store.version())  # a store replaced by a copy is another store
        key = (project.root, what)
        with self._cache_lock:
            held = self._cache.get(key)
        if held is not None and held[0] == version:
            return held[1]
        value = compute(*args, **kwargs)
        with self._cache_lock:
            self._cache[key] = (version, value)
        return value

    def open_artifact(self, path: str, run_id: str, name: str) -> tuple[Artifact, BinaryIO]:
        """A run's artifact and its object open for reading, once its content matched its hash.
        The hash is computed once per version of the file (through the stat cache), so an
        untouched object is not read twice; a changed one is hashed again and, if corrupt, refused."""
        project = self.project(path)
        store = self.store(project)
        if store is None:
            raise RunNotFound(f"no run {run_id!r}: this project has no runs yet")
        artifact = store.artifact(store.resolve_run_id(run_id), name)
        if not _HASH.match(artifact.hash):
            raise ValueError(f"artifact {name!r} has no valid object hash")
        target = ObjectStore(project.cache_dir).path(artifact.hash)
        if not is_within(target.resolve(), project.cache_dir.resolve()):
            raise ValueError("artifact outside the cache")
        try:
            f = open(target, "rb")
        except FileNotFoundError:
            raise RunNotFound(f"the object of {name!r} is no longer in the cache") from None
        try:
            opened = _version(os.fstat(f.fileno()))
            if FileHasher(store).hash_cache_object(target) != artifact.hash or _version(target.stat()) != opened:
                raise CorruptObject(f"the object of {name!r} is corrupt (its content no longer matches its "
                                    "hash); run the stage again to recreate it")
        except BaseException:
            f.close()
            raise
        return artifact, f


def _version(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size

"""Objects, stage results and run records between the local cache and a remote (any fsspec URL).

The remote holds objects in the local layout (``ROOT/ab/cdef…``) and one JSON entry per shared stage
result (``ROOT/stages/<fingerprint>.json``: the stage cache row and the record of the run that made
it). An entry is written only after every object it names, so a reader never finds an entry whose
objects are missing; objects are content-addressed, so an interrupted push or pull resumes by
skipping what the other side already has. On file systems where a write is not atomic (folders,
SSH) objects go to a temporary name and are renamed; on object stores (S3, GCS, Azure) a PUT is.
Every downloaded object is hashed before it enters the cache, and refused with one line if it does
not match its name.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import records
from .errors import MlopsError
from .objects import CorruptObject, ObjectStore, hash_file
from .remotes import RemoteConfig, RemoteError
from .stage_cache import StageCache, manifest_objects
from .store import RunStore

_OBJECT = re.compile(r"(?:^|/)([0-9a-f]{2})/([0-9a-f]{62})$")
_ATOMIC_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}  # a PUT appears whole or not at all
LIST_ABOVE = 64  # more objects than this to check: list the remote once instead of asking per object
_CHUNK = 256  # objects per batch handed to the file system (the progress bar moves per batch)
ENTRY_VERSION = 1


def default_jobs() -> int:
    return 4 * (os.cpu_count() or 1)  # as DVC: transfers wait on the network, not the CPU


class Remote:
    """One remote's file system, rooted at its URL."""

    def __init__(self, config: RemoteConfig):
        import fsspec

        self.config = config
        try:
            self.fs, root = fsspec.core.url_to_fs(config.url, **config.storage_options())
        except (ImportError, ValueError) as e:
            raise RemoteError(f"remote {config.name!r} ({config.url}): {e}") from None
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,)
        self.atomic = bool(_ATOMIC_PROTOCOLS & set(protocols))

    @property
    def name(self) -> str:
        return self.config.name

    def object_path(self, digest: str) -> str:
        return f"{self.root}/{digest[:2]}/{digest[2:]}"

    def entry_path(self, fingerprint: str) -> str:
        return f"{self.root}/stages/{fingerprint}.json"

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """A failing file system call as one line that names the remote."""
        try:
            yield
        except (MlopsError, KeyboardInterrupt):
            raise
        except Exception as e:  # botocore, aiohttp, paramiko…: each has its own error types
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise RemoteError(f"remote {self.name!r} ({self.config.url}): {doing} failed: {message}") from None

    # --- what is there ----------------------------------------------------------

    def listing(self) -> set[str]:
        """Every object on the remote (one listing: a few requests per thousand objects)."""
        with self.errors("listing"):
            if not self.fs.exists(self.root):
                return set()
            found = set()
            for path in self.fs.find(self.root):
                match = _OBJECT.search(path)
                if match:
                    found.add(match.group(1) + match.group(2))
            return found

    def present(self, digests: Iterable[str], jobs: int) -> set[str]:
        """Which of ``digests`` the remote has."""
        digests = set(digests)
        if len(digests) > LIST_ABOVE:
            return digests & self.listing()
        with self.errors("checking objects"), ThreadPoolExecutor(jobs) as pool:
            found = pool.map(lambda d: (d, self.fs.exists(self.object_path(d))), sorted(digests))
            return {digest for digest, there in found if there}

    # --- moving objects ---------------------------------------------------------

    def upload(self, objects: ObjectStore, digests: list[str], jobs: int, progress) -> None:
        for chunk in _chunks(digests):
            sources = [str(objects.path(d)) for d in chunk]
            if self.atomic:
                with self.errors("uploading"):
                    self.fs.put(sources, [self.object_path(d) for d in chunk], batch_size=jobs)
            else:
                with self.errors("uploading"), ThreadPoolExecutor(jobs) as pool:
                    list(pool.map(self._put_atomic, sources, chunk))
            progress(len(chunk), sum(os.path.getsize(s) for s in sources))

    def _put_atomic(self, source: str, digest: str) -> None:
        target = self.object_path(digest)
        tmp = f"{target.rsplit('/', 1)[0]}/.tmp-{uuid.uuid4().hex}"
        self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(source, tmp)
        self.fs.mv(tmp, target)

    def download(self, objects: ObjectStore, digests: list[str], jobs: int, progress,
                 sizes: dict[str, int] | None = None) -> None:
        """Fetch objects into the cache; each is hashed before it is placed (``CorruptObject`` if not)."""
        for chunk in _chunks(digests):
            temps = [objects.temp_path() for _ in chunk]
            try:
                with self.errors("downloading"):
                    if self.atomic:
                        self.fs.get([self.object_path(d) for d in chunk], [str(t) for t in temps], batch_size=jobs)
                    else:
                        with ThreadPoolExecutor(jobs) as pool:
                            list(pool.map(lambda d, t: self.fs.get_file(self.object_path(d), str(t)), chunk, temps))
                size = 0
                for digest, tmp in zip(chunk, temps):
                    if not tmp.exists():
                        raise RemoteError(f"remote {self.name!r} has no object {digest[:12]}: push it from where it was made")
                    size += tmp.stat().st_size
                    if hash_file(tmp) != digest:
                        raise CorruptObject(
                            f"object {digest[:12]} on remote {self.name!r} is corrupt (its bytes do not match its "
                            f"hash): refused; push it again from a machine that has it, or delete {self.object_path(digest)}"
                        )
                    objects.put_temp(tmp)
                progress(len(chunk), size)
            finally:
                for tmp in temps:
                    tmp.unlink(missing_ok=True)

    # --- stage entries --------------------------------------------------------

    def read_entry(self, fingerprint: str) -> dict | None:
        with self.errors("reading a stage entry"):
            try:
                data = self.fs.cat_file(self.entry_path(fingerprint))
            except FileNotFoundError:
                return None
        try:
            entry = json.loads(data)
        except ValueError:
            raise CorruptObject(f"stage entry {fingerprint[:12]} on remote {self.name!r} is not JSON: refused") from None
        if not isinstance(entry, dict) or entry.get("version") != ENTRY_VERSION or entry.get("fingerprint") != fingerprint:
            raise CorruptObject(f"stage entry {fingerprint[:12]} on remote {self.name!r} is not one this version reads")
        return entry

    def write_entry(self, entry: dict) -> None:
        path = self.entry_path(entry["fingerprint"])
        data = json.dumps(entry, sort_keys=True).encode()
        with self.errors("writing a stage entry"):
            if self.atomic:
                self.fs.pipe_file(path, data)
            else:
                tmp = f"{self.root}/stages/.tmp-{uuid.uuid4().hex}"
                self.fs.makedirs(f"{self.root}/stages", exist_ok=True)
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, path)

    def entries(self) -> set[str]:
        """Fingerprints of every stage entry on the remote."""
        with self.errors("listing stage entries"):
            if not self.fs.exists(f"{self.root}/stages"):
                return set()
            return {p.rsplit("/", 1)[1][: -len(".json")] for p in self.fs.ls(f"{self.root}/stages", detail=False)
                    if p.endswith(".json") and not p.rsplit("/", 1)[1].startswith(".")}


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class Moved:
    objects: int = 0
    bytes: int = 0
    skipped: int = 0
    entries: int = 0


@contextmanager
def _bar(what: str, total_bytes: int, total_objects: int, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar of bytes that also counts objects; off when not on a terminal or ``quiet``."""
    from tqdm import tqdm

    done = [0]
    with tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc=what,
              disable=True if quiet else None, leave=False) as bar:
        def step(objects: int, size: int) -> None:
            done[0] += objects
            bar.update(size)
            bar.set_postfix_str(f"{done[0]}/{total_objects} objects", refresh=False)

        yield step


# --- what to move -------------------------------------------------------------


def entry_of(store: RunStore, cache: StageCache, fingerprint: str) -> tuple[dict, set[str]] | None:
    """The remote entry of a local stage result and the objects it needs; None if there is none."""
    row = store.cached_stage(fingerprint)
    if row is None or row.run_id is None:
        return None
    manifest = cache.manifest(row.manifest)
    entry = {"version": ENTRY_VERSION, "fingerprint": fingerprint, "stage": row.stage, "manifest": row.manifest,
             "seconds": row.seconds, "run": records.record_of(store, row.run_id)}
    return entry, manifest_objects(row.manifest, manifest)


def push(store: RunStore, cache: StageCache, remote: Remote, *, fingerprints: Iterable[str], extra: Iterable[str] = (),
         jobs: int | None = None, quiet: bool = False) -> Moved:
    """Push the stage results ``fingerprints`` (objects first, then entries) and the objects ``extra``."""
    jobs = jobs or default_jobs()
    wanted: set[str] = set(extra)
    entries = []
    for fingerprint in fingerprints:
        try:
            found = entry_of(store, cache, fingerprint)
        except CorruptObject:
            continue  # a broken local result is not spread; the next run replaces it
        if found:
            entries.append(found[0])
            wanted |= found[1]
    local = {d for d in wanted if cache.objects.exists(d)}
    there = remote.present(local, jobs)
    todo = sorted(local - there)
    moved = Moved(skipped=len(there))
    sizes = sum(os.path.getsize(cache.objects.path(d)) for d in todo)
    with _bar(f"push to {remote.name}", sizes, len(todo), quiet) as progress:
        remote.upload(cache.objects, todo, jobs, progress)
    moved.objects, moved.bytes = len(todo), sizes
    for entry in entries:
        remote.write_entry(entry)  # after its objects: an entry on the remote always has them
    moved.entries = len(entries)
    return moved


def fetch_entries(store: RunStore, cache: StageCache, remote: Remote, fingerprints: Iterable[str], *,
                  jobs: int | None = None, quiet: bool = False) -> Moved:
    """Bring the remote's results for ``fingerprints`` into the local cache: their objects (verified),
    the records of their runs, then the stage cache rows (marked as coming from this remote)."""
    jobs = jobs or default_jobs()
    entries, wanted = [], set()
    for fingerprint in sorted(set(fingerprints)):
        if store.cached_stage(fingerprint) is not None:
            try:
                cache.manifest(store.cached_stage(fingerprint).manifest)
                continue  # already here and sound
            except CorruptObject:
                pass
        entry = remote.read_entry(fingerprint)
        if entry is None:
            continue
        entries.append(entry)
    moved = Moved()
    manifests = [e["manifest"] for e in entries if not cache.objects.exists(e["manifest"])]
    _download(cache.objects, remote, manifests, jobs, quiet, moved)
    for entry in entries:
        wanted |= manifest_objects(entry["manifest"], cache.manifest(entry["manifest"]))
    _download(cache.objects, remote, sorted(d for d in wanted if not cache.objects.exists(d)), jobs, quiet, moved)
    for entry in entries:
        with store.transaction():
            records.import_record(store, entry["run"])
            store.save_stage(entry["fingerprint"], entry["stage"], entry["run"]["run"]["id"], entry["manifest"],
                             entry["seconds"], origin=remote.name)
    moved.entries = len(entries)
    return moved


def fetch_objects(objects: ObjectStore, remote: Remote, digests: Iterable[str], *, jobs: int | None = None,
                  quiet: bool = False) -> Moved:
    moved = Moved()
    _download(objects, remote, sorted(d for d in set(digests) if not objects.exists(d)), jobs or default_jobs(),
              quiet, moved)
    return moved


def _download(objects: ObjectStore, remote: Remote, digests: list[str], jobs: int, quiet: bool, moved: Moved) -> None:
    if not digests:
        return
    with _bar(f"pull from {remote.name}", 0, len(digests), quiet) as progress:
        def step(count: int, size: int) -> None:
            moved.objects += count
            moved.bytes += size
            progress(count, size)

        remote.download(objects, digests, jobs, step)


def open_remote(config: RemoteConfig | None, name: str | None = None, remotes: dict | None = None) -> Remote:
    """The remote named ``name`` (else the default, ``config``); one line when there is none."""
    if name is not None:
        if name not in (remotes or {}):
            raise RemoteError(f"no remote {name!r}; remotes: {', '.join(remotes or {}) or 'none'} "
                              "(`mlops-jupyter remote add NAME URL` adds one)")
        return Remote(remotes[name])
    if config is None:
        raise RemoteError("no default remote: add one with `mlops-jupyter remote add -d NAME URL`, or pass -r NAME")
    return Remote(config)


def local_objects(objects: ObjectStore) -> Iterator[tuple[str, Path]]:
    """(digest, path) of every object in the local cache."""
    root = objects.root
    if not root.is_dir():
        return
    for prefix in sorted(os.listdir(root)):
        folder = root / prefix
        if len(prefix) != 2 or not folder.is_dir():
            continue
        for name in sorted(os.listdir(folder)):
            if not name.startswith("."):
                yield prefix + name, folder / name

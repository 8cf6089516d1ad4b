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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from . import records
from .backends import backend_for
from .errors import MlopsError
from .objects import CorruptObject, ObjectStore, hash_file
from .remotes import RemoteConfig, RemoteError
from .stage_cache import StageCache, manifest_objects
from .store import RunStore

_OBJECT = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{62})$")
LIST_ABOVE = 64  # more objects than this to check: consider listing the remote instead of asking per object
_PAGE = 1000  # keys per page of a listing (S3's)
_CHUNK = 1024  # objects per batch handed to the backend (the progress bar moves per batch)
ENTRY_VERSION = 1


class Remote:
    """One remote: objects at ``ab/cdef…`` and stage entries at ``stages/<fingerprint>.json`` below its URL."""

    def __init__(self, config: RemoteConfig):
        self.config = config
        try:
            self.backend = backend_for(config.url, config.options, config.storage_options())
        except (ImportError, ValueError) as e:
            raise RemoteError(f"remote {config.name!r} ({config.url}): {e}") from None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def atomic(self) -> bool:
        return self.backend.atomic

    @staticmethod
    def object_key(digest: str) -> str:
        return f"{digest[:2]}/{digest[2:]}"

    @staticmethod
    def entry_key(fingerprint: str) -> str:
        return f"stages/{fingerprint}.json"

    def where(self, key: str) -> str:
        return f"{self.config.url.rstrip('/')}/{key}"

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """A failing storage call as one line that names the remote."""
        try:
            yield
        except (MlopsError, KeyboardInterrupt):
            raise
        except Exception as e:  # botocore, obstore, aiohttp, paramiko…: each has its own error types
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RemoteError(f"remote {self.name!r} ({self.config.url}): {doing} failed: {message}") from None

    # --- what is there ----------------------------------------------------------

    def listing(self) -> set[str]:
        """Every object on the remote, from one paged listing."""
        with self.errors("listing"):
            found = set()
            for key in self.backend.keys():
                match = _OBJECT.match(key)
                if match:
                    found.add(match.group(1) + match.group(2))
            return found

    def present(self, digests: Iterable[str], jobs: int) -> set[str]:
        """Which of ``digests`` the remote has: one request each, in parallel, or one listing of
        the remote when that is fewer round trips (as DVC does, the remote's size is estimated
        from one of its 256 prefixes)."""
        digests = sorted(set(digests))
        if not digests:
            return set()
        if len(digests) > LIST_ABOVE:
            with self.errors("listing"):
                sample = sum(1 for key in self.backend.keys(f"{digests[0][:2]}/") if _OBJECT.match(key))
            pages = sample * 256 / _PAGE
            if pages < len(digests) / jobs:
                return set(digests) & self.listing()
        with self.errors("checking objects"):
            there = self.backend.exists_many([self.object_key(d) for d in digests], jobs)
        return {digest for digest, yes in zip(digests, there) if yes}

    # --- moving objects ---------------------------------------------------------

    def upload(self, objects: ObjectStore, digests: list[str], jobs: int, progress) -> None:
        for chunk in _chunks(digests):
            sources = [str(objects.path(d)) for d in chunk]
            with self.errors("uploading"):
                self.backend.put_files(sources, [self.object_key(d) for d in chunk], jobs)
            progress(len(chunk), sum(os.path.getsize(s) for s in sources))

    def download(self, objects: ObjectStore, digests: list[str], jobs: int, progress) -> None:
        """Fetch objects into the cache; each is hashed before it is placed (``CorruptObject`` if not)."""
        for chunk in _chunks(digests):
            temps = [objects.temp_path() for _ in chunk]
            try:
                try:
                    with self.errors("downloading"):
                        self.backend.get_files([self.object_key(d) for d in chunk], [str(t) for t in temps], jobs)
                except RemoteError:
                    missing = [d for d, t in zip(chunk, temps) if not t.exists()]
                    if missing and not any(self.present(missing[:1], 1)):
                        raise RemoteError(f"remote {self.name!r} has no object {missing[0][:12]}: "
                                          "push it from where it was made") from None
                    raise
                size = 0
                for digest, tmp in zip(chunk, temps):
                    size += tmp.stat().st_size
                    if hash_file(tmp) != digest:
                        raise CorruptObject(
                            f"object {digest[:12]} on remote {self.name!r} is corrupt (its bytes do not match its "
                            f"hash): refused; push it again from a machine that has it, or delete "
                            f"{self.where(self.object_key(digest))}"
                        )
                    objects.put_verified(tmp, digest)
                progress(len(chunk), size)
            finally:
                for tmp in temps:
                    tmp.unlink(missing_ok=True)

    def delete(self, digests: Iterable[str] = (), fingerprints: Iterable[str] = ()) -> None:
        keys = [self.object_key(d) for d in digests] + [self.entry_key(f) for f in fingerprints]
        with self.errors("deleting"):
            self.backend.delete(keys)

    # --- stage entries --------------------------------------------------------

    def read_entry(self, fingerprint: str) -> dict | None:
        with self.errors("reading a stage entry"):
            data = self.backend.read(self.entry_key(fingerprint))
        if data is None:
            return None
        try:
            entry = json.loads(data)
        except ValueError:
            raise CorruptObject(f"stage entry {fingerprint[:12]} on remote {self.name!r} is not JSON: refused") from None
        if not isinstance(entry, dict) or entry.get("version") != ENTRY_VERSION or entry.get("fingerprint") != fingerprint:
            raise CorruptObject(f"stage entry {fingerprint[:12]} on remote {self.name!r} is not one this version reads")
        return entry

    def write_entry(self, entry: dict) -> None:
        with self.errors("writing a stage entry"):
            self.backend.write(self.entry_key(entry["fingerprint"]), json.dumps(entry, sort_keys=True).encode())

    def entries(self) -> set[str]:
        """Fingerprints of every stage entry on the remote."""
        with self.errors("listing stage entries"):
            return {key[len("stages/"):-len(".json")] for key in self.backend.keys("stages/")
                    if key.startswith("stages/") and key.endswith(".json") and "/." not in key}


def _chunks(items: list, size: int = _CHUNK) -> Iterator[list]:
    """Batches handed to the backend at once (the progress bar moves per batch)."""
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
    jobs = jobs or remote.backend.jobs
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
    shared = remote.entries() if entries else set()
    for entry in entries:
        if entry["fingerprint"] not in shared:
            remote.write_entry(entry)  # after its objects: an entry on the remote always has them
            moved.entries += 1
    return moved


def fetch_entries(store: RunStore, cache: StageCache, remote: Remote, fingerprints: Iterable[str], *,
                  jobs: int | None = None, quiet: bool = False) -> Moved:
    """Bring the remote's results for ``fingerprints`` into the local cache: their objects (verified),
    the records of their runs, then the stage cache rows (marked as coming from this remote)."""
    jobs = jobs or remote.backend.jobs
    entries, wanted = [], set()
    for fingerprint in sorted(set(fingerprints)):
        row = store.cached_stage(fingerprint)
        if row is not None:
            try:
                cache.manifest(row.manifest)
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
    _download(objects, remote, sorted(d for d in set(digests) if not objects.exists(d)), jobs or remote.backend.jobs,
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

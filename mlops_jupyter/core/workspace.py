"""What ``mlops.lock`` pins, brought into and out of the workspace: ``add``, ``checkout``, and the
objects each scope of ``gc`` keeps.

``add PATH`` stores a data file or folder as objects (a folder's listing is an object too, named by
the folder's hash) and pins its version in the lock, so git pins the data: after ``git checkout``
of an old commit, ``checkout`` puts the old bytes back — from the local cache, else the remote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from . import lockfile
from .errors import MlopsError
from .objects import CorruptObject
from .project import Project
from .stage_cache import StageCache, manifest_objects


class WorkspaceError(MlopsError):
    """A path or stage that the lock does not pin, or data that cannot be brought back."""


@dataclass
class Pinned:
    """What the lock pins: stage results by fingerprint (with where they are named) and added data."""

    stages: dict[str, list[str]] = field(default_factory=dict)  # fingerprint -> ["nb.ipynb:stage", ...]
    data: dict[str, dict] = field(default_factory=dict)  # path -> {kind, hash, size, files}

    def narrowed(self, targets: tuple[str, ...]) -> Pinned:
        """Only what ``targets`` name: a stage (``stage`` or ``notebook:stage``) or an added path."""
        if not targets:
            return self
        out = Pinned()
        for target in targets:
            found = False
            clean = target.rstrip("/")
            if clean in self.data:
                out.data[clean] = self.data[clean]
                found = True
            for fingerprint, names in self.stages.items():
                if any(target in (name, name.split(":", 1)[1]) for name in names):
                    out.stages[fingerprint] = names
                    found = True
            if not found:
                raise WorkspaceError(
                    f"{target!r} is no stage or added path of mlops.lock; stages: "
                    f"{', '.join(sorted({n.split(':', 1)[1] for ns in self.stages.values() for n in ns})) or 'none'}"
                    f"; added: {', '.join(sorted(self.data)) or 'none'}"
                )
        return out


def pinned(project: Project) -> Pinned:
    notebooks, data = lockfile.read_all(project.lock_path)
    found = Pinned(data=dict(data))
    for notebook, stages in notebooks.items():
        for stage, entry in stages.items():
            fingerprint = entry.get("fingerprint")
            if fingerprint and not entry.get("uncached"):
                found.stages.setdefault(fingerprint, []).append(f"{notebook}:{stage}")
    return found


def add(project: Project, cache: StageCache, path: str) -> dict:
    """Store ``path`` (a file or folder of the project) as objects and pin it in the lock."""
    hasher = cache.hasher
    name = project.name_of(path)
    if name.startswith("/"):
        raise WorkspaceError(f"{path} is outside the project {project.root}: only the project's data can be pinned")
    if project.holds_state(path):
        raise WorkspaceError(f"{path} is the project itself or its state (.mlops/, .git/): add a data file or folder")
    hashed = hasher.hash_path(path)
    absolute = project.root / name
    if hashed.kind == "file":
        cache.save_out(absolute, hashed)
        entry = {"kind": "file", "hash": hashed.hash, "size": hashed.size}
    else:
        cache.save_out(absolute, hashed)
        cache.objects.put_bytes(hashed.manifest_bytes())  # the listing, named by the folder's hash
        entry = {"kind": "dir", "hash": hashed.hash, "size": hashed.size, "files": len(hashed.manifest)}
    lockfile.update_data(project.lock_path, name, entry, locks_dir=project.locks_dir)
    return {"path": name, **entry}


def listing(cache: StageCache, entry: dict) -> list[list[str]]:
    """The (relative path, hash) pairs of an added folder, from its verified listing object."""
    try:
        files = json.loads(cache.objects.read_bytes(entry["hash"]))
    except (CorruptObject, ValueError) as e:
        raise WorkspaceError(f"the listing of an added folder is unusable: {e}") from None
    return [list(item) for item in files]


def data_out(cache: StageCache, entry: dict) -> dict:
    """An added path's entry in the shape ``StageCache.checkout`` takes."""
    if entry["kind"] == "file":
        return {"kind": "file", "hash": entry["hash"]}
    return {"kind": "dir", "hash": entry["hash"], "files": listing(cache, entry)}


def objects_of(cache: StageCache, pins: Pinned) -> tuple[set[str], list[str]]:
    """The objects of what ``pins`` names that the local cache can tell (manifests and listings it
    has), and the stage fingerprints it has no result for."""
    found: set[str] = set()
    unknown = []
    for fingerprint in pins.stages:
        row = cache.store.cached_stage(fingerprint)
        if row is None:
            unknown.append(fingerprint)
            continue
        try:
            found |= manifest_objects(row.manifest, cache.manifest(row.manifest))
        except CorruptObject:
            unknown.append(fingerprint)
    for entry in pins.data.values():
        found.add(entry["hash"])
        if entry["kind"] == "dir" and cache.objects.exists(entry["hash"]):
            found.update(digest for _, digest in listing(cache, entry))
    return found, unknown


def checkout(project: Project, cache: StageCache, pins: Pinned) -> tuple[list[str], list[str]]:
    """Make the workspace match ``pins``: (paths written or already right, what could not be,
    with why). Needs every object in the local cache (``fetch`` first)."""
    done, missing = [], []
    for fingerprint, names in sorted(pins.stages.items()):
        row = cache.store.cached_stage(fingerprint)
        if row is None:
            missing.append(f"{names[0]}: no cached result (run it, or pull it from a remote)")
            continue
        try:
            outs = cache.manifest(row.manifest)["outs"]
            for path, out in sorted(outs.items()):
                _checkout(project, cache, path, out)
                done.append(path)
        except CorruptObject as e:
            missing.append(f"{names[0]}: {e}")
    for path, entry in sorted(pins.data.items()):
        try:
            _checkout(project, cache, path, data_out(cache, entry))
            done.append(path)
        except (CorruptObject, WorkspaceError) as e:
            missing.append(f"{path}: {e}")
    return done, missing


def _checkout(project: Project, cache: StageCache, path: str, out: dict) -> None:
    for _, digest in out.get("files") or [[None, out["hash"]]]:
        if not cache.objects.exists(digest):
            raise CorruptObject(f"object {digest[:12]} is not in the cache (pull it from a remote)")
    cache.checkout(project.root, path, out)


def keep_sets(cache: StageCache, pins: Pinned, *, all_runs: bool) -> set[str]:
    """The objects ``gc`` keeps: what the lock pins (``-w``), and with ``all_runs`` (``-a``) every
    stage result and run artifact of the store too."""
    keep, _ = objects_of(cache, pins)
    if all_runs:
        for row in cache.store.cached_stages():
            try:
                keep |= manifest_objects(row.manifest, cache.manifest(row.manifest))
            except CorruptObject:
                continue
        keep |= cache.store.artifact_hashes()
    return keep

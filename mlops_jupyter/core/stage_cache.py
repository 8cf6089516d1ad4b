"""Stage results keyed by fingerprint: outputs, variables and out files as objects.

A result is a JSON manifest object naming other objects. Before anything is
restored every object it names is verified, so a corrupt or missing object
turns the hit into a miss and nothing half-restored ever reaches the user.
What could run code if altered — the manifest, replayed output payloads
(HTML, JavaScript) and pickled variables — is read in full and hashed on every
restore, and exactly the bytes that verified are used. Typed data (npy,
parquet, JSON) and out files go through the stat cache: an untouched object
(same inode, mtime and size) is not re-read.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blake3

from . import variables
from .hashing import FileHasher, PathHash
from .errors import MlopsError
from .objects import CorruptObject, ObjectStore
from .store import RunStore

MANIFEST_VERSION = 1
_INLINE_LIMIT = 4096  # output payloads larger than this (PNG…) become objects of their own
_FICLONE = 0x40049409  # Linux ioctl: share the blocks of a file (copy-on-write reflink)


def fingerprint(*, stage: str, code: str, params: dict, deps: dict[str, str], inputs: dict[str, str], outs,
                keep=()) -> str:
    """The one fingerprint of a stage execution (the magic, status and run share it). ``keep``
    (``--keep``) changes what is cached, so a result cached without those variables is another."""
    parts = {"v": MANIFEST_VERSION, "stage": stage, "code": code, "params": params,
             "deps": deps, "inputs": inputs, "outs": sorted(outs)}
    if keep:
        parts["keep"] = sorted(keep)
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return blake3.blake3(canonical.encode()).hexdigest()


@dataclass
class CachedStage:
    fingerprint: str
    run_id: str | None
    seconds: float | None
    outputs: list[dict]
    variables: dict[str, dict]
    outs: dict[str, dict]
    pickles: dict[str, bytes] = field(default_factory=dict)  # verified bytes of pickled variables
    origin: str | None = None  # the remote the result was pulled from


class UntrustedResult(MlopsError):
    """A cached result from an untrusted remote that holds pickled variables: it is not restored."""


def manifest_objects(manifest_digest: str, manifest: dict) -> set[str]:
    """Every object a result's manifest names, the manifest included: what a remote must hold."""
    found = {manifest_digest}
    for output in manifest["outputs"]:
        for value in (output.get("data") or {}).values():
            if isinstance(value, dict) and "$object" in value:
                found.add(value["$object"])
    found.update(saved["object"] for saved in manifest["variables"].values())
    for out in manifest["outs"].values():
        found.update(digest for _, digest in out.get("files") or [[None, out["hash"]]])
    return found


def reflink_or_copy(source: Path, target: Path) -> None:
    """A copy-on-write clone where the file system can, else a plain copy.

    Never a hard link: editing a restored file in place would then edit the cache.
    """
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EPERM):
                raise
        shutil.copyfileobj(src, dst, length=1 << 24)


class StageCache:
    def __init__(self, store: RunStore, objects: ObjectStore, hasher: FileHasher, trusted: frozenset[str] = frozenset()):
        self.store, self.objects, self.hasher = store, objects, hasher
        self.trusted = trusted  # remotes whose pickled variables may be restored

    # --- writing ----------------------------------------------------------------

    def _externalize(self, outputs: list[dict]) -> list[dict]:
        stored = []
        for output in outputs:
            output = json.loads(json.dumps(output, default=str))
            for mime, value in (output.get("data") or {}).items():
                if isinstance(value, str) and len(value) > _INLINE_LIMIT and not mime.endswith("json"):
                    output["data"][mime] = {"$object": self._put_bytes(value.encode())}
            stored.append(output)
        return stored

    def save_variable(self, value: Any) -> dict:
        tmp = self.objects.temp_path()
        try:
            fmt = variables.dump(value, str(tmp))
        except BaseException:
            tmp.unlink(missing_ok=True)  # a disk that filled up, an interrupted write
            raise
        digest, size = self.objects.put_temp(tmp)
        self.hasher.remember(self.objects.path(digest), digest)
        return {"format": fmt, "object": digest, "size": size}

    def save_out(self, path: Path, hashed: PathHash) -> dict:
        if hashed.kind == "file":
            self._put_file(path, hashed.hash)
            return {"kind": "file", "hash": hashed.hash, "size": hashed.size}
        for relative, digest in hashed.manifest:
            if not self.objects.exists(digest):
                self._put_file(path / relative, digest)
        return {"kind": "dir", "hash": hashed.hash, "size": hashed.size, "files": [list(e) for e in hashed.manifest]}

    def _put_file(self, path: Path, digest: str) -> None:
        self.objects.put_file(path, digest)
        self.hasher.remember(self.objects.path(digest), digest)

    def _put_bytes(self, data: bytes) -> str:
        digest, _ = self.objects.put_bytes(data)
        self.hasher.remember(self.objects.path(digest), digest)
        return digest

    def save(self, *, fingerprint: str, stage: str, run_id: str, seconds: float, outputs: list[dict],
             variables: dict[str, dict], outs: dict[str, dict]) -> None:
        manifest = {
            "version": MANIFEST_VERSION, "stage": stage, "run_id": run_id, "seconds": seconds,
            "outputs": self._externalize(outputs), "variables": variables, "outs": outs,
        }
        digest = self._put_bytes(json.dumps(manifest, sort_keys=True).encode())
        self.store.save_stage(fingerprint, stage, run_id, digest, seconds)

    # --- reading ----------------------------------------------------------------

    def _verified_path(self, digest: str) -> Path:
        """An object whose wrong bytes cannot execute, checked through the stat cache."""
        path = self.objects.path(digest)
        if not path.exists():
            raise CorruptObject(f"object {digest[:12]} is missing from the cache")
        if self.hasher.hash_cache_object(path) != digest:
            path.unlink()
            raise CorruptObject(f"object {digest[:12]} is corrupt (its content changed)")
        return path

    def _verified_bytes(self, digest: str) -> bytes:
        """An object read in full and hashed, whatever its stat says."""
        try:
            return self.objects.read_bytes(digest)
        except CorruptObject:
            self.objects.path(digest).unlink(missing_ok=True)
            raise

    def lookup(self, fingerprint: str) -> CachedStage | None:
        """The verified cached result, or None; a broken entry is dropped with ``CorruptObject``."""
        entry = self.store.cached_stage(fingerprint)
        if entry is None:
            return None
        try:
            manifest = self.manifest(entry.manifest)
            pickled = sorted(name for name, saved in manifest["variables"].items() if saved["format"] == "pickle")
            if entry.origin is not None and entry.origin not in self.trusted and pickled:
                raise UntrustedResult(
                    f"it was pulled from remote {entry.origin!r}, which is not trusted, and holds pickled "
                    f"variables ({', '.join(pickled)}) that could run code when loaded; trust the remote with "
                    f"`mlops-jupyter remote modify {entry.origin} --trusted` to restore it"
                )
            cached = CachedStage(fingerprint, entry.run_id, entry.seconds, [], manifest["variables"], manifest["outs"],
                                 origin=entry.origin)
            for output in manifest["outputs"]:
                for mime, value in (output.get("data") or {}).items():
                    if isinstance(value, dict) and "$object" in value:
                        output["data"][mime] = self._verified_bytes(value["$object"]).decode()
                cached.outputs.append(output)
            for name, saved in cached.variables.items():
                if saved["format"] == "pickle":
                    cached.pickles[name] = self._verified_bytes(saved["object"])
                else:
                    self._verified_path(saved["object"])
            for out in cached.outs.values():
                for _, digest in out.get("files") or [[None, out["hash"]]]:
                    self._verified_path(digest)
            return cached
        except CorruptObject:
            self.store.forget_stage(fingerprint)
            raise

    def manifest(self, digest: str) -> dict:
        """A result's manifest, verified in full."""
        manifest = json.loads(self._verified_bytes(digest))
        if manifest.get("version") != MANIFEST_VERSION:
            raise CorruptObject(f"cache entry written by another version (manifest v{manifest.get('version')})")
        return manifest

    def load_variables(self, cached: CachedStage) -> dict[str, Any]:
        """Every variable of the result, all loaded before any is handed out."""
        values = {}
        # Unpickling builds many objects at once: without this, full collections of the
        # kernel's (often large) heap run in the middle, for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for name, saved in cached.variables.items():
                try:
                    if name in cached.pickles:
                        values[name] = variables.unpickle(cached.pickles[name])
                    else:
                        values[name] = variables.load(saved["format"], str(self.objects.path(saved["object"])))
                except Exception as e:
                    self.store.forget_stage(cached.fingerprint)
                    raise CorruptObject(f"variable {name!r} could not be read back: {e}") from None
        finally:
            if collecting:
                gc.enable()
        return values

    def checkout(self, root: Path, path: str, out: dict) -> None:
        """Put a cached out back at ``root/path``, leaving files that already match alone."""
        target = root / path
        if out["kind"] == "file":
            self._checkout_file(target, out["hash"])
            return
        wanted = {relative: digest for relative, digest in out["files"]}
        if target.is_dir():
            for relative, digest in ((e[0], e[1]) for e in self.hasher.hash_path(target).manifest):
                if wanted.get(relative) != digest:
                    (target / relative).unlink()
        elif target.exists():
            target.unlink()
        for relative, digest in wanted.items():
            self._checkout_file(target / relative, digest)

    def _checkout_file(self, target: Path, digest: str) -> None:
        if target.is_file() and self.hasher.hash_file(target) == digest:
            return
        if target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.mlops-tmp")
        reflink_or_copy(self.objects.path(digest), tmp)
        os.replace(tmp, target)

"""Content-addressed objects, laid out as DVC's ObjectDB: ``root/ab/cdef…``.

Objects are named by their BLAKE3 hash, written to a temporary name and
renamed into place (a reader never sees half an object), made read-only, and
verified on read.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import blake3

from .errors import MlopsError

HASH_NAME = "blake3"


class CorruptObject(MlopsError):
    """A cached object whose content no longer matches its hash."""


def hash_file(path: str | os.PathLike) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if os.path.getsize(path) == 0:
        return hasher.hexdigest()
    hasher.update_mmap(os.fspath(path))
    return hasher.hexdigest()


def hash_bytes(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


class ObjectStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:]

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def _place(self, digest: str, write) -> None:
        target = self.path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            write(tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, source: str | os.PathLike, digest: str | None = None) -> tuple[str, int]:
        """Store a copy of ``source`` (whose hash the caller may know already); returns (hash, size)."""
        digest = digest or hash_file(source)
        self._place(digest, lambda tmp: shutil.copyfile(source, tmp))
        return digest, os.path.getsize(source)

    def temp_path(self) -> Path:
        """A fresh path inside the cache (same file system) for ``put_temp``."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".tmp-{uuid.uuid4().hex}"

    def put_temp(self, tmp: Path) -> tuple[str, int]:
        """Move a finished file from ``temp_path()`` into place by its hash."""
        try:
            digest, size = hash_file(tmp), tmp.stat().st_size
            self._place(digest, lambda target: os.replace(tmp, target))
            return digest, size
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hash_bytes(data)
        self._place(digest, lambda tmp: tmp.write_bytes(data))
        return digest, len(data)

    def verify(self, digest: str) -> Path:
        """The object's path once its content is checked; raises ``CorruptObject``."""
        path = self.path(digest)
        if not path.exists():
            raise CorruptObject(f"object {digest[:12]} is missing from {self.root}")
        if hash_file(path) != digest:
            raise CorruptObject(f"object {digest[:12]} in {self.root} is corrupt (its hash changed)")
        return path

    def read_bytes(self, digest: str) -> bytes:
        data = self.path(digest).read_bytes()
        if hash_bytes(data) != digest:
            raise CorruptObject(f"object {digest[:12]} in {self.root} is corrupt (its hash changed)")
        return data

"""Content-addressed objects, laid out as DVC's ObjectDB: ``root/ab/cdef…``.

Objects are named by their BLAKE3 hash, written to a temporary name and
renamed into place (a reader never sees half an object), made read-only, and
verified on read. Writing an object that exists already checks the existing
copy and replaces it when its bytes changed, so a rewrite never blesses a
corrupt object. Temporary files carry their writer's pid, so those left by a
killed process are recognised and removed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import blake3

from .errors import MlopsError

HASH_NAME = "blake3"
_TEMP_PREFIX = ".tmp-"


def _started_after(pid: int, moment: float) -> bool:
    import psutil

    try:
        return psutil.Process(pid).create_time() > moment + 1
    except psutil.Error:
        return True


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
        if target.exists() and self.is_sound(digest):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.temp_path()
        try:
            write(tmp)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)  # also over a corrupt copy
        finally:
            tmp.unlink(missing_ok=True)

    def is_sound(self, digest: str) -> bool:
        """Whether the object exists with exactly its bytes (read in full, no shortcut)."""
        try:
            return hash_file(self.path(digest)) == digest
        except OSError:
            return False

    def put_file(self, source: str | os.PathLike, digest: str | None = None) -> tuple[str, int]:
        """Store a copy of ``source`` (whose hash the caller may know already); returns (hash, size)."""
        digest = digest or hash_file(source)
        self._place(digest, lambda tmp: shutil.copyfile(source, tmp))
        return digest, os.path.getsize(source)

    def temp_path(self) -> Path:
        """A fresh path inside the cache (same file system) for ``put_temp``, named after this process."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f"{_TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"

    def remove_stale_temps(self) -> int:
        """Delete the temporary files of writers that died (killed mid-save); returns how many."""
        from .environment import process_is_gone

        removed = 0
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not entry.name.startswith(_TEMP_PREFIX):
                continue
            pid = entry.name[len(_TEMP_PREFIX):].split("-", 1)[0]
            try:
                written = entry.stat().st_mtime
                # The pid is gone, or now belongs to a process that started after the file was written.
                stale = not pid.isdigit() or process_is_gone(int(pid), None) or _started_after(int(pid), written)
                if stale:
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed

    def put_temp(self, tmp: Path) -> tuple[str, int]:
        """Move a finished file from ``temp_path()`` into place by its hash."""
        try:
            digest, size = hash_file(tmp), tmp.stat().st_size
            self._place(digest, lambda target: os.replace(tmp, target))
            return digest, size
        finally:
            tmp.unlink(missing_ok=True)

    def put_verified(self, tmp: Path, digest: str) -> None:
        """Move a file from ``temp_path()`` into place as ``digest``, which the caller has just
        hashed it to (a download checked against its name)."""
        try:
            self._place(digest, lambda target: os.replace(tmp, target))
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hash_bytes(data)
        self._place(digest, lambda tmp: tmp.write_bytes(data))
        return digest, len(data)

    def read_bytes(self, digest: str) -> bytes:
        """The object's bytes, hashed as read: the caller uses exactly the bytes that verified."""
        try:
            data = self.path(digest).read_bytes()
        except FileNotFoundError:
            raise CorruptObject(f"object {digest[:12]} is missing from {self.root}") from None
        if hash_bytes(data) != digest:
            raise CorruptObject(f"object {digest[:12]} in {self.root} is corrupt (its content changed)")
        return data

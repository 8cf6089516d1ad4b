"""Hashing files and folders at disk speed, never re-reading what has not changed.

A stat cache maps (inode, mtime_ns, size) of each absolute path to its BLAKE3
hash, so an unchanged file costs one ``stat``. A folder hashes to the hash of
its manifest: the sorted (relative path, file hash) pairs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MlopsError
from .objects import hash_bytes, hash_file
from .project import STATE_DIRS, STATE_FILES, is_state_path, is_within
from .store import RunStore


class DepError(MlopsError, FileNotFoundError):
    """A declared dependency that does not exist."""


class StatePathError(MlopsError, ValueError):
    """A path inside the tool state (``.mlops/``, ``.git/``), which is never user data."""


class OutsideBoundary(MlopsError, ValueError):
    """A path that leads outside the folder a hasher is confined to: it is never read."""


@dataclass(frozen=True)
class PathHash:
    kind: str  # "file" or "dir"
    hash: str
    size: int
    manifest: tuple[tuple[str, str], ...] = ()  # for a folder: (relative path, hash)

    def manifest_bytes(self) -> bytes:
        return json.dumps([list(entry) for entry in self.manifest], separators=(",", ":")).encode()


class FileHasher:
    """``confine``: a folder outside which nothing is read, symlinks followed (a server's root)."""

    def __init__(self, store: RunStore | None = None, *, confine: str | os.PathLike | None = None):
        self.store = store
        self.confine = Path(confine).resolve() if confine is not None else None

    def check(self, path: str | os.PathLike) -> Path:
        """``path`` made absolute; raises ``OutsideBoundary`` if it resolves outside ``confine``."""
        path = Path(path).absolute()
        if self.confine is not None and not is_within(Path(os.path.realpath(path)), self.confine):
            raise OutsideBoundary(f"{path} is outside {self.confine}")
        return path

    def _known(self, path: str) -> dict:
        return self.store.stat_entries(path) if self.store else {}

    def hash_path(self, path: str | os.PathLike) -> PathHash:
        """Hash a file or folder; raises ``DepError`` if it does not exist, ``OutsideBoundary``
        (before anything is read) if it or a symlink in it leads outside ``confine``."""
        path = self.check(path)
        if is_state_path(path):
            raise StatePathError(f"{path} is part of the project's own state (.mlops/, .git/, mlops.lock), not data")
        try:
            st = path.stat()
        except FileNotFoundError:
            raise DepError(f"{path} does not exist") from None
        known = self._known(str(path))
        fresh: list[tuple] = []
        if not path.is_dir():
            digest = self._file(str(path), st, known, fresh)
            self._save(fresh)
            return PathHash("file", digest, st.st_size)
        entries, total = [], 0
        cut = len(str(path)) + 1  # walk_files yields paths that start with the folder's
        posix = os.sep == "/"
        for file, file_st in walk_files(str(path)):
            if self.confine is not None and os.path.islink(file):
                self.check(file)
            relative = file[cut:] if posix else file[cut:].replace(os.sep, "/")
            entries.append((relative, self._file(file, file_st, known, fresh)))
            total += file_st.st_size
        entries.sort()
        self._save(fresh)
        manifest = tuple(entries)
        digest = hash_bytes(PathHash("dir", "", 0, manifest).manifest_bytes())
        return PathHash("dir", digest, total, manifest)

    def hash_file(self, path: str | os.PathLike) -> str:
        return self.hash_path(path).hash

    def hash_cache_object(self, path: str | os.PathLike) -> str:
        """The hash of an object of our own cache (inside ``.mlops/``), through the stat cache."""
        path = os.fspath(path)
        fresh: list[tuple] = []
        digest = self._file(path, os.stat(path), self._known(path), fresh)
        self._save(fresh)
        return digest

    def remember(self, path: str | os.PathLike, digest: str) -> None:
        """Record a hash just computed elsewhere (a file written by content), so it is not read again."""
        path = Path(path).absolute()
        st = path.stat()
        self._save([(str(path), st.st_ino, st.st_mtime_ns, st.st_size, digest)])

    @staticmethod
    def _file(path: str, st: os.stat_result, known: dict, fresh: list) -> str:
        entry = known.get(path)  # (path, inode, mtime_ns, size, hash)
        if entry is not None and entry[1] == st.st_ino and entry[2] == st.st_mtime_ns and entry[3] == st.st_size:
            return entry[4]
        digest = hash_file(path)
        fresh.append((path, st.st_ino, st.st_mtime_ns, st.st_size, digest))
        return digest

    def _save(self, rows: list) -> None:
        if self.store and rows:
            self.store.save_stat_entries(rows)


def walk_files(folder: str):
    """(path, stat) of every file below ``folder``, following no symlinked folders and skipping
    tool state (``.mlops/``, ``.git/``, ``mlops.lock``)."""
    stack = [folder]
    while stack:
        current = stack.pop()
        with os.scandir(current) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in STATE_DIRS:
                        stack.append(entry.path)
                elif entry.is_file() and entry.name not in STATE_FILES:
                    yield entry.path, entry.stat()

"""Projects and their run stores as the server sees them, kept open between requests."""

from __future__ import annotations

from pathlib import Path

from ..core.project import Project, find_root
from ..core.store import RunStore


class Projects:
    def __init__(self, root_dir: str | Path):
        self.root = Path(root_dir).expanduser().resolve()
        self._stores: dict[Path, RunStore] = {}

    def resolve(self, path: str) -> Path:
        """A request's ``path`` as an absolute path inside the server's root (else ValueError)."""
        if "\x00" in path:
            raise ValueError("path contains a NUL character")
        resolved = (self.root / path.lstrip("/")).resolve() if path else self.root
        if resolved != self.root and self.root not in resolved.parents:
            raise ValueError(f"path {path!r} is outside the server's root")
        return resolved

    def project(self, path: str) -> Project:
        """The project of a notebook or folder, found as the kernel finds it."""
        target = self.resolve(path)
        folder = target if target.is_dir() else target.parent
        return Project(find_root(folder))

    def store(self, path: str) -> RunStore | None:
        """The project's store, or None while it has none (nothing is created by reading)."""
        project = self.project(path)
        store = self._stores.get(project.root)
        if store is None:
            if not project.db_path.exists():
                return None
            store = self._stores[project.root] = RunStore(project.db_path, busy_timeout=project.config().core.busy_timeout)
        return store

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

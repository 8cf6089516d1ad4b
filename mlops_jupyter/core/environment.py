"""What a run ran on: interpreter, platform, imported packages, git state, process."""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from .models import Environment

_GIT_TTL = 2.0  # seconds a git answer is reused: runs come in bursts
_git_cache: dict[Path, tuple[float, tuple[str | None, bool | None]]] = {}


@functools.lru_cache(maxsize=1)
def _module_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


@functools.lru_cache(maxsize=None)
def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def imported_packages(modules=None) -> dict[str, str]:
    """Versions of the installed distributions behind the imported top-level modules."""
    names = modules if modules is not None else [m for m in list(sys.modules) if "." not in m]
    stdlib = sys.stdlib_module_names
    owners = _module_distributions()
    packages = {}
    for name in names:
        if name in stdlib or name.startswith("_"):
            continue
        for distribution in owners.get(name, ()):
            version = _version(distribution)
            if version:
                packages[distribution] = version
    return dict(sorted(packages.items(), key=lambda item: item[0].lower()))


def git_state(folder: Path) -> tuple[str | None, bool | None]:
    """(HEAD commit, dirty) of the repository holding ``folder``; (None, None) outside git."""
    now = time.monotonic()
    cached = _git_cache.get(folder)
    if cached and now - cached[0] < _GIT_TTL:
        return cached[1]
    state: tuple[str | None, bool | None] = (None, None)
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=folder, capture_output=True, text=True, timeout=10,
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=folder, capture_output=True, text=True, timeout=10,
            )
            state = (head.stdout.strip(), bool(dirty.stdout.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    _git_cache[folder] = (now, state)
    return state


@functools.lru_cache(maxsize=1)
def process_start_time() -> float | None:
    try:
        import psutil

        return psutil.Process(os.getpid()).create_time()
    except Exception:  # a sandbox without /proc: the pid alone must do
        return None


def capture(project_root: Path, modules=None) -> Environment:
    commit, dirty = git_state(project_root)
    return Environment(
        python=platform.python_version(),
        platform=platform.platform(),
        packages=imported_packages(modules),
        git_commit=commit,
        git_dirty=dirty,
        host=socket.gethostname(),
        pid=os.getpid(),
        pid_start_time=process_start_time(),
    )


def process_is_gone(pid: int, start_time: float | None) -> bool:
    """True when no process has ``pid``, or the one that has it started at another time."""
    import psutil

    try:
        process = psutil.Process(pid)
        if start_time is not None and abs(process.create_time() - start_time) > 1.0:
            return True
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False

"""Exclusive locks between processes of one project (kernels, CLI runs) on named things.

A stage holds the lock of its fingerprint and of each out path while it restores or runs and
caches, so two kernels running the same stage at once never mix their results: the second
waits, then restores what the first cached. Writers of ``mlops.lock`` take turns the same way. ``flock`` locks belong to the open file, so closing
other files (as hashing does) never drops them, and the kernel releases them if a process dies.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import blake3

_POLL = 0.05  # seconds between tries while another process holds a lock


@contextmanager
def exclusive(folder: Path, names: Iterable[str], on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold every lock of ``names`` (taken in sorted order, so two holders never deadlock)."""
    wanted = sorted(set(names))
    if not wanted:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        for name in wanted:
            path = folder / f"{blake3.blake3(name.encode()).hexdigest()[:32]}.lck"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            held.callback(os.close, fd)
            _acquire(fd, name, on_wait)
            held.callback(fcntl.flock, fd, fcntl.LOCK_UN)
        yield


def _acquire(fd: int, name: str, on_wait: Callable[[str], None] | None) -> None:
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not waited and on_wait is not None:
                on_wait(name)
            waited = True
            time.sleep(_POLL)

"""Views that refresh when new runs land: after every cell of this kernel (a stage just ran), and
every few seconds for runs made elsewhere (the CLI, another kernel). A view is checked by its
store's ``version()`` — one cheap query — and redrawn only when that changed."""

from __future__ import annotations

import threading
import weakref

POLL_SECONDS = 3.0

_views: weakref.WeakSet = weakref.WeakSet()
_started = threading.Event()


def watch(view) -> None:
    """Keep ``view`` (anything with ``refresh_if_changed()``) current while it lives."""
    _views.add(view)
    if not _started.is_set():
        _started.set()
        _hook_cells()
        threading.Thread(target=_poll, name="mlops-widgets-refresh", daemon=True).start()


def check_all() -> None:
    for view in list(_views):
        try:
            view.refresh_if_changed()
        except Exception:  # a closed store, a kernel shutting down: the next check tries again
            pass


def _hook_cells() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.events.register("post_run_cell", lambda result: check_all())


def _poll() -> None:
    stop = threading.Event()
    while not stop.wait(POLL_SECONDS):
        check_all()

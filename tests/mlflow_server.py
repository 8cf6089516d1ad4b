"""A real MLflow tracking server for the tests: `mlflow server` of the venv (the test extra has
mlflow) on a free port, its SQLite backend and artifact folder in a temporary folder, stopped by
its pid. Ready means `/health` answers (a cold start takes ~20-40 s on these machines)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(root: Path, start_timeout: float = 180) -> Iterator[str]:
    """The server's URL while the block runs."""
    mlflow = Path(sys.executable).parent / "mlflow"
    if not mlflow.exists():
        raise RuntimeError(f"{mlflow} is missing: install the test extra (pip install -e '.[test]')")
    port = _free_port()
    log = root / "mlflow.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
             "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],  # one process: no supervisor to kill a worker slow to answer on a busy machine
            stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server did not start:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

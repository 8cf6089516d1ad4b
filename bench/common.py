"""What the benchmark scripts share: formatting figures, and a Jupyter app on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if abs(seconds) < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if abs(seconds) < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}x"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_jupyter(app: str, root: Path, token: str, *options: str) -> tuple[subprocess.Popen, str]:
    """``jupyter server`` or ``jupyter lab`` serving ``root``; returns the process and its base URL
    once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), app, "--allow-root", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            request = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(request, timeout=2).read()
            return process, base
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"jupyter {app} did not start")

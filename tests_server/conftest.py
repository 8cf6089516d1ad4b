"""Server tests run in their own pytest session with pytest-jupyter's server plugin:

    .venv/bin/python -m pytest -p pytest_jupyter.jupyter_server tests_server
"""

import shutil
from pathlib import Path

import pytest

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.models import Artifact
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f00f0004000183f7e7b00000000049454e44ae426082"
)
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"mlops_jupyter": True}}}


@pytest.fixture
def project(jp_root_dir):
    """A project at the server root with two finished runs, a figure and a copy of the example."""
    root = Path(jp_root_dir)
    proj, _ = init_project(root)
    shutil.copy(Path(__file__).parent.parent / "examples" / "wine.ipynb", root / "wine.ipynb")
    shutil.copy(Path(__file__).parent.parent / "examples" / "params.yaml", root / "params.yaml")
    env = capture(root)
    ids = []
    with RunStore(proj.db_path) as store:
        for i, n in enumerate((100, 200)):
            run = store.create_run("exp", environment=env, stage="train", notebook="wine.ipynb", start_time=1_700_000_000_000 + i)
            store.log_params(run.id, {"n_est": n})
            store.log_metric_points([(run.id, "loss", s, 1.0 / (s + 1 + i), 1_700_000_000_000 + s) for s in range(3)])
            store.set_tags(run.id, {"note": XSS})
            digest, size = ObjectStore(proj.cache_dir).put_bytes(PNG)
            store.add_artifact(run.id, Artifact("figure-1.png", "figure", digest, size, "image/png"))
            html, hsize = ObjectStore(proj.cache_dir).put_bytes(b"<script>alert(1)</script>")
            store.add_artifact(run.id, Artifact("report.html", "file", html, hsize, "text/html"))
            store.end_run(run.id, "finished", end_time=1_700_000_001_000 + i)
            ids.append(run.id)
    return proj, ids

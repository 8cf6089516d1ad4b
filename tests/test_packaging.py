"""The wheel carries the prebuilt JupyterLab extension and enables the server extension.

Builds the wheel from this tree (``pip wheel``; the jupyter-builder hook reuses the
assets in mlops_jupyter/labextension/ or builds them with jlpm), installs it into a
fresh venv with NO node on PATH, and asks Jupyter what it sees. Slow by nature
(a wheel build and a venv with JupyterLab: minutes, mostly pip); never skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TIMEOUT = 1200


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n{output[-6000:]}"
    return subprocess.CompletedProcess(result.args, result.returncode, output, "")


def _env_without_node(bin_dir: Path, home: Path) -> dict[str, str]:
    """The environment of a user with this venv only: no node, no other Jupyter paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = str(bin_dir)
    env["JUPYTER_CONFIG_DIR"] = str(home / "config")
    env["JUPYTER_DATA_DIR"] = str(home / "data")
    env["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    assert shutil.which("node", path=env["PATH"]) is None
    assert shutil.which("jlpm", path=env["PATH"]) is None
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Node may be used here (a build from source is a developer's step); not below.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(ROOT)], cwd=ROOT)
    wheels = list(out.glob("mlops_jupyter-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("venv")
    venv_dir = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv_dir)])
    bin_dir = venv_dir / "bin"
    env = _env_without_node(bin_dir, base / "home")
    # The wheel and JupyterLab (the wheel's own dependencies come from the index);
    # installing must not need node: the extension is prebuilt.
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel), "jupyterlab>=4,<5"], env=env, cwd=base)
    return venv_dir, env


def test_wheel_carries_the_prebuilt_labextension_and_server_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if n.endswith(".data/data/share/jupyter/labextensions/mlops-jupyter/package.json"))
    share = f"{data}/data/share/jupyter/labextensions/mlops-jupyter"
    assert f"{share}/install.json" in names
    assert f"{share}/static/style.js" in names
    assert any(re.fullmatch(rf"{re.escape(share)}/static/remoteEntry\.[0-9a-f]+\.js", n) for n in names)
    assert f"{data}/data/etc/jupyter/jupyter_server_config.d/mlops_jupyter.json" in names
    assert "mlops_jupyter/labextension/package.json" in names
    assert "mlops_jupyter/_labextension.py" in names
    # Sources and build products of labextension/ stay out of the wheel.
    assert not any("/node_modules/" in f"/{n}" or n.startswith("labextension/") for n in names)


def test_labextension_enabled_without_node(venv):
    venv_dir, env = venv
    listing = _run([str(venv_dir / "bin" / "jupyter"), "labextension", "list"], env=env, cwd=venv_dir).stdout
    # Listed under the venv's own share/jupyter/labextensions, installed by pip (python).
    section = listing.split(str(venv_dir / "share" / "jupyter" / "labextensions"), 1)
    assert len(section) == 2, listing
    assert re.search(r"^\s*mlops-jupyter v\S+ enabled\s+OK\b.*\(python, mlops-jupyter\)", section[1], re.M), listing


def test_server_extension_enabled_without_node(venv):
    venv_dir, env = venv
    listing = _run([str(venv_dir / "bin" / "jupyter"), "server", "extension", "list"], env=env, cwd=venv_dir).stdout
    assert re.search(r"^\s*mlops_jupyter enabled\s*$", listing, re.M), listing
    assert re.search(r"^\s*mlops_jupyter \S+ OK\s*$", listing, re.M), listing


def test_labextension_paths(venv):
    """What `jupyter labextension develop` and the extension manager read."""
    venv_dir, env = venv
    code = (
        "import json, pathlib, mlops_jupyter as m\n"
        "assert hasattr(m, '_jupyter_labextension_paths'), "
        "'mlops_jupyter/__init__.py must re-export _jupyter_labextension_paths from ._labextension'\n"
        "p = m._jupyter_labextension_paths(); print(json.dumps(p))\n"
        "assert (pathlib.Path(m.__file__).parent / p[0]['src'] / 'package.json').is_file()"
    )
    out = _run([str(venv_dir / "bin" / "python"), "-c", code], env=env, cwd=venv_dir).stdout
    assert '[{"src": "labextension", "dest": "mlops-jupyter"}]' in out

"""Remotes on real storage: a real S3 server (SeaweedFS) and a local folder, driven through the real
CLI in subprocesses and real kernels (``mlops-jupyter run`` executes notebooks with nbclient).

What a team relies on: a fresh clone gets every stage restored after ``pull``; two projects share
stage results through one remote without pushing or pulling by hand; ``add``/``checkout`` bring old
data back after ``git checkout``; a corrupt or half-written object never enters a cache; pickles
from an untrusted remote are never loaded.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

CLI = str(Path(sys.executable).with_name("mlops-jupyter"))
EXAMPLES = Path(__file__).parent.parent / "examples"


def mj(cwd: Path, *args: str, env: dict | None = None, check: bool = True, timeout: int = 600):
    result = subprocess.run([CLI, *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                            text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"mlops-jupyter {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t"}).stdout


def new_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    git(folder, "init", "-q")
    mj(folder, "init")
    return folder


def add_s3_remote(folder: Path, s3, prefix: str, *extra: str) -> None:
    mj(folder, "remote", "add", "-d", "shared", s3.url(f"bucket/{prefix}"), "--endpoint-url", s3.endpoint_url, *extra)


def stages_of(notebook: Path) -> dict[str, str]:
    """Each %%stage cell's printed outputs, joined."""
    return {name: "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
            for name, outputs in outputs_of(notebook).items()}


def outputs_of(notebook: Path) -> dict[str, list]:
    nb = nbformat.read(notebook, as_version=4)
    return {cell.source.split()[1]: cell.outputs for cell in nb.cells
            if cell.cell_type == "code" and cell.source.startswith("%%stage")}


def displayed(outputs: list) -> list:
    """What a cell displayed (rich outputs), without the stage's own restore line."""
    return [sorted(o.get("data", {})) for o in outputs if o.output_type in ("display_data", "execute_result")]


def git_files_only(project: Path) -> None:
    """What a new clone has: drop every file git does not track."""
    git(project, "add", "-A")
    git(project, "commit", "-qm", "state")
    git(project, "clean", "-qfdx")


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server


# --- a fresh clone restores everything after pull ---------------------------------


def test_a_fresh_clone_pulls_and_restores_every_stage(tmp_path, s3_env):
    project = new_project(tmp_path / "proj")
    for name in ("wine.ipynb", "params.yaml"):
        shutil.copy(EXAMPLES / name, project / name)
    add_s3_remote(project, s3_env, "clone")
    mj(project, "run", "wine.ipynb", "-q")
    ran = stages_of(project / "wine.ipynb")
    shown = outputs_of(project / "wine.ipynb")
    assert set(ran) == {"prepare", "train", "evaluate"} and displayed(shown["evaluate"])
    pushed = mj(project, "push").stdout
    assert "Pushed" in pushed
    assert "0 objects" in mj(project, "push").stdout  # nothing left to send

    (project / ".gitignore").write_text("/eval/\n")  # the outs are data, not code: git ignores them
    git_files_only(project)
    assert not (project / ".mlops" / "runs.db").exists() and not (project / "eval").exists()
    pulled = mj(project, "pull").stdout
    assert "3 stage results" in pulled, pulled
    assert json.loads((project / "eval" / "metrics.json").read_text())["accuracy"] > 0.9
    runs = json.loads(mj(project, "runs", "ls", "--json").stdout)
    assert {r["stage"] for r in runs} == {"prepare", "train", "evaluate"}  # the runs came with their results

    run = mj(project, "run", "wine.ipynb", "-q").stdout
    assert "3 restored" in run and "ran" not in run.split("restored in")[0].split("\n")[-1], run
    replayed = stages_of(project / "wine.ipynb")
    for stage in ran:
        assert "restored from run" in replayed[stage] and "of remote 'shared'" in replayed[stage]
        assert displayed(outputs_of(project / "wine.ipynb")[stage]) == displayed(shown[stage])  # replayed


# --- two projects share stage results ----------------------------------------------

SHARED_NB = [
    "%load_ext mlops_jupyter",
    "%%stage make\nimport numpy as np\nprint('computing')\ndata = np.arange(1_000_000) % 7\nlookup = {'k': [1, 2]}",
    "%%stage use\ntotal = int(data.sum())\nprint('total', total)",
]


def write_notebook(path: Path, cells) -> Path:
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    return path


def test_two_projects_share_results_through_the_remote(tmp_path, s3_env):
    a, b = new_project(tmp_path / "a"), new_project(tmp_path / "b")
    for folder in (a, b):
        add_s3_remote(folder, s3_env, "team")
        write_notebook(folder / "nb.ipynb", SHARED_NB)
    mj(a, "run", "nb.ipynb", "-q")
    assert "computing" in stages_of(a / "nb.ipynb")["make"]

    run_b = mj(b, "run", "nb.ipynb", "-q").stdout
    outputs = stages_of(b / "nb.ipynb")
    assert "2 restored" in run_b, run_b
    assert "of remote 'shared'" in outputs["make"] and "computing" in outputs["make"]  # replayed
    assert "total" in outputs["use"]
    runs_b = json.loads(mj(b, "runs", "ls", "--json").stdout)
    runs_a = json.loads(mj(a, "runs", "ls", "--json").stdout)
    assert {r["run_id"] for r in runs_b} == {r["run_id"] for r in runs_a}  # B knows A's runs, made none


def test_pickles_from_an_untrusted_remote_are_not_loaded(tmp_path, s3_env):
    a, b = new_project(tmp_path / "a"), new_project(tmp_path / "b")
    add_s3_remote(a, s3_env, "strangers")
    add_s3_remote(b, s3_env, "strangers", "--untrusted")
    cells = [SHARED_NB[0], "%%stage make\nfrom fractions import Fraction\nprint('computing')\nratio = Fraction(1, 3)",
             "%%stage typed\nimport numpy as np\nprint('typed ran')\narr = np.arange(10)"]
    for folder in (a, b):
        write_notebook(folder / "nb.ipynb", cells)
    mj(a, "run", "nb.ipynb", "-q")
    mj(b, "run", "nb.ipynb", "-q")
    outputs = stages_of(b / "nb.ipynb")
    make = outputs["make"]
    assert "not trusted" in make and "ratio" in make and "computing" in make, make  # ran here instead
    assert "remote modify shared --trusted" in make
    assert "of remote 'shared'" in outputs["typed"]  # typed formats always restore


# --- data versions -------------------------------------------------------------------


def test_add_then_checkout_an_old_commit_brings_the_old_bytes_back(tmp_path, s3_env):
    project = new_project(tmp_path / "proj")
    add_s3_remote(project, s3_env, "data")
    (project / "data").mkdir()
    (project / "data" / "raw.csv").write_text("a,b\n1,2\n")
    (project / "data" / "sub").mkdir()
    (project / "data" / "sub" / "notes.txt").write_text("v1")
    (project / "data" / "empty").write_bytes(b"")  # S3 refuses a range of an empty object
    (project / "big.bin").write_bytes(os.urandom(40_000_000))  # comes back in ranges
    old_big = (project / "big.bin").read_bytes()
    mj(project, "add", "data", "big.bin")
    mj(project, "push")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "v1")

    (project / "data" / "raw.csv").write_text("a,b\n3,4\n5,6\n")
    (project / "data" / "sub" / "notes.txt").unlink()
    (project / "data" / "extra.txt").write_text("new")
    (project / "big.bin").write_bytes(os.urandom(1000))
    mj(project, "add", "data", "big.bin")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "v2")

    git(project, "checkout", "-q", "HEAD~1")
    shutil.rmtree(project / ".mlops" / "cache")  # the old version is on the remote only now
    result = mj(project, "checkout")
    assert "match mlops.lock" in result.stdout
    assert (project / "data" / "raw.csv").read_text() == "a,b\n1,2\n"
    assert (project / "data" / "sub" / "notes.txt").read_text() == "v1"
    assert not (project / "data" / "extra.txt").exists()
    assert (project / "big.bin").read_bytes() == old_big and (project / "data" / "empty").read_bytes() == b""
    assert "verify" in mj(project, "cache", "verify").stdout


# --- what never enters a cache ---------------------------------------------------------


def test_a_corrupt_object_on_the_remote_is_refused(tmp_path, s3_env):
    project = new_project(tmp_path / "proj")
    add_s3_remote(project, s3_env, "corrupt")
    (project / "raw.csv").write_text("the real bytes\n")
    mj(project, "add", "raw.csv")
    mj(project, "push")
    fs = s3_env.fs()
    (path,) = [p for p in fs.find("bucket/corrupt") if "/stages/" not in p]
    fs.pipe_file(path, b"planted bytes\n")
    shutil.rmtree(project / ".mlops" / "cache")
    (project / "raw.csv").unlink()
    result = mj(project, "pull", check=False)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.startswith("Error: object ") and "corrupt" in line and "\n" not in line, line
    assert not (project / "raw.csv").exists()
    objects = [p for p in (project / ".mlops" / "cache").rglob("*") if p.is_file()]
    assert objects == []  # neither placed nor left as a temp


def _kill_mid_transfer(cmd_cwd: Path, args: list[str], watch, env=None) -> None:
    """Start ``mlops-jupyter ARGS``, kill -9 it as soon as ``watch()`` says the transfer is under way."""
    process = subprocess.Popen([CLI, *args], cwd=cmd_cwd, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not watch() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.005)
    assert process.poll() is None, "the transfer finished before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_an_interrupted_push_and_pull_resume_and_leave_nothing_half_written(tmp_path, kind, request):
    from mlops_jupyter.core.objects import hash_file

    project = new_project(tmp_path / "proj")
    if kind == "s3":
        s3 = request.getfixturevalue("s3_env")
        add_s3_remote(project, s3, "interrupted")
        fs = s3.fs()

        def visible() -> dict[str, bytes]:
            fs.invalidate_cache()
            return {p.split("interrupted/", 1)[1].replace("/", ""): fs.cat_file(p)
                    for p in fs.find("bucket/interrupted") if "/stages/" not in p}
    else:
        remote = tmp_path / "remote"
        mj(project, "remote", "add", "-d", "folder", str(remote))

        def visible() -> dict[str, bytes]:
            return {p.parent.name + p.name: p.read_bytes() for p in remote.rglob("*")
                    if p.is_file() and not p.name.startswith(".")}
    (project / "big.bin").write_bytes(os.urandom(400 * 1024 * 1024))
    for i in range(50):
        (project / f"small-{i}.txt").write_text(f"file {i}\n")
    mj(project, "add", "big.bin", *[f"small-{i}.txt" for i in range(50)])

    started = time.monotonic()
    if kind == "s3":  # a multipart upload shows nothing until it completes: kill it well inside the upload
        under_way = lambda: time.monotonic() - started > 1.0  # noqa: E731
    else:
        under_way = lambda: any(remote.rglob(".tmp-*"))  # noqa: E731
    _kill_mid_transfer(project, ["push", "-q"], under_way)
    for digest, data in visible().items():  # whatever is visible under an object's name is whole
        assert hash_file_bytes(data) == digest
    assert "already there" in mj(project, "push").stdout
    assert len(visible()) == 51
    clone = tmp_path / "clone"
    shutil.copytree(project, clone, ignore=shutil.ignore_patterns("cache", "runs.db*", "*.bin", "small-*"))
    cache = clone / ".mlops" / "cache"

    def temp_in_cache():
        return cache.is_dir() and any(p.name.startswith(".tmp-") for p in cache.iterdir())

    _kill_mid_transfer(clone, ["pull", "-q", "-j", "1"], temp_in_cache)
    for digest_dir in (p for p in cache.iterdir() if p.is_dir()):
        for path in digest_dir.iterdir():
            assert hash_file(path) == digest_dir.name + path.name
    mj(clone, "pull")
    assert (clone / "big.bin").read_bytes() == (project / "big.bin").read_bytes()
    assert (clone / "small-7.txt").read_text() == "file 7\n"
    assert not [p for p in cache.iterdir() if p.name.startswith(".tmp-")]  # the killed pull's temp is gone


def hash_file_bytes(data: bytes) -> str:
    from mlops_jupyter.core.objects import hash_bytes

    return hash_bytes(data)


# --- remotes in config, status --cloud, gc ------------------------------------------------


def test_remote_commands_keep_the_config_and_refuse_credentials(tmp_path):
    project = new_project(tmp_path / "proj")
    config = project / ".mlops" / "config.toml"
    config.write_text(config.read_text() + "\n# my own note\n")
    assert "(default)" in mj(project, "remote", "add", "first", "s3://b/p", "--endpoint-url", "http://x").stdout
    second = mj(project, "remote", "add", "second", str(tmp_path / "r2")).stdout
    assert "untrusted" in second  # only the first remote is trusted unless told
    listed = json.loads(mj(project, "remote", "list", "--json").stdout)
    assert [(r["name"], r["default"], r["trusted"]) for r in listed] == [("first", True, True), ("second", False, False)]
    assert listed[0]["endpoint_url"] == "http://x"
    mj(project, "remote", "default", "second")
    mj(project, "remote", "modify", "second", "--trusted")
    assert "# my own note" in config.read_text()
    refused = mj(project, "remote", "modify", "first", "--unset", "secret_key", check=False)
    assert refused.returncode != 0 and "never goes into" in refused.stderr
    mj(project, "remote", "remove", "second")
    again = json.loads(mj(project, "remote", "list", "--json").stdout)
    assert [r["name"] for r in again] == ["first"]
    missing = mj(project, "push", "-r", "nope", check=False)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no remote 'nope'" in missing.stderr


def test_status_cloud_and_gc(tmp_path):
    project = new_project(tmp_path / "proj")
    mj(project, "remote", "add", "-d", "folder", str(tmp_path / "remote"))
    (project / "keep.txt").write_text("keep")
    (project / "old.txt").write_text("old v1")
    mj(project, "add", "keep.txt", "old.txt")
    (project / "old.txt").write_text("old v2")
    mj(project, "add", "old.txt")  # v1's object is now referenced by nothing
    status = json.loads(mj(project, "status", "--cloud", "--json").stdout)
    assert status["local_only"] == 2 and status["both"] == 0
    mj(project, "push")
    status = json.loads(mj(project, "status", "--cloud", "--json").stdout)
    assert status["local_only"] == 0 and status["both"] == 2
    dry = mj(project, "gc", "-w", "--dry").stdout
    assert "Would delete 1 local object" in dry
    assert "Deleted 1 local object" in mj(project, "gc", "-w").stdout
    assert "0 of" not in mj(project, "cache", "verify").stdout
    (project / "keep.txt").unlink()
    mj(project, "checkout")
    assert (project / "keep.txt").read_text() == "keep"
    assert mj(project, "gc", check=False).returncode == 2  # a scope is required


def test_cache_verify_names_a_corrupt_object(tmp_path):
    project = new_project(tmp_path / "proj")
    (project / "a.txt").write_text("content")
    mj(project, "add", "a.txt")
    (obj,) = [p for p in (project / ".mlops" / "cache").rglob("*") if p.is_file()]
    obj.chmod(0o644)
    obj.write_text("rotten")
    result = mj(project, "cache", "verify", check=False)
    assert result.returncode == 1 and f"corrupt: {obj.parent.name}{obj.name}" in result.stdout

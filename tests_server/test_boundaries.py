"""The server root is a boundary: nothing outside it is hashed, and no project above it is served."""

import json
import shutil
from pathlib import Path

from mlops_jupyter.core import lockfile
from mlops_jupyter.core.cellcode import code_hash
from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore

from .test_handlers import get


def stage_notebook(root: Path, *flags: str) -> dict:
    """The example notebook with one more stage declaring ``flags``, and a lock entry for it
    (without one the stage is "never run" and nothing is checked)."""
    content = json.loads((root / "wine.ipynb").read_text())
    content["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": f"%%stage probe {' '.join(flags)}\npass", "id": "probe"})
    lockfile.update(root / "mlops.lock", "wine.ipynb", "probe", {"code": code_hash("pass")},
                    locks_dir=root / ".mlops" / "locks")
    return content


async def post_pipeline(jp_fetch, content) -> dict:
    response = await jp_fetch("mlops-jupyter", "pipeline", method="POST",
                              body=json.dumps({"path": "wine.ipynb", "content": content}))
    return {s["name"]: s for s in json.loads(response.body)["stages"]}


async def test_deps_and_outs_outside_the_root_are_never_hashed(jp_fetch, project, tmp_path):
    proj, _ = project
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"x" * 1000)
    (proj.root / "link").symlink_to(outside)  # inside the root by name, outside by target
    (proj.root / "inside.csv").write_text("a,b\n")
    missing = tmp_path / "no-such-folder"
    content = stage_notebook(proj.root, f"-d {outside}", f"-d {missing}", "-d ../outside", "-d link",
                             "-d inside.csv", f"-o {outside / 'big.bin'}", "-o link/big.bin")
    probe = (await post_pipeline(jp_fetch, content))["probe"]
    assert probe["state"] == "stale"
    assert probe["reasons"] == [
        f"dep {outside} not checked: outside the server's root",
        f"dep {missing} not checked: outside the server's root",  # the same words: existence is not revealed
        "dep ../outside not checked: outside the server's root",
        "dep link not checked: outside the server's root",
        "dep inside.csv added",
        f"out {outside / 'big.bin'} not checked: outside the server's root",
        "out link/big.bin not checked: outside the server's root",
    ]
    with RunStore(proj.db_path) as store:
        hashed = [row[0] for row in store.conn.execute("SELECT path FROM stat_cache")]
    assert hashed == [str(proj.root / "inside.csv")]


async def test_no_project_above_the_root_is_served(jp_fetch, jp_root_dir, tmp_path):
    """A parent folder's project (its runs, its secrets) stays invisible to a server started below it."""
    parent, _ = init_project(tmp_path)
    with RunStore(parent.db_path) as store:
        run = store.create_run("secret", environment=capture(tmp_path))
        store.set_tags(run.id, {"token": "hunter2"})
    (tmp_path / ".git").mkdir()
    shutil.copy(Path(__file__).parent.parent / "examples" / "wine.ipynb", Path(jp_root_dir) / "wine.ipynb")
    page = await get(jp_fetch, "runs")
    assert page["total"] == 0 and page["experiments"] == []
    state = await get(jp_fetch, "state", path="wine.ipynb")
    assert state["version"].startswith("empty")
    graph = await get(jp_fetch, "pipeline", path="wine.ipynb")
    assert {s["last_run"] for s in graph["stages"]} == {None}

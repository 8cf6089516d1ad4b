"""Exported pipelines whose tasks share no disk (`--io remote`): the proof without a cluster.

The DAG runs in the real Airflow (`dag.test()`, its own venv). Its tasks get only what an image would
hold — the notebook, params.yaml, .mlops/config.toml and the export, a copy that no task may change —
and each works in a fresh temporary folder of its own; the one thing they share is the S3 server of the
tests (SeaweedFS). The final metrics equal the notebook's, the `--when` checks pass or skip, a second
run restores every task from the remote, and `pull --pipeline` brings the results and runs home. The
pod commands of a Kubernetes export, run as they are in fresh folders, do the same.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.cli import main
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.remotes import RemoteConfig
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.core.transfer import Remote
from mlops_jupyter.execute import run_notebook
from mlops_jupyter.export import pipeline_runs

from .test_export_airflow_operators import REPORT, airflow_python

EXAMPLES = Path(__file__).parent.parent / "examples"
BIN = Path(sys.executable).parent
CLI = str(BIN / "mlops-jupyter")
DEPLOY = [
    "%%stage deploy --when 'evaluate: metrics.accuracy > 0.9' -o deploy/model.txt\n"
    'Path("deploy").mkdir(exist_ok=True)\n'
    'Path("deploy/model.txt").write_text(f"{type(model).__name__} {metrics[\'accuracy\']}")',
    "%%stage retrain --when 'evaluate: metrics.accuracy < 0.5'\nprint('accuracy too low:', metrics)",
]
RUN_DAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
dag = DagBag(dag_folder=sys.argv[1]).dags[sys.argv[2]]
run = dag.test()
print(json.dumps({"state": str(run.state), "run_id": run.run_id,
                  "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


def clean_env(s3, **extra) -> dict:
    """No MLOPS_ or AIRFLOW settings of the caller; the S3 server's credentials; this venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_", "AWS_"))}
    return {**env, **s3.env(), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def mj(cwd: Path, *args: str, env: dict) -> str:
    result = subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def image_of(project: Path, image: Path, export: str = "pipeline") -> Path:
    """What an image of the project holds: its code and config, none of its runs, cache or outputs."""
    image.mkdir()
    for name in (*(p.name for p in project.glob("*.ipynb")), "params.yaml", export, "data"):
        source = project / name
        if source.is_dir():
            shutil.copytree(source, image / name)
        elif source.exists():
            shutil.copy(source, image / name)
    (image / ".mlops").mkdir()
    shutil.copy(project / ".mlops" / "config.toml", image / ".mlops" / "config.toml")
    return image


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def remote_of(project: Path, s3) -> Remote:
    from mlops_jupyter.core.project import Project

    config = Project(project).config().default_remote()
    return Remote(RemoteConfig(config.name, config.url, config.trusted, config.options))


@pytest.fixture(scope="module")
def wine(tmp_path_factory, s3_server):
    """The example with a conditional deploy and retrain, run once in a real kernel, its export's DAG
    (--io remote) in an image folder, and a default remote on the S3 server."""
    root = tmp_path_factory.mktemp("remote-io") / "proj"
    root.mkdir()
    init_project(root)
    shutil.copy(EXAMPLES / "params.yaml", root / "params.yaml")
    notebook = nbformat.read(EXAMPLES / "wine.ipynb", as_version=4)
    notebook.cells += [new_code_cell(c) for c in DEPLOY]
    nbformat.write(notebook, root / "wine.ipynb")
    assert run_notebook(root / "wine.ipynb", progress=False).error is None
    with RunStore(root / ".mlops" / "runs.db") as store:
        evaluate = store.search(stage="evaluate", limit=1)[0]
    env = clean_env(s3_server)
    mj(root, "remote", "add", "-d", "shared", s3_server.url(f"bucket/remote-io-{uuid.uuid4().hex[:8]}"),
       "--endpoint-url", s3_server.endpoint_url, env=env)
    mj(root, "export", "wine.ipynb", "--to", "airflow", "--io", "remote", "-o", "pipeline", env=env)
    image = image_of(root, root.parent / "image")
    return root, image, {k: evaluate.metrics[k] for k in ("accuracy", "f1_macro")}


def run_dag(image: Path, tmp: Path, s3) -> tuple[dict, str]:
    home = tmp / "airflow-home"
    env = clean_env(s3, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
                    AIRFLOW__CORE__DAGS_FOLDER=str(image / "pipeline"), TMPDIR=str(tmp / "task-tmp"))
    (tmp / "task-tmp").mkdir(exist_ok=True)
    airflow = str(airflow_python().parent / "airflow")
    if not (home / "airflow.db").exists():
        migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
    ran = subprocess.run([str(airflow_python()), "-c", RUN_DAG, str(image / "pipeline"), "wine"], env=env,
                         capture_output=True, text=True, timeout=900, cwd=tmp)
    (tmp / "dag.log").write_text(ran.stdout + ran.stderr)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    return json.loads(ran.stdout.strip().splitlines()[-1]), ran.stdout + ran.stderr


def test_tasks_that_share_only_s3_reproduce_the_notebook_and_restore_the_second_time(wine, tmp_path, s3_server,
                                                                                     monkeypatch):
    for key, value in s3_server.env().items():  # this process reads the remote too
        monkeypatch.setenv(key, value)
    root, image, notebook_metrics = wine
    before = snapshot(image)
    first, log = run_dag(image, tmp_path, s3_server)
    assert first["state"] == "success", log[-4000:]
    assert first["tasks"] == {"prepare": "success", "train": "success", "evaluate": "success", "deploy_when": "success",
                              "deploy": "success", "retrain_when": "skipped", "retrain": "skipped"}
    folders = {line.split("working in ")[1].split(" ")[0] for line in log.splitlines() if "working in " in line}
    assert len(folders) == 4 and all(f.startswith(str(tmp_path / "task-tmp")) for f in folders), log[-3000:]
    assert snapshot(image) == before  # nothing was written where the code is
    assert list((tmp_path / "task-tmp").iterdir()) == []  # each task removed its folder

    remote = remote_of(root, s3_server)
    tasks = pipeline_runs.records(remote, "wine.ipynb", first["run_id"])
    assert [(t.stage, t.restored) for t in tasks] == [(s, False) for s in ("prepare", "train", "evaluate", "deploy")]

    home = tmp_path / "home"  # a machine that saw none of it: the notebook and the config
    image_of(root, home, export="none")
    pulled = mj(home, "pull", "--pipeline", "wine.ipynb", env=clean_env(s3_server))
    assert f"Pipeline run {first['run_id']} of wine.ipynb" in pulled
    assert json.loads((home / "eval" / "metrics.json").read_text()) == notebook_metrics
    assert (home / "deploy" / "model.txt").read_text() == f"RandomForestClassifier {notebook_metrics['accuracy']}"
    with RunStore(home / ".mlops" / "runs.db") as store:
        runs = {s.run.stage: store.get_run(s.run.id) for s in store.search()}
    assert set(runs) == {"prepare", "train", "evaluate", "deploy"}
    assert {r.tags["pipeline_run"] for r in runs.values()} == {first["run_id"]}
    assert runs["evaluate"].metrics["accuracy"] == notebook_metrics["accuracy"]
    assert {(e.upstream_run_id, e.via) for e in runs["evaluate"].lineage} >= {(runs["train"].run.id, "model")}
    entries = remote.entries()

    second, log = run_dag(image, tmp_path, s3_server)
    assert second["state"] == "success" and second["run_id"] != first["run_id"], log[-4000:]
    assert second["tasks"] == first["tasks"]
    again = pipeline_runs.records(remote, "wine.ipynb", second["run_id"])
    assert [(t.stage, t.restored) for t in again] == [(s, True) for s in ("prepare", "train", "evaluate", "deploy")]
    assert [t.run_id for t in again] == [t.run_id for t in tasks]  # the first run's results, not new ones
    assert log.count("restored from run") == 4 and "ran as run" not in log
    assert remote.entries() == entries and snapshot(image) == before


NUMBERS = [
    "import json\nfrom pathlib import Path",
    "%%stage make -d data/in.txt\nnumbers = {int(x) for x in Path('data/in.txt').read_text().split()}  # a set: pickled",
    "%%stage total -m out/m.json\ntotal = sum(numbers)\nPath('out').mkdir(exist_ok=True)\n"
    "Path('out/m.json').write_text(json.dumps({'total': total}))",
    "%%stage report -d out/m.json --when 'metrics.total > 40' -O report.txt\n"
    "Path('report.txt').write_text(f\"{total} {json.loads(Path('out/m.json').read_text())}\")",
    "%%stage alarm --when 'total: metrics.total < 10'\nprint('alarm')",
]


def numbers_project(root: Path, s3, *, trusted: bool = True) -> Path:
    root.mkdir(parents=True)
    init_project(root)
    (root / "data").mkdir()
    (root / "data" / "in.txt").write_text("1 2 3 40\n")
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in NUMBERS]), root / "nb.ipynb")
    mj(root, "remote", "add", "-d", "shared", s3.url(f"bucket/numbers-{uuid.uuid4().hex[:8]}"), "--endpoint-url",
       s3.endpoint_url, "--trusted" if trusted else "--untrusted", env=clean_env(s3))
    return root


def test_pod_commands_of_a_kubernetes_export_run_in_fresh_folders(tmp_path, s3_server):
    root = numbers_project(tmp_path / "proj", s3_server)
    mj(root, "export", "nb.ipynb", "--to", "airflow", "--operator", "kubernetes", "--image", "nb:1", "-o", "pipeline",
       env=clean_env(s3_server))
    image = image_of(root, tmp_path / "image")
    before = snapshot(image)
    bag = subprocess.run([str(airflow_python()), "-c", REPORT, str(image / "pipeline")], capture_output=True, text=True,
                         env={**clean_env(s3_server), "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
                              "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "MLOPS_PIPELINE_PROJECT_DIR": str(image)})
    tasks = json.loads(bag.stdout.strip().splitlines()[-1])["dags"]["nb"]["tasks"]
    order = ["make", "total", "report_when", "report", "alarm_when", "alarm"]
    assert {t: tasks[t]["downstream"] for t in order} == {
        "make": ["total"], "total": ["alarm_when", "report_when"], "report_when": ["report"], "report": [],
        "alarm_when": ["alarm"], "alarm": []}
    codes = {}
    for task in order:
        if codes.get(f"{task}_when") == 99:
            continue  # Airflow skips a stage whose check was skipped
        info = tasks[task]
        assert info["cmds"][0] == "python"
        env = {k: v.replace("{{ run_id }}", "pods-1") for k, v in info["env_vars"].items()}
        fresh = tmp_path / f"pod-{task}"
        fresh.mkdir()  # the pod's working folder: empty
        done = subprocess.run([sys.executable, *info["cmds"][1:]], cwd=fresh, env=clean_env(s3_server, **env),
                              capture_output=True, text=True, timeout=300)
        codes[task] = done.returncode
        assert done.returncode in (0, 99), done.stderr[-3000:]
    assert codes == {"make": 0, "total": 0, "report_when": 0, "report": 0, "alarm_when": 99}
    assert snapshot(image) == before
    home = tmp_path / "home"
    image_of(root, home, export="none")
    mj(home, "pull", "--pipeline", "nb.ipynb", "--run", "pods-1", env=clean_env(s3_server))
    assert (home / "report.txt").read_text() == "46 {'total': 46}"


def run_task(image: Path, stage: str, s3, run: str, cwd: Path):
    return subprocess.run([sys.executable, str(image / "pipeline" / "stages" / f"{stage}.py")], cwd=cwd,
                          env=clean_env(s3, MLOPS_IO="remote", MLOPS_PIPELINE_RUN=run), capture_output=True, text=True,
                          timeout=300)


def test_pickles_from_an_untrusted_remote_are_never_loaded(tmp_path, s3_server):
    root = numbers_project(tmp_path / "proj", s3_server, trusted=False)
    mj(root, "export", "nb.ipynb", "--to", "airflow", "--io", "remote", "-o", "pipeline", env=clean_env(s3_server))
    image = image_of(root, tmp_path / "image")
    assert run_task(image, "make", s3_server, "r", tmp_path).returncode == 0
    refused = run_task(image, "total", s3_server, "r", tmp_path)
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("stage 'total': the result of 'make' is not loaded: it was pulled from remote 'shared', "
                           "which is not trusted, and holds pickled variables (numbers)"), refused.stderr


def test_a_task_without_what_it_needs_says_so_in_one_line(tmp_path, s3_server):
    root = numbers_project(tmp_path / "proj", s3_server)
    mj(root, "export", "nb.ipynb", "--to", "airflow", "--io", "remote", "-o", "pipeline", env=clean_env(s3_server))
    image = image_of(root, tmp_path / "image")
    early = run_task(image, "total", s3_server, "r", tmp_path)  # before make ran
    assert early.returncode == 1
    assert early.stderr.strip().splitlines()[-1] == (
        "stage 'total': remote 'shared' has no result of stage 'make' for pipeline run 'r': run 'make' first")
    (image / "data" / "in.txt").unlink()
    missing = run_task(image, "make", s3_server, "r", tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("stage 'make': dep data/in.txt is neither in the image")
    no_run = subprocess.run([sys.executable, str(image / "pipeline" / "stages" / "make.py")], cwd=tmp_path,
                            env=clean_env(s3_server, MLOPS_IO="remote"), capture_output=True, text=True, timeout=300)
    assert no_run.returncode == 1 and "MLOPS_PIPELINE_RUN is not set" in no_run.stderr.strip().splitlines()[-1]

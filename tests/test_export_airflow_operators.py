"""`export --to airflow --operator bash|kubernetes|docker`, loaded by the real Airflow (its own venv, with
the cncf-kubernetes and docker providers): operators, images, resources, edges, trigger rules,
schedules, retries and timeouts as the stage lines and the project's config say. And the stage flags
behind them, each bad one a one-line error.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.cli import main
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.spec import SpecError, parse_stage_line
from mlops_jupyter.export import ExportError, export_notebook

AIRFLOW_PYTHON = Path(os.environ.get("MLOPS_TEST_AIRFLOW_PYTHON", Path(__file__).parent.parent / ".venv-airflow/bin/python"))

CELLS = [
    "import json\nfrom pathlib import Path",
    "%%stage make -d data/in.txt --resources cpu=500m,memory=1Gi --retries 2 --retry-delay 30s --timeout 1h30m "
    "--desc 'Read the numbers'\nnumbers = [int(x) for x in Path('data/in.txt').read_text().split()]",
    "%%stage total -m out/m.json --resources cpu=2,memory=4Gi,gpu=1\n'''Add them up.'''\ntotal = sum(numbers)\n"
    "Path('out').mkdir(exist_ok=True)\nPath('out/m.json').write_text(json.dumps({'total': total}))",
    "%%stage report -d out/m.json --when 'total: metrics.total > 40' --trigger-rule all_done -O report.txt\n"
    "Path('report.txt').write_text(f'{total}')",
    "%%stage alarm --when 'metrics.total < 10'\nprint('alarm', total)",
    "%%stage tidy --after report --after alarm --trigger-rule none_failed_min_one_success\nprint('done')",
]

REPORT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v)[-800:] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    tasks = {}
    for t in dag.tasks:
        info = {"operator": type(t).__name__, "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                "retries": t.retries, "retry_delay": t.retry_delay.total_seconds(),
                "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "doc_md": t.doc_md, "downstream": sorted(t.downstream_task_ids),
                "skip": sorted(getattr(t, "skip_on_exit_code", None) or [])}
        for attr in ("image", "namespace", "cmds", "command", "bash_command", "cpus", "mem_limit", "environment", "env"):
            if hasattr(t, attr):
                info[attr] = getattr(t, attr)
        if hasattr(t, "env_vars"):
            env = t.env_vars
            info["env_vars"] = {e.name: e.value for e in env} if isinstance(env, list) else env
        if getattr(t, "container_resources", None) is not None:
            info["resources"] = {"requests": t.container_resources.requests, "limits": t.container_resources.limits}
        if getattr(t, "device_requests", None):
            info["gpus"] = [d["Count"] for d in t.device_requests]
        tasks[t.task_id] = info
    out["dags"][dag_id] = {"schedule": None if dag.schedule is None else str(dag.schedule), "tasks": tasks}
print(json.dumps(out, default=str))
"""


def airflow_python():
    if not AIRFLOW_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Airflow's venv {AIRFLOW_PYTHON} is missing: .ci/run builds it")
        pytest.skip(f"Airflow's venv {AIRFLOW_PYTHON} is missing (bash .ci/run builds it)")
    return AIRFLOW_PYTHON


def dagbag(folder: Path, tmp_path: Path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_"))}
    result = subprocess.run([str(airflow_python()), "-c", REPORT, str(folder)], capture_output=True, text=True, timeout=300,
                            env={**clean, "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
                                 "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    init_project(root)
    (root / "data").mkdir()
    (root / "data" / "in.txt").write_text("1 2 3 40\n")
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), root / "nb.ipynb")
    return root


def cli_export(project: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(project), "export", str(project / "nb.ipynb"), "--to", "airflow",
                                     "-o", str(project / "pipeline"), *args])


EDGES = {"make": ["total"], "total": ["alarm_when", "report_when"], "report_when": ["report"], "report": ["tidy"],
         "alarm_when": ["alarm"], "alarm": ["tidy"], "tidy": []}


def common_checks(dag: dict) -> dict:
    """What every operator kind shares: tasks, edges, trigger rules, retries, timeouts, docs."""
    tasks = dag["tasks"]
    assert {t: info["downstream"] for t, info in tasks.items()} == EDGES
    rules = {t: info["trigger_rule"] for t, info in tasks.items()}
    # the check of --when takes the stage's trigger rule; the stage then runs only if the check passed
    assert rules == {"make": "all_success", "total": "all_success", "report_when": "all_done", "report": "all_success",
                     "alarm_when": "all_success", "alarm": "all_success", "tidy": "none_failed_min_one_success"}
    assert {t: info["skip"] for t, info in tasks.items() if info["skip"]} == {"report_when": [99], "alarm_when": [99]}
    assert (tasks["make"]["retries"], tasks["make"]["retry_delay"], tasks["make"]["timeout"]) == (2, 30.0, 5400.0)
    assert (tasks["total"]["retries"], tasks["total"]["retry_delay"], tasks["total"]["timeout"]) == (1, 120.0, None)
    assert tasks["make"]["doc_md"] == "Stage `make` of nb.ipynb (cell 2). Read the numbers. Passes on numbers."
    assert tasks["total"]["doc_md"].startswith("Stage `total` of nb.ipynb (cell 3). Add them up. Reads numbers (from make).")
    assert "`total` matches `metrics.total < 10`" in tasks["alarm_when"]["doc_md"]  # the one upstream, unnamed
    return tasks


def test_kubernetes_pods_of_the_image_with_resources_and_a_schedule(project, tmp_path):
    (project / ".mlops" / "config.toml").write_text('[export]\nnamespace = "ml"\n[export.resources]\ntidy = "cpu=250m"\n')
    result = cli_export(project, "--operator", "kubernetes", "--io", "local", "--image", "registry.example/nb:7",
                        "--schedule", "0 3 * * *", "--retries", "1", "--retry-delay", "2m")
    assert result.exit_code == 0, result.output
    bag = dagbag(project / "pipeline", tmp_path)
    assert bag["errors"] == {} and list(bag["dags"]) == ["nb"]
    assert bag["dags"]["nb"]["schedule"] == "0 3 * * *"
    tasks = common_checks(bag["dags"]["nb"])
    assert {info["operator"] for info in tasks.values()} == {"KubernetesPodOperator"}
    assert {(info["image"], info["namespace"]) for info in tasks.values()} == {("registry.example/nb:7", "ml")}
    assert tasks["make"]["cmds"] == ["python", "/project/pipeline/stages/make.py"]
    assert tasks["alarm_when"]["cmds"] == ["python", "-m", "mlops_jupyter.export.gate", "/project/pipeline/stages/alarm.py"]
    assert tasks["make"]["env_vars"] == {"MLOPS_IO": "local", "MLOPS_PIPELINE_RUN": "{{ run_id }}"}
    assert tasks["make"]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert tasks["total"]["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                           "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"}}
    assert tasks["tidy"]["resources"] == {"requests": {"cpu": "250m"}, "limits": {}}  # from [export.resources]
    assert "resources" not in tasks["report"] and "resources" not in tasks["report_when"]


def test_docker_containers_of_the_image_with_cpus_and_memory(project, tmp_path):
    (project / ".mlops" / "config.toml").write_text('[export]\nimage = "nb:latest"\n[core]\nremote = "s"\n'
                                                      '[remote.s]\nurl = "s3://bucket/p"\n')
    result = cli_export(project, "--operator", "docker", "--schedule", "@daily", "--retries", "1", "--retry-delay", "120")
    assert result.exit_code == 0, result.output
    bag = dagbag(project / "pipeline", tmp_path, AWS_ACCESS_KEY_ID="worker-key")
    assert bag["errors"] == {}
    assert bag["dags"]["nb"]["schedule"] == "@daily"
    tasks = common_checks(bag["dags"]["nb"])
    assert {(info["operator"], info["image"]) for info in tasks.values()} == {("DockerOperator", "nb:latest")}
    assert tasks["total"]["command"] == ["python", "/project/pipeline/stages/total.py"]
    assert tasks["make"]["environment"] == {"MLOPS_IO": "remote", "MLOPS_PIPELINE_RUN": "{{ run_id }}"}  # remote: the default
    assert (tasks["make"]["cpus"], tasks["make"]["mem_limit"]) == (0.5, "1g")
    assert (tasks["total"]["cpus"], tasks["total"]["mem_limit"], tasks["total"]["gpus"]) == (2.0, "4g", [1])


def test_bash_stays_the_default_and_reads_the_same_flags(project, tmp_path):
    result = cli_export(project, "--retries", "1", "--retry-delay", "2m")
    assert result.exit_code == 0, result.output
    bag = dagbag(project / "pipeline", tmp_path)
    assert bag["errors"] == {} and bag["dags"]["nb"]["schedule"] is None
    tasks = common_checks(bag["dags"]["nb"])
    assert {info["operator"] for info in tasks.values()} == {"BashOperator"}
    python = sys.executable
    assert tasks["make"]["bash_command"] == f"{python} stages/make.py"
    assert tasks["report_when"]["bash_command"] == f"{python} -m mlops_jupyter.export.gate stages/report.py"
    assert tasks["make"]["env"] == {"MLOPS_IO": "local", "MLOPS_PIPELINE_RUN": "{{ run_id }}"}
    dag = (project / "pipeline" / "nb_dag.py").read_text()
    config = dag.split("# --- configuration", 1)[1].split("# --- end of configuration", 1)[0]
    assert "PYTHON = " in config and "ENV = " in config
    assert "def " not in dag and "for " not in dag.split("with DAG(", 1)[1]  # declarative: one call per task


@pytest.mark.parametrize("args, config, message", [
    (["--operator", "kubernetes"], "", "--operator kubernetes needs the image its tasks run in: pass --image IMAGE"),
    (["--io", "remote"], "", "--io remote passes data through the project's default remote, and there is none"),
    (["--schedule", "every day"], "", "--schedule 'every day' is neither a preset"),
    (["--retry-delay", "soon"], "", "--retry-delay 'soon' is no duration"),
    ([], '[export]\nresources = "cpu=2"\n', "[export.resources] maps stage names"),
    ([], '[export.resources]\nmake = "cpu=lots"\n', "export.resources.make: cpu='lots' is no quantity"),
    ([], '[export]\nimages = "x"\n', "unknown setting export.images"),
])
def test_bad_export_options_are_one_line_errors(project, args, config, message):
    (project / ".mlops" / "config.toml").write_text(config)
    result = cli_export(project, *args)
    assert result.exit_code != 0
    assert message in result.output and result.output.count("\n") == 1, result.output


def test_options_of_airflow_only_are_refused_for_dvc(project):
    result = CliRunner().invoke(main, ["export", str(project / "nb.ipynb"), "--to", "dvc", "--operator", "kubernetes"])
    assert result.exit_code == 2 and "are options of --to airflow" in result.output


def test_an_image_export_must_lie_in_the_project(project, tmp_path):
    with pytest.raises(ExportError, match=r"the image holds the project .* export into the project"):
        export_notebook(project / "nb.ipynb", "airflow", tmp_path / "elsewhere", operator="docker", image="x", io="local")


def test_a_condition_without_its_stage_needs_one_upstream(tmp_path):
    path = tmp_path / "nb.ipynb"
    cells = ["%%stage a\nx = 1", "%%stage b\ny = 2", "%%stage c --when 'metrics.m > 1'\nz = x + y"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    with pytest.raises(ExportError, match=r"^stage 'c' runs --when 'metrics.m > 1', but its upstream stages are a, b: "
                                          r"name the stage whose run it reads, --when 'STAGE: metrics.m > 1'$"):
        export_notebook(path, "airflow")


def test_a_gate_name_taken_by_a_stage_is_refused(tmp_path):
    path = tmp_path / "nb.ipynb"
    cells = ["%%stage a\nx = 1", "%%stage b --when 'a: metrics.m > 1'\ny = x", "%%stage b_when\nz = 3"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    with pytest.raises(ExportError, match="stage b_when has the name of the task that checks --when of stage 'b'"):
        export_notebook(path, "airflow")


def test_a_named_condition_stage_is_an_edge_of_the_pipeline():
    from mlops_jupyter.core.graph import GraphError, build

    cells = ["%%stage evaluate\nm = 1", "%%stage deploy --when 'evaluate: metrics.accuracy > 0.9'\nprint('go')"]
    pipeline = build(new_notebook(cells=[new_code_cell(c) for c in cells]))
    assert [(e.upstream, e.downstream) for e in pipeline.edges] == [("evaluate", "deploy")]
    with pytest.raises(GraphError, match="'nope' is not a stage of this notebook"):
        build(new_notebook(cells=[new_code_cell("%%stage d --when 'nope: metrics.a > 1'\nx = 1")]))


def test_stage_flags_for_the_exported_task():
    spec = parse_stage_line("deploy --resources memory=4Gi,cpu=2 --when 'evaluate: metrics.accuracy > 0.9' "
                            "--trigger-rule all_done --retry-delay 1h30m --timeout 90")
    assert spec.resources == (("cpu", "2"), ("memory", "4Gi"))
    assert (spec.when.stage, spec.when.expr) == ("evaluate", "metrics.accuracy > 0.9")
    assert (spec.trigger_rule, spec.retry_delay, spec.timeout) == ("all_done", 5400, 90)
    assert parse_stage_line("x --when \"tags.kind = 'a:b'\"").when.stage is None  # a colon in a value names no stage


@pytest.mark.parametrize("flags, message", [
    ("--resources cpu=two", "--resources: cpu='two' is no quantity; write 2 or 500m"),
    ("--resources disk=1", "write NAME=QUANTITY pairs of cpu, memory, gpu"),
    ("--resources cpu=1,cpu=2", "cpu is given twice"),
    ("--when 'metrics.a >'", "--when 'metrics.a >': expected a number or a quoted string"),
    ("--when 'evaluate:'", "--when needs an expression"),
    ("--trigger-rule maybe", "--trigger-rule 'maybe' is not one of Airflow's: all_success"),
    ("--timeout 5x", "--timeout '5x' is no duration"),
    ("--timeout 0", "--timeout must be longer than 0s"),
    ("--retry-delay -1", "--retry-delay '-1' is no duration"),
])
def test_bad_task_flags_are_one_line_errors(flags, message):
    with pytest.raises(SpecError) as raised:
        parse_stage_line(f"s {flags}")
    assert message in str(raised.value) and "\n" not in str(raised.value), raised.value


def test_a_bad_task_flag_in_the_notebook_is_a_usage_error_and_runs_nothing(shell):
    result = shell.run_cell("%%stage s --trigger-rule sometimes\nran = True")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "--trigger-rule 'sometimes'" in str(result.error_in_exec) and "ran" not in shell.user_ns

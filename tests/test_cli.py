"""The CLI through click's CliRunner, on real stores."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mlops_jupyter.cli import main
from mlops_jupyter.core.store import RunStore


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def two_runs(store, env):
    ids = []
    for i, (n, rmse) in enumerate(((100, 0.7), (200, 0.6))):
        run = store.create_run("exp", environment=env, stage="train", code="x = 1\n", start_time=1_700_000_000_000 + i)
        store.log_params(run.id, {"n_est": n, "seed": 1})
        store.log_metric_points([(run.id, "rmse", s, rmse + 0.1 * (2 - s), 1) for s in range(3)])
        store.set_tags(run.id, {"owner": "<img src=x onerror=alert(1)>"})
        store.end_run(run.id, "finished", end_time=1_700_000_002_500 + i)
        ids.append(run.id)
    return ids


def invoke(runner, *args):
    result = runner.invoke(main, list(args), catch_exceptions=False)
    return result


def test_init(runner, tmp_path):
    result = invoke(runner, "init", str(tmp_path / "p"))
    assert result.exit_code == 0 and "Initialized" in result.output
    assert (tmp_path / "p" / ".mlops" / "runs.db").exists()
    again = invoke(runner, "init", str(tmp_path / "p"))
    assert "Already initialized" in again.output


def test_runs_ls_table(runner, project, two_runs):
    result = invoke(runner, "runs", "ls")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["run", "experiment", "stage", "status", "started", "duration",
                                "metrics.rmse", "params.n_est", "params.seed"]
    assert lines[2].split()[0] == two_runs[1][:8]  # newest first
    assert "0.6" in lines[2] and "2.5s" in lines[2]


def test_runs_ls_json_and_csv(runner, project, two_runs):
    records = json.loads(invoke(runner, "runs", "ls", "--json").output)
    assert [r["run_id"] for r in records] == two_runs[::-1]
    assert records[0]["params"] == {"n_est": 200, "seed": 1} and records[0]["metrics"] == {"rmse": 0.6}
    rows = list(csv.DictReader(io.StringIO(invoke(runner, "runs", "ls", "--csv").output)))
    assert rows[1]["run_id"] == two_runs[0] and rows[1]["params.n_est"] == "100"
    assert rows[0]["tags.owner"] == "<img src=x onerror=alert(1)>"


def test_runs_ls_filters(runner, project, two_runs):
    out = invoke(runner, "runs", "ls", "--json", "-f", "metrics.rmse < 0.65").output
    assert [r["run_id"] for r in json.loads(out)] == [two_runs[1]]
    out = invoke(runner, "runs", "ls", "--json", "--stage", "evaluate").output
    assert json.loads(out) == []
    out = invoke(runner, "runs", "ls", "--json", "-S", "params.n_est").output
    assert [r["run_id"] for r in json.loads(out)] == two_runs
    result = invoke(runner, "runs", "ls", "-n", "1")
    assert "… 1 more runs; --limit 0 shows all" in result.output
    assert invoke(runner, "runs", "ls", "-f", "params.n_est = 5").output.strip() == "No runs match."


def test_runs_ls_without_a_store(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLOPS_JUPYTER_DIR", raising=False)
    result = invoke(runner, "runs", "ls")
    assert result.exit_code == 0 and "No runs yet" in result.output and "%%stage" in result.output
    assert not (tmp_path / ".mlops").exists()  # reading creates nothing


def test_runs_show(runner, project, two_runs, store):
    result = invoke(runner, "runs", "show", two_runs[0][:6])
    assert result.exit_code == 0
    assert f"Run {two_runs[0]}" in result.output
    assert "n_est" in result.output and "rmse" in result.output and "x = 1" in result.output
    detail = json.loads(invoke(runner, "runs", "show", two_runs[0], "--json").output)
    assert detail["metric_steps"] == {"rmse": 3} and detail["environment"]["python"].startswith("3.")


def test_runs_diff(runner, project, two_runs):
    result = invoke(runner, "runs", "diff", two_runs[0], two_runs[1])
    lines = result.output.splitlines()
    assert lines[0].split() == [two_runs[0][:8], two_runs[1][:8], "change"]
    body = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert body == {"params.n_est": ["100", "200", "+100"], "metrics.rmse": ["0.7", "0.6", "-0.1"]}
    everything = invoke(runner, "runs", "diff", two_runs[0], two_runs[1], "--all").output
    assert "params.seed" in everything
    data = json.loads(invoke(runner, "runs", "diff", two_runs[0], two_runs[1], "--json").output)
    assert [r["key"] for r in data["rows"]] == ["params.n_est", "metrics.rmse"]
    same = invoke(runner, "runs", "diff", two_runs[0], two_runs[0]).output
    assert "No differences" in same


@pytest.mark.parametrize(
    "args, message",
    [
        (["runs", "show", "ffffffff"], "Error: no run 'ffffffff'"),
        (["runs", "diff", "ffff", "eeee"], "Error: no run 'ffff'"),
        (["runs", "ls", "-f", "metrics.rmse <"], "Error: expected a number or a quoted string"),
        (["runs", "ls", "-f", "params.x = '1'; DROP TABLE runs --"], "Error: unexpected ';'"),
        (["runs", "ls", "-S", "metrics.x sideways"], "Error: cannot sort by"),
        (["runs", "ls", "--json", "--csv"], "Error: choose one of --json and --csv"),
    ],
)
def test_errors_are_one_line(runner, project, two_runs, args, message):
    result = runner.invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([l for l in result.output.splitlines() if l.startswith("Error")]) == 1


def test_ambiguous_prefix(runner, project, store, env):
    ids = [store.create_run("e", environment=env).id for _ in range(17)]
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)  # pigeonhole
    result = runner.invoke(main, ["runs", "show", shared])
    assert result.exit_code == 1 and f"run id '{shared}' is ambiguous; give more characters" in result.output


def test_corrupt_store_is_a_cli_error(runner, project):
    project.db_path.write_bytes(b"garbage" * 100)
    result = runner.invoke(main, ["runs", "ls"])
    assert result.exit_code == 1 and "not a readable SQLite database" in result.output


def _commands(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_and_option_has_help_and_is_in_the_readme(runner):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for path, command in _commands(main):
        assert command.help, f"{' '.join(path)} has no help"
        assert runner.invoke(main, [*path, "--help"]).exit_code == 0
        assert f"mlops-jupyter {' '.join(path)}" in readme, f"README does not document {' '.join(path)}"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{' '.join(path)} {param.opts[0]} has no help"


@pytest.mark.parametrize("args", [["--help"], ["runs", "ls"], ["runs", "ls", "--json"]])
def test_start_up_imports_neither_pandas_nor_ipython(project, two_runs, args):
    code = (
        "import sys\nfrom mlops_jupyter.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('pandas', 'numpy', 'IPython') if m in sys.modules), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True)
    assert "HEAVY []" in result.stderr, result.stderr


def test_huge_values_are_shortened_in_tables(runner, store, env):
    run = store.create_run("exp", environment=env, stage="train")
    store.log_params(run.id, {"blob": "x" * 10_000_000})
    store.set_tags(run.id, {"note": "y" * 1_000_000})
    store.end_run(run.id, "finished")
    listing = invoke(runner, "runs", "ls")
    assert listing.exit_code == 0 and len(listing.output) < 2_000
    assert "xxx…" in listing.output
    shown = invoke(runner, "runs", "show", run.id[:8])
    assert shown.exit_code == 0 and len(shown.output) < 20_000
    assert "10,000,000 characters; --json shows all" in shown.output
    assert len(invoke(runner, "runs", "ls", "--json").output) > 10_000_000  # programs get it whole


def test_a_killed_run_without_metrics_has_no_made_up_duration(runner, store, env):
    dead = env.__class__(**{**env.__dict__, "pid": 2**22 + 12345, "pid_start_time": 1.0})
    run = store.create_run("exp", environment=dead, stage="train")
    assert store.recover_killed_runs() == [run.id]
    row = [line for line in invoke(runner, "runs", "ls").output.splitlines() if line.startswith(run.id[:8])][0]
    assert "killed" in row and "—" in row and "0ms" not in row


def test_runs_ls_from_a_parent_folder_names_the_projects_below(tmp_path, monkeypatch):
    from mlops_jupyter.core.project import init_project

    project, _ = init_project(tmp_path / "work" / "wine")
    RunStore(project.db_path).close()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLOPS_JUPYTER_DIR", raising=False)
    result = invoke(CliRunner(), "runs", "ls")
    assert "projects below it: work/wine" in result.output and "-C work/wine" in result.output

"""Experiments: one row per pipeline result, with every param and metric of its lineage.

End to end in real kernels (nbclient): the example notebook with two param changes, and a 4-stage
pipeline with two branches; then the rows, filters and sorts of the SQL view against a plain-Python
reference computed from the same store's tables; the CLI (a real process) and ``%mlops exp`` in a
real shell.
"""

import json
import math
import random
import shutil
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.core import experiments
from mlops_jupyter.core.errors import FilterError
from mlops_jupyter.core.models import LineageEdge
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.core.values import decode_param
from mlops_jupyter.execute import run_notebook

EXAMPLES = Path(__file__).parent.parent / "examples"
CLI = [str(Path(sys.executable).with_name("mlops-jupyter"))]
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def statuses(result):
    assert result.error is None, result.error
    return {o.stage: o.status for o in result.outcomes}


def cli(*args, cwd, check=True):
    done = subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


# --- the example notebook ----------------------------------------------------------------------


@pytest.fixture
def wine(project, tmp_path):
    """examples/wine.ipynb run three times in fresh kernels: train.n_est 300, then 150, then 200,
    plus a cell that reads mj.experiments() and one that runs %mlops exp show."""
    shutil.copy(EXAMPLES / "params.yaml", project.root / "params.yaml")
    nb = nbformat.read(EXAMPLES / "wine.ipynb", as_version=4)
    nb.cells.append(new_code_cell(
        "frame = mj.experiments()\n"
        "print(json.dumps(frame[['run_id', 'params.train.n_est', 'metrics.accuracy']].to_dict('records')))"
    ))
    nb.cells.append(new_code_cell("%mlops exp show --only-changed"))
    path = project.root / "wine.ipynb"
    nbformat.write(nb, path)
    results = []
    for n_est in (300, 150, 200):
        out = tmp_path / f"wine-{n_est}.ipynb"
        results.append((run_notebook(path, overrides={"train.n_est": n_est}, output=out, progress=False), out))
    return path, results


def last_outputs(path: Path) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in cells[-2:]]


def test_wine_three_param_values_give_three_experiments(project, wine, tmp_path):
    path, results = wine
    assert [statuses(r) for r, _ in results] == [
        {"prepare": "ran", "train": "ran", "evaluate": "ran"},
        {"prepare": "restored", "train": "ran", "evaluate": "ran"},
        {"prepare": "restored", "train": "ran", "evaluate": "ran"},
    ]
    with RunStore(project.db_path) as store:
        rows = experiments.page(store).experiments()
        (prepare,) = store.search(stage="prepare")  # restored twice: still one run
        trains = {s.params["train.n_est"]: s for s in store.search(stage="train")}
        evaluates = {s.run.id: s for s in store.search(stage="evaluate")}
    assert [e.run.stage for e in rows] == ["evaluate"] * 3  # the sink's runs, newest first
    assert [e.params["train.n_est"] for e in rows] == [200, 150, 300]
    for e in rows:
        own = evaluates[e.run.id]
        train = trains[e.params["train.n_est"]]
        assert e.metrics["accuracy"] == own.metrics["accuracy"] and e.metrics["f1_macro"] == own.metrics["f1_macro"]
        assert e.metrics["cv_accuracy"] == train.metrics["cv_accuracy"]  # an upstream metric, its own name
        assert e.params["prepare.seed"] == 7 and e.params["train.max_depth"] == 4
        # The restored prepare made no run: every experiment points at the run it was restored from.
        assert [(u.stage, u.run_id) for u in e.upstream] == [("train", train.run.id), ("prepare", prepare.run.id)]

    # The same rows in the kernel, through mj.experiments() and %mlops exp show.
    frame_json, shown = last_outputs(results[-1][1])
    frame = json.loads(frame_json)
    assert [(r["run_id"], r["params.train.n_est"], r["metrics.accuracy"]) for r in frame] == [
        (e.run.id, e.params["train.n_est"], e.metrics["accuracy"]) for e in rows]
    header = shown.splitlines()[0].split()
    assert header[:4] == ["run", "stage", "status", "started"] and "params.train.n_est" in header
    assert "params.prepare.seed" not in header  # --only-changed: the same in every row
    assert len(shown.strip().splitlines()) == 2 + 3

    # n_est back to 300: train and evaluate are restored, and no experiment row is added.
    again = run_notebook(path, overrides={"train.n_est": 300}, output=tmp_path / "again.ipynb", progress=False)
    assert statuses(again) == {"prepare": "restored", "train": "restored", "evaluate": "restored"}
    with RunStore(project.db_path) as store:
        assert experiments.count(store) == 3

    # exp diff: the lineage's params side by side, the metric deltas.
    a, b = rows[2], rows[1]  # n_est 300 and 150
    diff = json.loads(cli("exp", "diff", a.run.id[:10], b.run.id[:10], "--json", cwd=project.root).stdout)
    changes = {r["key"]: r for r in diff["rows"]}
    assert changes["params.train.n_est"] == {"key": "params.train.n_est", "a": 300, "b": 150, "change": -150}
    if "metrics.accuracy" in changes:
        assert changes["metrics.accuracy"]["change"] == pytest.approx(b.metrics["accuracy"] - a.metrics["accuracy"])
    assert "params.prepare.seed" not in changes  # changed rows only
    assert diff["upstream"]["a"][1] == {"run_id": prepare.run.id, "stage": "prepare"}
    table = cli("exp", "diff", a.run.id[:10], b.run.id[:10], cwd=project.root).stdout
    assert "params.train.n_est" in table and "-150" in table


# --- a 4-stage pipeline with two branches ------------------------------------------------------

BRANCHES = {
    "prepare": "%%stage prepare -p prepare\n"
               "data = list(range(params.prepare.n))\n"
               "mj.log_metric('rows', len(data))",
    "train_a": "%%stage train_a -p train_a\n"
               "model_a = sum(data) * params.train_a.k\n"
               "mj.log_metric('accuracy', 1 / (1 + model_a))",
    "train_b": "%%stage train_b -p train_b -o model_b.txt\n"
               "model_b = sum(data) + params.train_b.k\n"
               "Path('model_b.txt').write_text(str(model_b))\n"
               "mj.log_metric('accuracy', 1 / (1 + model_b))",
    "compare": "%%stage compare -p compare -d model_b.txt\n"
               "best = max(model_a, int(Path('model_b.txt').read_text())) * params.compare.scale\n"
               "mj.log_metric('accuracy', 1 / (1 + best))\n"
               "mj.log_param('winner', 'a' if model_a >= model_b else 'b')",
}


def run_branches(root: Path, out: Path):
    """prepare → train_a, train_b → compare (train_b's model also through a file), run three times in
    fresh kernels: as is, with train_a.k 3, then with train_b.k 7 (train_a.k back to 2: restored)."""
    (root / "params.yaml").write_text("prepare:\n  n: 10\ntrain_a:\n  k: 2\ntrain_b:\n  k: 5\ncompare:\n  scale: 1.5\n")
    cells = [new_code_cell("%load_ext mlops_jupyter\nfrom pathlib import Path\nimport mlops_jupyter as mj")]
    cells += [new_code_cell(source) for source in BRANCHES.values()]
    path = root / "branches.ipynb"
    nbformat.write(new_notebook(cells=cells, metadata=KERNEL), path)
    return path, [run_notebook(path, overrides=overrides, output=out / f"b{i}.ipynb", progress=False)
                  for i, overrides in enumerate(({}, {"train_a.k": 3}, {"train_b.k": 7}))]


@pytest.fixture
def branches(project, tmp_path):
    return run_branches(project.root, tmp_path)


def test_two_branches_join_in_one_row_per_result(project, branches):
    _, results = branches
    assert [statuses(r) for r in results] == [
        dict.fromkeys(BRANCHES, "ran"),
        {"prepare": "restored", "train_a": "ran", "train_b": "restored", "compare": "ran"},
        {"prepare": "restored", "train_a": "restored", "train_b": "ran", "compare": "ran"},
    ]  # the third restores the first train_a run (k back to 2)
    with RunStore(project.db_path) as store:
        rows = experiments.page(store, order_by="start_time").experiments()
        runs = {stage: store.search(stage=stage, order_by="start_time") for stage in BRANCHES}
        assert experiments.columns(store) == {
            "params": ["compare.scale", "prepare.n", "train_a.k", "train_b.k", "winner"],
            "metrics": ["accuracy", "rows", "train_a/accuracy", "train_b/accuracy"],
        }
        assert experiments.sink_stages(store) == ["compare"]
    assert [len(runs[s]) for s in BRANCHES] == [1, 2, 2, 3]
    assert [e.run.id for e in rows] == [s.run.id for s in runs["compare"]]
    picks = [(0, 0), (1, 0), (0, 1)]  # the train_a and train_b runs of each result: restored ones reused
    for e, (a, b), own in zip(rows, picks, runs["compare"]):
        train_a, train_b = runs["train_a"][a], runs["train_b"][b]
        assert (e.params["train_a.k"], e.params["train_b.k"], e.params["prepare.n"]) == (
            train_a.params["train_a.k"], train_b.params["train_b.k"], 10)
        # accuracy is logged by three stages of the lineage: the result keeps the plain name.
        assert e.metrics == {
            "accuracy": own.metrics["accuracy"],
            "train_a/accuracy": train_a.metrics["accuracy"],
            "train_b/accuracy": train_b.metrics["accuracy"],
            "rows": 10.0,
        }
        assert {u.run_id for u in e.upstream} == {train_a.run.id, train_b.run.id, runs["prepare"][0].run.id}
    assert [e.params["train_a.k"] for e in rows] == [2, 3, 2] and [e.params["train_b.k"] for e in rows] == [5, 5, 7]

    # Any run has an experiment view: a branch's own, through its stage.
    with RunStore(project.db_path) as store:
        (first_a, second_a) = experiments.page(store, stage="train_a", order_by="start_time").experiments()
        assert first_a.metrics == {"accuracy": runs["train_a"][0].metrics["accuracy"], "rows": 10.0}
        assert [u.stage for u in second_a.upstream] == ["prepare"]
        assert experiments.get(store, runs["prepare"][0].run.id).upstream == ()


# --- the SQL view against a plain-Python reference ----------------------------------------------


def synthetic(store, env, count: int = 60, seed: int = 3) -> None:
    """Executions of s1 → s2 → s3 (s3 also reading s1) in another notebook, with what makes names
    and values tricky: a param two stages hold with different values, a metric three stages log, a
    stage that sometimes restored (its consumers point at an older run), NaN and missing values,
    failed sinks, runs without a stage; and a cycle that must not hang."""
    rng = random.Random(seed)
    t = 1_800_000_000_000
    s1 = None
    for i in range(count):
        t += 1000
        if s1 is None or rng.random() < 0.6:  # else restored: s2 reads the older s1 run
            s1 = store.create_run("syn", environment=env, stage="s1", notebook="syn.ipynb", start_time=t)
            store.log_params(s1.id, {"seed": rng.randrange(3), "size": rng.choice([0.1, 0.25, 0.5])})
            store.log_metric_points([(s1.id, "score", 0, rng.random(), t)])
            store.end_run(s1.id, "finished", end_time=t + 10)
        s2 = store.create_run("syn", environment=env, stage="s2", notebook="syn.ipynb", start_time=t + 20)
        store.add_lineage(s2.id, [LineageEdge(s1.id, "data", "variable")])
        store.log_params(s2.id, {"seed": rng.randrange(3), "lr": rng.choice([0.01, 0.1, 1e-3]),
                                 "kind": rng.choice(["rf", "gbm", "lin"])})
        if rng.random() < 0.8:
            store.log_metric_points([(s2.id, "score", 0, rng.random(), t), (s2.id, "loss", 0, rng.random(), t)])
        if rng.random() < 0.3:
            store.set_tags(s2.id, {"note": "upstream tag"})
        store.end_run(s2.id, "finished", end_time=t + 30)
        s3 = store.create_run("syn" if i % 5 else "other", environment=env, stage="s3", notebook="syn.ipynb",
                              start_time=t + 40)
        store.add_lineage(s3.id, [LineageEdge(s2.id, "model", "variable"), LineageEdge(s1.id, "data.csv", "file")])
        if rng.random() < 0.9:
            value = float("nan") if rng.random() < 0.1 else rng.random()
            store.log_metric_points([(s3.id, "score", 0, value, t), (s3.id, "f1", 0, rng.random(), t)])
        if rng.random() < 0.5:
            store.log_params(s3.id, {"threshold": rng.randrange(10)})
        store.set_tags(s3.id, {"owner": rng.choice(["ana", "bo"])})
        store.end_run(s3.id, "failed" if rng.random() < 0.15 else "finished", end_time=t + 50 + i)
    for i in range(3):  # runs of scripts: no stage, each its own experiment
        run = store.create_run("syn", environment=env, start_time=t + 100 + i)
        store.log_params(run.id, {"lr": 0.5 * i})
        store.log_metric_points([(run.id, "score", 0, 0.3 * i, t)])
        store.end_run(run.id, "finished", end_time=t + 200)
    a = store.create_run("syn", environment=env, stage="loop_a", notebook="loop.ipynb", start_time=t + 300)
    b = store.create_run("syn", environment=env, stage="loop_b", notebook="loop.ipynb", start_time=t + 301)
    store.add_lineage(b.id, [LineageEdge(a.id, "x", "variable")])
    store.add_lineage(a.id, [LineageEdge(b.id, "y", "variable")])  # a cycle: impossible in practice, harmless here
    for run in (a, b):
        store.log_params(run.id, {"loop": 1})
        store.end_run(run.id, "finished", end_time=t + 400)


def reference(db_path) -> dict[str, dict]:
    """The experiment rows as the docs define them, computed in plain Python from the tables."""
    conn = sqlite3.connect(db_path)
    runs = {num: {"id": i, "stage": s, "notebook": nb, "status": st, "start": t, "experiment": e}
            for num, i, s, nb, st, t, e in conn.execute(
                "SELECT r.num, r.id, r.stage, r.notebook, r.status, r.start_time, e.name"
                " FROM runs r JOIN experiments e ON e.id = r.experiment_id")}
    upstream = defaultdict(set)
    for run, up in conn.execute("SELECT run, upstream FROM lineage"):
        upstream[run].add(up)
    values = {name: defaultdict(dict) for name in ("params", "metrics", "tags")}
    for run, key, value, kind in conn.execute("SELECT run, key, value, type FROM params"):
        values["params"][run][key] = decode_param(value, kind)
    for run, key, value in conn.execute("SELECT run, key, value FROM latest_metrics"):
        values["metrics"][run][key] = float("nan") if value is None else value
    for run, key, value in conn.execute("SELECT run, key, value FROM tags"):
        values["tags"][run][key] = value
    conn.close()

    def pipeline_stage(num):
        return runs[num]["notebook"], runs[num]["stage"]

    feeding = {pipeline_stage(up) for run, ups in upstream.items() for up in ups
               if pipeline_stage(up) != pipeline_stage(run)}
    rows = {}
    for num, run in runs.items():
        if run["stage"] is not None and pipeline_stage(num) in feeding:
            continue
        closure, todo = {num}, [num]
        while todo:
            for up in upstream[todo.pop()]:
                if up not in closure:
                    closure.add(up)
                    todo.append(up)
        nearest_first = sorted(closure, reverse=True)
        params = {}
        for member in nearest_first:
            for key, value in values["params"][member].items():
                params.setdefault(key, value)
        holders = defaultdict(int)
        for member in closure:
            for key in values["metrics"][member]:
                holders[key] += 1
        metrics = {}
        for member in nearest_first:
            for key, value in values["metrics"][member].items():
                name = key if member == num or holders[key] == 1 else f"{runs[member]['stage'] or 'run'}/{key}"
                metrics.setdefault(name, value)
        rows[run["id"]] = {**run, "num": num, "params": params, "metrics": metrics, "tags": values["tags"][num],
                           "upstream": [runs[m]["id"] for m in nearest_first if m != num]}
    return rows


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A store of the 4-stage pipeline's kernels plus synthetic executions of another notebook (built
    once for the tests that only read it): its path and the reference rows."""
    from mlops_jupyter.core.environment import capture
    from mlops_jupyter.core.project import init_project

    root = tmp_path_factory.mktemp("mixed") / "proj"
    root.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLOPS_JUPYTER_DIR", raising=False)
        patch.delenv("MLOPS_JUPYTER_EXPERIMENT", raising=False)
        project, _ = init_project(root)
        _, results = run_branches(root, root.parent)
        assert all(r.error is None for r in results)
        with RunStore(project.db_path) as store:
            synthetic(store, capture(root))
    return project.db_path, reference(project.db_path)


def test_every_row_agrees_with_the_reference(mixed):
    db, mixed = mixed
    with RunStore(db) as store:
        found = {e.run.id: e for e in experiments.page(store).experiments()}
        assert experiments.count(store) == len(found)
    assert set(found) == set(mixed)
    assert {mixed[i]["stage"] for i in found} == {"compare", "s3", None}  # two stages reading each other: no sink
    for run_id, e in found.items():
        expected = mixed[run_id]
        assert e.params == expected["params"], run_id
        assert set(e.metrics) == set(expected["metrics"]) and all(
            same(e.metrics[k], v) for k, v in expected["metrics"].items()), run_id
        assert e.tags == expected["tags"]
        assert [u.run_id for u in e.upstream] == expected["upstream"]
    with RunStore(db) as store:  # the walk of a cycle ends
        (looped,) = experiments.page(store, stage="loop_a").experiments()
    assert looped.params == {"loop": 1} and [u.stage for u in looped.upstream] == ["loop_b"]


def py_sort(rows, field: str, descending: bool):
    """The store's order: rows without the value last, then the value, then newest first."""
    namespace, _, key = field.partition(".")

    def value(row):
        return row[namespace].get(key) if namespace in ("params", "metrics", "tags") else row[field]

    present = [r for r in rows if value(r) is not None and not (isinstance(value(r), float) and math.isnan(value(r)))]
    absent = [r for r in rows if r not in present]
    present.sort(key=lambda r: (-r["start"], -r["num"]))
    present.sort(key=value, reverse=descending)
    absent.sort(key=lambda r: (-r["start"], -r["num"]))
    return present + absent


def metric(row, key):
    value = row["metrics"].get(key)
    return None if value is None or math.isnan(value) else value


FILTERS = {
    "metrics.score > 0.5": lambda r: (metric(r, "score") or 0) > 0.5,
    "metrics.`s2/score` < 0.5 and params.kind = 'rf'":
        lambda r: metric(r, "s2/score") is not None and metric(r, "s2/score") < 0.5 and r["params"].get("kind") == "rf",
    "params.seed = 1 or params.lr >= 0.1": lambda r: r["params"].get("seed") == 1 or (r["params"].get("lr") or 0) >= 0.1,
    "params.threshold is null and stage = 's3'": lambda r: "threshold" not in r["params"] and r["stage"] == "s3",
    "metrics.`s1/score` is not null and status = 'failed'":
        lambda r: "s1/score" in r["metrics"] and r["status"] == "failed",
    "tags.owner = 'ana' and not params.kind in ('gbm')":
        lambda r: r["tags"].get("owner") == "ana" and r["params"].get("kind") != "gbm",
    "params.size = 0.25 and experiment = 'syn'": lambda r: r["params"].get("size") == 0.25 and r["experiment"] == "syn",
    "metrics.accuracy > 0 and params.train_b.k < 7": lambda r: (metric(r, "accuracy") or 0) > 0
        and r["params"].get("train_b.k", 99) < 7,
    "tags.note = 'upstream tag'": lambda r: False,  # an upstream run's tags are not the experiment's
}


@pytest.mark.parametrize("expression", FILTERS)
def test_filters_on_joined_keys_agree_with_the_reference(mixed, expression):
    db, mixed = mixed
    with RunStore(db) as store:
        found = [e.run.id for e in experiments.page(store, filter=expression).experiments()]
        assert experiments.count(store, filter=expression) == len(found)
    expected = [r["id"] for r in py_sort(mixed.values(), "start", True) if FILTERS[expression](r)]
    assert found == expected
    assert expression.startswith("tags.note") or found  # each filter (but the last) matches something


SORTS = ["metrics.score DESC", "metrics.`s2/score`", "params.lr DESC", "params.kind", "metrics.`train_a/accuracy` DESC",
         "params.seed"]


@pytest.mark.parametrize("order", SORTS)
def test_sorts_on_joined_keys_agree_with_the_reference(mixed, order):
    db, mixed = mixed
    field, _, direction = order.replace("`", "").partition(" ")
    with RunStore(db) as store:
        page = experiments.page(store, order_by=order, limit=20, offset=5).experiments()
    expected = py_sort(list(mixed.values()), field, direction == "DESC")[5:25]
    namespace, _, key = field.partition(".")
    assert [getattr(e, namespace).get(key) for e in page] == [r[namespace].get(key) for r in expected]
    assert [e.run.id for e in page] == [r["id"] for r in expected]


def test_bad_filters_and_sorts_are_one_line(store):
    for bad, message in [("metrics.accuracy >", "expected a number"), ("params.x = 1 and", "expected a field"),
                         ("nosuch = 1", "unknown field")]:
        with pytest.raises(FilterError, match=message) as error:
            experiments.page(store, filter=bad)
        assert "\n" not in str(error.value)
    with pytest.raises(FilterError, match="cannot sort by"):
        experiments.page(store, order_by="metrics.a b c")


# --- the CLI and the magic ---------------------------------------------------------------------


def test_exp_show_lists_filters_sorts_and_exports(project, branches):
    root = project.root
    table = cli("exp", "show", cwd=root).stdout.splitlines()
    assert table[0].split()[:4] == ["run", "stage", "status", "started"]
    assert {"metrics.accuracy", "metrics.train_a/accuracy", "params.train_b.k"} <= set(table[0].split())
    assert len(table) == 2 + 3
    only = cli("exp", "show", "--only-changed", cwd=root).stdout.splitlines()[0].split()
    assert "params.train_a.k" in only and "params.prepare.n" not in only and "metrics.rows" not in only
    records = json.loads(cli("exp", "show", "--json", "-S", "params.train_b.k DESC", "-n", "2", cwd=root).stdout)
    assert [r["params"]["train_b.k"] for r in records] == [7, 5]
    assert [u["stage"] for u in records[0]["upstream"]] == ["train_b", "train_a", "prepare"]
    picked = json.loads(cli("exp", "show", "--json", "-f", "params.train_a.k = 3 and params.train_b.k = 5", cwd=root).stdout)
    assert [(r["params"]["train_a.k"], r["params"]["train_b.k"]) for r in picked] == [(3, 5)]
    csv_lines = cli("exp", "show", "--csv", "-s", "train_a", cwd=root).stdout.splitlines()
    assert csv_lines[0].startswith("run_id,experiment,stage") and "upstream" in csv_lines[0]
    assert len(csv_lines) == 1 + 2 and all(",train_a," in line for line in csv_lines[1:])
    assert "… 2 more experiments" in cli("exp", "show", "-n", "1", cwd=root).stdout
    assert "… 1 more experiment;" in cli("exp", "show", "-n", "2", cwd=root).stdout

    bad = cli("exp", "show", "-f", "metrics.accuracy >", cwd=root, check=False)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("Error: expected a number")
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = cli("exp", "diff", "ffffff", "eeeeee", cwd=root, check=False)
    assert missing.returncode == 1 and missing.stderr.strip() == (
        "Error: no run 'ffffff'; `mlops-jupyter runs ls` lists the runs")


def test_mlops_exp_in_a_shell(shell, project, capsys):
    (project.root / "params.yaml").write_text("a:\n  n: 2\nb:\n  k: 3\n")
    for cell in ("%%stage a -p a\nx = params.a.n", "%%stage b -p b\ny = x * params.b.k\nmj.log_metric('y', y)"):
        shell.run_cell("import mlops_jupyter as mj")
        assert shell.run_cell(cell).error_in_exec is None
    capsys.readouterr()
    shell.run_line_magic("mlops", "exp show")
    lines = capsys.readouterr().out.splitlines()
    assert {"params.a.n", "params.b.k", "metrics.y"} <= set(lines[0].split()) and len(lines) == 3
    with pytest.raises(UsageError, match="^expected a number") as error:
        shell.run_line_magic("mlops", "exp show -f 'metrics.y >'")
    assert "\n" not in str(error.value)
    with pytest.raises(UsageError):
        shell.run_line_magic("mlops", "exp nosuch")

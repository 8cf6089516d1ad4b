"""GET experiments and experiments/<id> on a real server: the same rows as core.experiments, paged,
sorted and filtered on the joined columns; mistakes are a 400 with one line, unknown runs a 404."""

import pytest

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.models import LineageEdge
from mlops_jupyter.core.store import RunStore

from .test_handlers import error_of, get


@pytest.fixture
def pipeline(project):
    """Besides the conftest's two lone train runs (each its own experiment): three executions of
    prepare → fit → score in pipe.ipynb, prepare restored in the last two."""
    proj, lone = project
    env = capture(proj.root)
    ids = []
    with RunStore(proj.db_path) as store:
        t = 1_800_000_000_000
        prepare = store.create_run("exp", environment=env, stage="prepare", notebook="pipe.ipynb", start_time=t)
        store.log_params(prepare.id, {"prepare.seed": 7})
        store.end_run(prepare.id, "finished", end_time=t + 10)
        for i, n in enumerate((300, 150, 200)):
            fit = store.create_run("exp", environment=env, stage="fit", notebook="pipe.ipynb", start_time=t + 100 * i + 20)
            store.add_lineage(fit.id, [LineageEdge(prepare.id, "train", "variable")])
            store.log_params(fit.id, {"train.n_est": n})
            store.log_metric_points([(fit.id, "accuracy", 0, 0.5 + i / 10, t)])
            store.end_run(fit.id, "finished", end_time=t + 100 * i + 30)
            score = store.create_run("exp", environment=env, stage="score", notebook="pipe.ipynb", start_time=t + 100 * i + 40)
            store.add_lineage(score.id, [LineageEdge(fit.id, "model", "variable"), LineageEdge(prepare.id, "test", "variable")])
            store.log_metric_points([(score.id, "accuracy", 0, 0.9 - i / 10, t)])
            store.end_run(score.id, "finished", end_time=t + 100 * i + 50)
            ids.append((score.id, fit.id))
    return prepare.id, ids, lone


async def test_experiment_rows_with_their_lineage(jp_fetch, pipeline):
    prepare, ids, lone = pipeline
    page = await get(jp_fetch, "experiments")
    assert page["total"] == 5 and [r["run_id"] for r in page["runs"]] == [s for s, _ in ids[::-1]] + lone[::-1]
    assert page["sinks"] == ["score", "train"] and page["stages"] == ["fit", "prepare", "score", "train"]
    assert page["columns"] == {"params": ["n_est", "prepare.seed", "train.n_est"], "metrics": ["accuracy", "fit/accuracy", "loss"]}
    newest = page["runs"][0]
    assert newest["params"] == {"prepare.seed": 7, "train.n_est": 200}
    assert newest["metrics"] == {"accuracy": pytest.approx(0.7), "fit/accuracy": pytest.approx(0.7)}
    assert newest["upstream"] == [{"run_id": ids[2][1], "stage": "fit"}, {"run_id": prepare, "stage": "prepare"}]

    sorted_page = await get(jp_fetch, "experiments", sort="params.train.n_est DESC", limit="2", offset="1",
                            filter="stage = 'score'")
    assert sorted_page["total"] == 3 and [r["params"]["train.n_est"] for r in sorted_page["runs"]] == [200, 150]
    picked = await get(jp_fetch, "experiments", filter="metrics.`fit/accuracy` > 0.55 and params.prepare.seed = 7")
    assert [r["run_id"] for r in picked["runs"]] == [ids[2][0], ids[1][0]]
    beyond = await get(jp_fetch, "experiments", offset="50")
    assert beyond["total"] == 5 and beyond["runs"] == []
    fits = await get(jp_fetch, "experiments", stage="fit")
    assert fits["total"] == 3 and fits["columns"]["metrics"] == ["accuracy"]

    one = await get(jp_fetch, "experiments", ids[0][0][:12])
    assert one["run_id"] == ids[0][0] and one["params"]["train.n_est"] == 300
    assert [u["stage"] for u in one["upstream"]] == ["fit", "prepare"]
    assert (await get(jp_fetch, "experiments", prepare))["upstream"] == []  # any run has a view


async def test_columns_follow_new_runs(jp_fetch, pipeline, project):
    proj, _ = project
    assert "metrics.later" not in str((await get(jp_fetch, "experiments"))["columns"])
    with RunStore(proj.db_path) as store:
        run = store.create_run("exp", environment=capture(proj.root), stage="solo")
        store.log_metric_points([(run.id, "later", 0, 1.0, 1)])
        store.end_run(run.id, "finished")
    page = await get(jp_fetch, "experiments")
    assert "later" in page["columns"]["metrics"] and page["total"] == 6


@pytest.mark.parametrize("params, message", [
    ({"filter": "metrics.accuracy >"}, "expected a number"),
    ({"filter": "nosuch = 1"}, "unknown field"),
    ({"sort": "metrics.a b"}, "cannot sort by"),
    ({"status": "done"}, "unknown status"),
    ({"limit": "x"}, "limit must be a whole number"),
    ({"limit": "5000"}, "limit must be between 0 and 1000"),
])
async def test_bad_requests_are_400_with_one_line(jp_fetch, pipeline, params, message):
    code, text = await error_of(jp_fetch, "experiments", **params)
    assert code == 400 and message in text and "\n" not in text


async def test_unknown_run_is_404(jp_fetch, pipeline):
    code, text = await error_of(jp_fetch, "experiments", "ffffffff")
    assert code == 404 and text.startswith("no run 'ffffffff'")


async def test_empty_project_has_no_experiments(jp_fetch, jp_root_dir):
    page = await get(jp_fetch, "experiments")
    assert page["total"] == 0 and page["runs"] == [] and page["sinks"] == []

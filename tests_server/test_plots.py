"""``GET plots?runs=...``: the plots of runs overlaid, from runs that logged them (real tracker, real
store, real cache), on a real server."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.plots import definition
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore
from mlops_jupyter.kernel.plotting import record

from .conftest import PNG

LOG = textwrap.dedent("""
    import sys
    import mlops_jupyter as mj

    rate = float(sys.argv[1])
    with mj.start_run(experiment="plots", stage="evaluate") as run:
        mj.log_plot("loss", [{"step": i, "loss": (1 - rate) ** i} for i in range(6)], x="step", y="loss")
        mj.log_sklearn_plot("confusion_matrix", [0, 1, 1, 0], [0, 1, int(rate > 0.5), 0])
        mj.log_sklearn_plot("roc", [0, 0, 1, 1], [0.1, rate, 0.35, 0.8])
        print(run.run_id)
""")


@pytest.fixture
def plotted(jp_root_dir):
    """Two runs of a stage that each logged a loss curve, a confusion matrix, a ROC and an image."""
    root = Path(jp_root_dir)
    project, _ = init_project(root)
    ids = []
    for rate in (0.2, 0.9):
        done = subprocess.run([sys.executable, "-c", LOG, str(rate)], cwd=root, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.split()[-1])
    with RunStore(project.db_path) as store:
        for run_id in ids:  # as a stage's --plots eval/importance.png records it
            record(store, ObjectStore(project.cache_dir), run_id,
                   definition("eval/importance.png", None, "--plots eval/importance.png", origin="flag"),
                   {"eval/importance.png": PNG})
    return project, ids


async def get(jp_fetch, **params):
    return json.loads((await jp_fetch("mlops-jupyter", "plots", params=params)).body)


async def error_of(jp_fetch, **params):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-jupyter", "plots", params=params)
    return caught.value.code, json.loads(caught.value.response.body)["message"]


async def test_the_same_plot_of_each_run_is_one_overlaid_spec(jp_fetch, plotted):
    _, ids = plotted
    labels = [i[:8] for i in ids]
    data = await get(jp_fetch, runs=",".join(labels))
    assert data["runs"] == [{"run_id": i, "label": i[:8]} for i in ids]
    by_id = {p["id"]: p for p in data["plots"]}
    assert sorted(by_id) == ["confusion_matrix", "eval/importance.png", "loss", "roc"]
    logged = [p for p in by_id if p != "eval/importance.png"]
    assert logged == ["loss", "confusion_matrix", "roc"]  # in the order the runs drew them
    for plot in data["plots"]:
        assert plot["runs"] == labels and plot["error"] is None

    loss = by_id["loss"]["spec"]
    assert loss["$schema"].endswith("vega-lite/v5.json") and loss["title"] == "loss"
    assert {v["series"] for v in loss["data"]["values"]} == set(labels)  # a line per run
    assert loss["encoding"]["color"]["scale"]["domain"] == labels
    assert len(loss["data"]["values"]) == 12 and by_id["loss"]["images"] == []

    confusion = by_id["confusion_matrix"]["spec"]
    assert confusion["facet"]["column"]["field"] == "series" and confusion["facet"]["column"]["sort"] == labels
    roc = by_id["roc"]["spec"]
    assert roc["mark"]["type"] == "line" and {v["series"] for v in roc["data"]["values"]} == set(labels)


async def test_images_are_served_by_the_artifact_route(jp_fetch, plotted):
    _, ids = plotted
    data = await get(jp_fetch, runs=",".join(ids))
    image = next(p for p in data["plots"] if p["id"] == "eval/importance.png")
    assert image["spec"] is None
    assert [(i["label"], i["run_id"], i["mime"]) for i in image["images"]] == [(i[:8], i, "image/png") for i in ids]
    first = image["images"][0]
    assert first["name"] == "plots/eval/importance.png@eval/importance.png"
    assert first["url"] == f"artifacts/{ids[0]}/{first['name']}"
    response = await jp_fetch("mlops-jupyter", *first["url"].split("/"))
    assert response.body == PNG and response.headers["Content-Type"] == "image/png"


async def test_one_run_draws_its_plots_unlabelled(jp_fetch, plotted):
    _, ids = plotted
    data = await get(jp_fetch, runs=ids[1])
    loss = next(p for p in data["plots"] if p["id"] == "loss")
    assert loss["runs"] == [ids[1][:8]] and "color" not in loss["spec"]["encoding"]
    assert (await get(jp_fetch, runs=f"{ids[1]},{ids[1][:8]}"))["runs"] == [{"run_id": ids[1], "label": ids[1][:8]}]


async def test_a_plot_that_cannot_be_drawn_is_one_line_the_others_still_are(jp_fetch, plotted):
    project, ids = plotted
    with RunStore(project.db_path) as store:  # a definition naming a field its data lacks
        record(store, ObjectStore(project.cache_dir), ids[0],
               definition("eval/curve.csv", {"x": "step", "y": "acc"}, "--plots eval/curve.csv", origin="flag"),
               {"eval/curve.csv": b"step,loss\n0,1\n1,0.5\n"})
    data = await get(jp_fetch, runs=",".join(ids))
    broken = next(p for p in data["plots"] if p["id"] == "eval/curve.csv")
    assert broken["spec"] is None and broken["runs"] == [ids[0][:8]]
    assert "eval/curve.csv has no field 'acc' (its fields: step, loss)" in broken["error"]
    assert "\n" not in broken["error"]
    assert sum(p["spec"] is not None for p in data["plots"]) == 3


async def test_runs_without_plots_and_bad_requests(jp_fetch, plotted):
    project, ids = plotted
    with RunStore(project.db_path) as store:
        bare = store.create_run("plots", environment=capture(project.root), stage="evaluate")
        store.end_run(bare.id, "finished")
    assert (await get(jp_fetch, runs=bare.id))["plots"] == []
    code, message = await error_of(jp_fetch)
    assert code == 400 and message == "runs= needs one or more run ids, separated by commas"
    code, message = await error_of(jp_fetch, runs=",")
    assert code == 400
    code, message = await error_of(jp_fetch, runs=f"{ids[0]},ffffffff")
    assert code == 404 and "no run 'ffffffff'" in message and "\n" not in message
    code, message = await error_of(jp_fetch, runs=",".join(["abc"] * 51))
    assert code == 400 and "at most 50" in message


async def test_a_folder_without_a_store_is_404(jp_fetch, jp_root_dir):
    (Path(jp_root_dir) / "empty").mkdir()
    init_project(Path(jp_root_dir) / "empty")
    code, message = await error_of(jp_fetch, runs="abcdef12", path="empty")
    assert code == 404 and "no runs yet" in message

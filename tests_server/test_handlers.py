"""Every route of the REST API, on a real server (pytest-jupyter) and a real store."""

import json
import urllib.parse

import pytest
import tornado.web
from tornado.httpclient import HTTPClientError

from mlops_jupyter.server import ROUTES

from .conftest import PNG, XSS


async def get(jp_fetch, *parts, **params):
    response = await jp_fetch("mlops-jupyter", *parts, params=params)
    return json.loads(response.body)


async def error_of(jp_fetch, *parts, method="GET", body=None, **params):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-jupyter", *parts, params=params, method=method, body=body)
    return caught.value.code, json.loads(caught.value.response.body)["message"]


async def test_runs_page_sorted_and_filtered(jp_fetch, project):
    _, ids = project
    page = await get(jp_fetch, "runs")
    assert page["total"] == 2 and [r["run_id"] for r in page["runs"]] == ids[::-1]
    assert page["columns"] == {"params": ["n_est"], "metrics": ["loss"]}
    assert page["experiments"] == ["exp"] and page["stages"] == ["train"]
    assert page["runs"][0]["tags"]["note"] == XSS  # data, escaped by the frontend
    ordered = await get(jp_fetch, "runs", sort="params.n_est ASC")
    assert [r["params"]["n_est"] for r in ordered["runs"]] == [100, 200]
    second = await get(jp_fetch, "runs", limit="1", offset="1")
    assert second["total"] == 2 and [r["run_id"] for r in second["runs"]] == [ids[0]]
    filtered = await get(jp_fetch, "runs", filter="params.n_est = 200 and metrics.loss < 1")
    assert [r["run_id"] for r in filtered["runs"]] == [ids[1]] and filtered["total"] == 1


async def test_bad_filter_is_400_with_a_message(jp_fetch, project):
    code, message = await error_of(jp_fetch, "runs", filter="metrics.loss <")
    assert code == 400 and "expected a number or a quoted string" in message
    code, message = await error_of(jp_fetch, "runs", limit="lots")
    assert code == 400 and "limit must be a whole number" in message
    code, message = await error_of(jp_fetch, "runs", sort="metrics.loss sideways")
    assert code == 400 and "cannot sort by" in message


async def test_one_run_in_full(jp_fetch, project):
    _, ids = project
    run = await get(jp_fetch, "runs", ids[0][:8])
    assert run["run_id"] == ids[0] and run["params"] == {"n_est": 100}
    assert run["histories"]["loss"] == [[0, 1.0, 1_700_000_000_000], [1, 0.5, 1_700_000_000_001],
                                        [2, 1 / 3, 1_700_000_000_002]]
    assert {a["name"] for a in run["artifacts"]} == {"figure-1.png", "report.html"}
    assert run["environment"]["python"].startswith("3.")
    code, message = await error_of(jp_fetch, "runs", "ffffffff")
    assert code == 404 and "no run 'ffffffff'" in message


async def test_histories_of_several_runs(jp_fetch, project):
    _, ids = project
    data = await get(jp_fetch, "metrics", runs=",".join(ids), keys="loss")
    assert set(data["histories"]) == set(ids)
    assert [p[0] for p in data["histories"][ids[1]]["loss"]] == [0, 1, 2]
    code, message = await error_of(jp_fetch, "metrics")
    assert code == 400 and "runs=" in message


async def test_artifact_content_and_type(jp_fetch, project):
    _, ids = project
    response = await jp_fetch("mlops-jupyter", "artifacts", ids[0], "figure-1.png")
    assert response.body == PNG and response.headers["Content-Type"] == "image/png"
    html = await jp_fetch("mlops-jupyter", "artifacts", ids[0], "report.html")
    assert html.headers["Content-Disposition"].startswith("attachment")  # never rendered on our origin
    assert "default-src 'none'" in html.headers["Content-Security-Policy"]
    code, _ = await error_of(jp_fetch, "artifacts", ids[0], "missing.png")
    assert code == 404


@pytest.mark.parametrize("name", ["../runs.db", "a/../../runs.db", "%2Fetc%2Fpasswd", "..%2F..%2Fetc%2Fpasswd",
                                  "%2E%2E/runs.db"])
async def test_artifact_requests_cannot_leave_the_cache(jp_fetch, project, name):
    _, ids = project
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-jupyter", "artifacts", ids[0], urllib.parse.unquote(name) if "%2E" in name else name)
    assert caught.value.code in (400, 404)
    assert b"root:" not in (caught.value.response.body or b"") and b"SQLite" not in (caught.value.response.body or b"")


async def test_path_outside_the_root_is_refused(jp_fetch, project):
    code, message = await error_of(jp_fetch, "runs", path="../../etc")
    assert code == 400 and "outside the server's root" in message


async def test_pipeline_from_path_and_from_posted_content(jp_fetch, project):
    proj, _ = project
    graph = await get(jp_fetch, "pipeline", path="wine.ipynb")
    assert [s["name"] for s in graph["stages"]] == ["prepare", "train", "evaluate"]
    assert {s["state"] for s in graph["stages"]} == {"never run"}
    assert {(e["upstream"], e["downstream"]) for e in graph["edges"]} == {
        ("prepare", "train"), ("prepare", "evaluate"), ("train", "evaluate")}
    content = json.loads((proj.root / "wine.ipynb").read_text())
    content["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                             "source": "%%stage report --after evaluate\nprint('unsaved')", "id": "new-cell"})
    response = await jp_fetch("mlops-jupyter", "pipeline", method="POST",
                              body=json.dumps({"path": "wine.ipynb", "content": content}))
    posted = json.loads(response.body)
    assert posted["stages"][-1] == {"name": "report", "state": "never run", "reasons": [], "last_run": None,
                                    "cell_index": 7, "cell_id": "new-cell"}
    content["cells"].append(dict(content["cells"][-1], id="dup"))
    code, message = await error_of(jp_fetch, "pipeline", method="POST",
                                   body=json.dumps({"path": "wine.ipynb", "content": content}))
    assert code == 400 and "stage name 'report' is used by" in message
    code, message = await error_of(jp_fetch, "pipeline", method="POST", body=json.dumps({"content": 3}))
    assert code == 400
    code, _ = await error_of(jp_fetch, "pipeline", path="nope.ipynb")
    assert code == 404


async def test_state_changes_when_a_run_ends(jp_fetch, project):
    proj, _ = project
    before = (await get(jp_fetch, "state"))["version"]
    from mlops_jupyter.core.environment import capture
    from mlops_jupyter.core.store import RunStore

    with RunStore(proj.db_path) as store:
        run = store.create_run("exp", environment=capture(proj.root))
        started = (await get(jp_fetch, "state"))["version"]
        store.end_run(run.id, "finished")
    ended = (await get(jp_fetch, "state"))["version"]
    (proj.root / "params.yaml").write_text("train:\n  n_est: 1\n")
    edited = (await get(jp_fetch, "state"))["version"]
    assert len({before, started, ended, edited}) == 4


async def test_empty_project_answers_empty(jp_fetch, jp_root_dir):
    page = await get(jp_fetch, "runs")
    assert page["total"] == 0 and page["runs"] == []


def _route_urls(run_id):
    for pattern, handler in ROUTES:
        yield handler, (pattern.replace("(?P<run_id>[0-9a-fA-F]{1,32})", run_id).replace("(?P<name>.+)", "figure-1.png")
               .replace("(?P<name>[^/]+)", "wine").replace("(?P<alias>[^/]+)", "champion")
               .replace("(?P<version>[^/]+)", "1"))


async def test_every_route_refuses_requests_without_a_token(jp_fetch, project, jp_serverapp):
    _, ids = project
    urls = list(_route_urls(ids[0]))
    assert len(urls) == len(ROUTES) == 14  # a new route must be added to this test's reach
    assert not any("(?P<" in url for _, url in urls)
    for handler, url in urls:
        for method, body in (("GET", None), ("POST", "{}"), ("DELETE", None)):
            served = getattr(handler, method.lower()) is not getattr(tornado.web.RequestHandler, method.lower())
            with pytest.raises(HTTPClientError) as caught:
                await jp_fetch("mlops-jupyter", *url.split("/"), method=method, body=body,
                               headers={"Authorization": ""}, follow_redirects=False)
            # 405 only for verbs a route does not serve at all
            assert caught.value.code in ((403,) if served else (403, 405)), (url, method, caught.value.code)

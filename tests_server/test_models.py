"""The model registry's routes on a real server (pytest-jupyter) and a real store: models, versions
with their runs' metrics, the history; aliases and stages changed by POST (and DELETE), answered
with the updated model; mistakes as 400/404 with the registry's one-line message; XSRF checked for
a browser's cookie."""

import json
from http.cookies import SimpleCookie

import pytest
from tornado.httpclient import HTTPClientError

from mlops_jupyter.core import model_files
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.registry import LoggedModel, Registry
from mlops_jupyter.core.store import RunStore

from .test_bad_input import one_line
from .test_handlers import error_of, get


@pytest.fixture
def registered(project, monkeypatch):
    """Model ``wine`` with a version for each of the project's two runs, @champion on v1."""
    monkeypatch.setenv("MLOPS_USER", "ana")
    proj, ids = project
    with RunStore(proj.db_path) as store:
        registry = Registry(store)
        for n_est, run_id in zip((100, 200), ids):
            data, flavor, info = model_files.dump({"n_est": n_est})
            digest, size = ObjectStore(proj.cache_dir).put_bytes(data)
            registry.add_logged_model(LoggedModel(run_id, "model", flavor, digest, size, None, info))
            registry.register("wine", run_id, "model")
        registry.set_alias("wine", "champion", 1)
    return proj, ids


async def send(jp_fetch, *parts, method="POST", body=None, **params):
    response = await jp_fetch("mlops-jupyter", *parts, method=method, params=params,
                              body=None if body is None else json.dumps(body))
    return json.loads(response.body)


async def test_models_and_one_model_in_full(jp_fetch, registered):
    _, ids = registered
    listed = (await get(jp_fetch, "models"))["models"]
    assert [(m["name"], m["latest_version"], m["version_count"], m["aliases"]) for m in listed] == [
        ("wine", 2, 2, {"champion": 1})]
    model = await get(jp_fetch, "models", "wine")
    assert [v["version"] for v in model["versions"]] == [2, 1]  # newest first
    v2, v1 = model["versions"]
    assert (v1["run_id"], v1["stage"], v1["aliases"], v1["tags"]) == (ids[0], "None", ["champion"], {})
    assert v2["uri"] == f"runs:/{ids[1]}/model" and v2["aliases"] == []
    assert v1["created_time"].endswith("+00:00") and v1["run"]["stage"] == "train"
    assert v1["metrics"] == {"loss": pytest.approx(1 / 3)} and v2["metrics"] == {"loss": pytest.approx(0.25)}
    assert model["all_stages"] == ["None", "Staging", "Production", "Archived"]
    history = model["history"]  # newest first
    assert [(h["action"], h["what"], h["old"], h["new"], h["user"]) for h in history] == [
        ("alias", "champion", None, "1", "ana"),
        ("registered", None, None, f"runs:/{ids[1]}/model", "ana"),
        ("registered", None, None, f"runs:/{ids[0]}/model", "ana")]


async def test_an_empty_project_has_no_models(jp_fetch, jp_root_dir):
    assert (await get(jp_fetch, "models")) == {"models": []}
    code, message = await error_of(jp_fetch, "models", "wine")
    assert code == 404 and one_line(message)


async def test_moving_and_removing_an_alias(jp_fetch, registered, monkeypatch):
    monkeypatch.setenv("MLOPS_USER", "bob")  # the server's process is the one writing
    model = await send(jp_fetch, "models", "wine", "aliases", body={"alias": "champion", "version": 2})
    assert model["aliases"] == {"champion": 2}
    assert [v["aliases"] for v in model["versions"]] == [["champion"], []]
    moved = model["history"][0]
    assert (moved["version"], moved["action"], moved["what"], moved["old"], moved["new"], moved["user"]) == (
        2, "alias", "champion", "1", "2", "bob")
    model = await send(jp_fetch, "models", "wine", "aliases", body={"alias": "challenger", "version": "v1"})
    assert model["aliases"] == {"challenger": 1, "champion": 2}
    model = await send(jp_fetch, "models", "wine", "aliases", "champion", method="DELETE")
    assert model["aliases"] == {"challenger": 1}
    assert (model["history"][0]["action"], model["history"][0]["old"]) == ("alias removed", "2")
    assert (await get(jp_fetch, "models", "wine"))["aliases"] == {"challenger": 1}  # stored, not only answered


async def test_stage_transitions_archive_existing(jp_fetch, registered):
    model = await send(jp_fetch, "models", "wine", "versions", "2", "stage", body={"stage": "production"})
    assert [(v["version"], v["stage"]) for v in model["versions"]] == [(2, "Production"), (1, "None")]
    model = await send(jp_fetch, "models", "wine", "versions", "1", "stage",
                       body={"stage": "Production", "archive_existing": True})
    assert [(v["version"], v["stage"]) for v in model["versions"]] == [(2, "Archived"), (1, "Production")]
    assert [(h["version"], h["old"], h["new"]) for h in model["history"][:2]] == [
        (2, "Production", "Archived"), (1, "None", "Production")]
    assert (await get(jp_fetch, "models"))["models"][0]["stages"] == {"Archived": 2, "Production": 1}


async def test_state_changes_when_the_registry_does(jp_fetch, registered):
    before = (await get(jp_fetch, "state"))["version"]
    await send(jp_fetch, "models", "wine", "versions", "1", "stage", body={"stage": "Staging"})
    after_stage = (await get(jp_fetch, "state"))["version"]
    await send(jp_fetch, "models", "wine", "aliases", body={"alias": "champion", "version": 2})
    after_alias = (await get(jp_fetch, "state"))["version"]
    assert len({before, after_stage, after_alias}) == 3


MISTAKES = {
    "unknown model": ("GET", ("models", "nosuch"), None, 404, "no registered model 'nosuch'"),
    "alias of an unknown model": ("POST", ("models", "nosuch", "aliases"), {"alias": "a", "version": 1}, 404,
                                  "no registered model"),
    "reserved alias latest": ("POST", ("models", "wine", "aliases"), {"alias": "latest", "version": 1}, 400,
                              "reserved"),
    "reserved alias vN": ("POST", ("models", "wine", "aliases"), {"alias": "V3", "version": 1}, 400, "reserved"),
    "alias with a space": ("POST", ("models", "wine", "aliases"), {"alias": "no good", "version": 1}, 400,
                           "only letters"),
    "alias without a name": ("POST", ("models", "wine", "aliases"), {"version": 1}, 400, "'alias' must be"),
    "alias to an unknown version": ("POST", ("models", "wine", "aliases"), {"alias": "a", "version": 9}, 400,
                                    "no version 9"),
    "alias to a version that is no number": ("POST", ("models", "wine", "aliases"),
                                             {"alias": "a", "version": [1]}, 400, "'version' must be"),
    "removing an unknown alias": ("DELETE", ("models", "wine", "aliases", "nosuch"), None, 404,
                                  "no alias 'nosuch'"),
    "stage of an unknown version": ("POST", ("models", "wine", "versions", "9", "stage"), {"stage": "Staging"},
                                    404, "no version 9"),
    "unknown stage": ("POST", ("models", "wine", "versions", "1", "stage"), {"stage": "prod"}, 400,
                      "None, Staging, Production, Archived"),
    "archive_existing not a boolean": ("POST", ("models", "wine", "versions", "1", "stage"),
                                       {"stage": "Staging", "archive_existing": "yes"}, 400, "true or false"),
    "malformed JSON": ("POST", ("models", "wine", "aliases"), b"{'alias': 'a'}", 400, "not JSON"),
    "not UTF-8": ("POST", ("models", "wine", "versions", "1", "stage"), b'{"stage": "\xff"}', 400, "not JSON"),
    "a list": ("POST", ("models", "wine", "aliases"), b"[]", 400, '{"alias": "champion", "version": 2}'),
}


@pytest.mark.parametrize("method, parts, body, status, message", MISTAKES.values(), ids=MISTAKES.keys())
async def test_mistakes_are_one_line_400_or_404(jp_fetch, registered, method, parts, body, status, message):
    if isinstance(body, dict):
        body = json.dumps(body)
    code, text = await error_of(jp_fetch, *parts, method=method, body=body)
    assert code == status and message in text and one_line(text), text
    model = await get(jp_fetch, "models", "wine")  # nothing changed
    assert model["aliases"] == {"champion": 1} and {v["stage"] for v in model["versions"]} == {"None"}


async def test_a_browsers_post_needs_the_xsrf_token(jp_fetch, registered, jp_serverapp):
    """Logged in by cookie (as a browser is), a POST without the XSRF token is refused; JupyterLab's
    requests carry it (the `_xsrf` cookie echoed in `X-XSRFToken`)."""
    login = await jp_fetch("mlops-jupyter", "models", params={"token": jp_serverapp.identity_provider.token},
                           headers={"Authorization": ""})
    cookies = SimpleCookie()
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    assert cookies, "a token in the URL logs the browser in with a cookie"
    jar = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    body = json.dumps({"alias": "champion", "version": 2})
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-jupyter", "models", "wine", "aliases", method="POST", body=body,
                       headers={"Authorization": "", "Cookie": jar})
    assert caught.value.code == 403
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-jupyter", "models", "wine", "aliases", "champion", method="DELETE",
                       headers={"Authorization": "", "Cookie": jar})
    assert caught.value.code == 403
    assert (await get(jp_fetch, "models", "wine"))["aliases"] == {"champion": 1}
    xsrf = "ab" * 16
    response = await jp_fetch("mlops-jupyter", "models", "wine", "aliases", method="POST", body=body,
                              headers={"Authorization": "", "Cookie": f"{jar}; _xsrf={xsrf}", "X-XSRFToken": xsrf})
    assert json.loads(response.body)["aliases"] == {"champion": 2}

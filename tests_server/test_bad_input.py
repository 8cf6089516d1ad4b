"""Whatever a request holds, a mistake in it is a 400 with a one-line message, never a 500."""

import json

import pytest

from .test_handlers import error_of

LARGE = {  # within the 64 KB a request line may take
    "a large in (...) list": "params.n_est in (" + ", ".join(str(i) for i in range(5000)) + ")",
    "a long or chain": " or ".join(f"params.n_est = {i}" for i in range(1500)),
    "a long and chain": " and ".join(f"metrics.loss > {-i}" for i in range(1500)),
}
TOO_DEEP = {
    "deep parentheses": "(" * 2000 + "params.n_est = 1" + ")" * 2000,
    "a long not chain": "not " * 2000 + "params.n_est = 1",
}


def one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message and "Traceback" not in message and len(message) <= 1000


@pytest.mark.parametrize("text", LARGE.values(), ids=LARGE.keys())
async def test_large_filters_work(jp_fetch, project, text):
    response = await jp_fetch("mlops-jupyter", "runs", params={"filter": text})
    assert response.code == 200 and json.loads(response.body)["total"] == 2


@pytest.mark.parametrize("text", TOO_DEEP.values(), ids=TOO_DEEP.keys())
async def test_filters_past_the_limits_are_400(jp_fetch, project, text):
    code, message = await error_of(jp_fetch, "runs", filter=text)
    assert code == 400 and one_line(message), message


def cell(**fields):
    return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": "x = 1", **fields}


CONTENTS = {
    "cells not a list": {"cells": {"0": cell()}},
    "cells a string": {"cells": "x = 1"},
    "no cells": {"metadata": {}},
    "a cell that is a number": {"cells": [3]},
    "a cell that is a list": {"cells": [["x = 1"]]},
    "a cell that is null": {"cells": [None]},
    "a cell without cell_type": {"cells": [{"source": "x = 1"}]},
    "a cell_type that is not text": {"cells": [cell(cell_type=3)]},
    "a source that is a number": {"cells": [cell(source=3)]},
    "a source that is null": {"cells": [cell(source=None)]},
    "a source that is an object": {"cells": [cell(source={"x": 1})]},
    "a source list of numbers": {"cells": [cell(source=[1, 2])]},
    "an id that is an object": {"cells": [cell(id={"x": 1})]},
    "content a list": [cell()],
    "content a string": "x = 1",
}


@pytest.mark.parametrize("content", CONTENTS.values(), ids=CONTENTS.keys())
async def test_malformed_notebook_content_is_400(jp_fetch, project, content):
    code, message = await error_of(jp_fetch, "pipeline", method="POST",
                                   body=json.dumps({"path": "wine.ipynb", "content": content}))
    assert code == 400 and one_line(message), message


@pytest.mark.parametrize("content", CONTENTS.values(), ids=CONTENTS.keys())
async def test_malformed_saved_notebook_is_400(jp_fetch, project, content):
    proj, _ = project
    (proj.root / "broken.ipynb").write_text(json.dumps(content))
    code, message = await error_of(jp_fetch, "pipeline", path="broken.ipynb")
    assert code == 400 and one_line(message), message


BODIES = {
    "not JSON": b"{'path': 'wine.ipynb'}",
    "not UTF-8": b'{"path": "\xff.ipynb"}',
    "nested too deeply": b'{"path": "wine.ipynb", "content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "no path": b'{"content": {"cells": []}}',
    "a list": b"[]",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_malformed_bodies_are_400(jp_fetch, project, body):
    code, message = await error_of(jp_fetch, "pipeline", method="POST", body=body)
    assert code == 400 and one_line(message), message


async def test_code_too_deeply_nested_to_analyze_is_a_warning(jp_fetch, project):
    """A stage whose code the parser cannot analyze still has a state; the warning names the cell."""
    content = {"cells": [cell(source="%%stage deep\nx = " + " + ".join(["1"] * 2000))]}
    response = await jp_fetch("mlops-jupyter", "pipeline", method="POST",
                              body=json.dumps({"path": "wine.ipynb", "content": content}))
    graph = json.loads(response.body)
    assert [s["name"] for s in graph["stages"]] == ["deep"]
    assert graph["warnings"] and graph["warnings"][0].startswith("cell 1 (stage 'deep'): ")


async def test_a_message_keeps_the_users_text_as_written(jp_fetch, project):
    code, message = await error_of(jp_fetch, "runs", filter="tags.note like 'ana%' and")
    assert code == 400 and "'ana%'" in message and "%%" not in message

"""How the server does its work: off the event loop, artifacts streamed and verified once, and
always on the store file that is there now."""

import asyncio
import json
import os
import sqlite3
import tracemalloc

import pytest
from tornado.httpclient import HTTPClientError

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.models import Artifact
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.store import RunStore

from .test_boundaries import post_pipeline, stage_notebook
from .test_handlers import get


async def test_a_request_waiting_for_the_store_does_not_hold_up_the_others(jp_fetch, project):
    """POST pipeline must write the stat cache; while another process holds the write lock it
    waits, in a worker thread: GET runs meanwhile answers at once."""
    proj, ids = project
    proj.config_path.write_text("[core]\nbusy_timeout = 5.0\n")
    (proj.root / "data.csv").write_text("a,b\n")
    content = stage_notebook(proj.root, "-d data.csv")
    writer = sqlite3.connect(proj.db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        pipeline = asyncio.ensure_future(post_pipeline(jp_fetch, content))
        await asyncio.sleep(0.3)  # the POST is now waiting for the lock
        page = await asyncio.wait_for(get(jp_fetch, "runs"), timeout=2)
        assert page["total"] == 2 and not pipeline.done()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (await pipeline)["probe"]["reasons"] == ["dep data.csv added"]


@pytest.fixture
def big_artifact(project):
    """A 32 MB artifact on the first run."""
    proj, ids = project
    data = os.urandom(1 << 20) * 32
    digest, size = ObjectStore(proj.cache_dir).put_bytes(data)
    with RunStore(proj.db_path) as store:
        store.add_artifact(ids[0], Artifact("weights.bin", "file", digest, size, "application/octet-stream"))
    return ObjectStore(proj.cache_dir).path(digest), data


async def test_artifacts_are_streamed_not_held_in_memory(jp_fetch, project, big_artifact):
    _, ids = project
    _, data = big_artifact
    received = []
    tracemalloc.start()
    try:
        response = await jp_fetch("mlops-jupyter", "artifacts", ids[0], "weights.bin",
                                  streaming_callback=lambda chunk: received.append(len(chunk)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(received) == len(data) and response.headers["Content-Length"] == str(len(data))
    assert peak < len(data) / 4, f"peak {peak:,} bytes for a {len(data):,}-byte artifact"


async def test_an_artifact_is_verified_once_and_a_corrupt_one_refused(jp_fetch, project, big_artifact):
    _, ids = project
    path, data = big_artifact
    first = await jp_fetch("mlops-jupyter", "artifacts", ids[0], "weights.bin")
    assert first.body == data
    st = path.stat()
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:  # flip a byte, keeping size and mtime: what an untouched object looks like
        f.write(b"\x00" if data[:1] != b"\x00" else b"\x01")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = await jp_fetch("mlops-jupyter", "artifacts", ids[0], "weights.bin")
    assert len(second.body) == len(data)  # served without hashing it again
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # now visibly touched
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("mlops-jupyter", "artifacts", ids[0], "weights.bin")
    assert caught.value.code == 400
    assert "is corrupt" in json.loads(caught.value.response.body)["message"]


def store_files(proj):
    return [proj.db_path.with_name(proj.db_path.name + suffix) for suffix in ("", "-wal", "-shm")]


async def test_a_replaced_store_is_reopened(jp_fetch, project):
    proj, ids = project
    assert (await get(jp_fetch, "runs"))["total"] == 2
    for file in store_files(proj):  # moved aside, as a person does: mv .mlops/runs.db* elsewhere
        if file.exists():
            file.rename(file.with_name("old-" + file.name))
    with RunStore(proj.db_path) as store:
        run = store.create_run("fresh", environment=capture(proj.root))
        store.end_run(run.id, "finished")
    page = await get(jp_fetch, "runs")
    assert page["total"] == 1 and page["experiments"] == ["fresh"]
    assert (await get(jp_fetch, "runs", run.id))["run_id"] == run.id


async def test_a_deleted_store_means_no_runs(jp_fetch, project):
    proj, ids = project
    assert (await get(jp_fetch, "runs"))["total"] == 2
    for file in store_files(proj):
        file.unlink(missing_ok=True)
    assert (await get(jp_fetch, "runs"))["total"] == 0
    assert (await get(jp_fetch, "state"))["version"].startswith("empty")
    assert not proj.db_path.exists()  # reading created nothing

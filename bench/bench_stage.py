"""``%%stage`` benchmark: the magic's overhead, restores, hashing and cached notebooks.

Run from the repository root:

    .venv/bin/python bench/bench_stage.py            # full: a few minutes, ~1.5 GB of temp disk
    .venv/bin/python bench/bench_stage.py --quick    # smaller sizes, about a minute
    .venv/bin/python bench/bench_stage.py --profile  # also cProfile the (a) hit and miss paths

Every part runs in a fresh temporary project folder (one with ``.mlops/``); the
process chdirs into it and points ``MLOPS_JUPYTER_DIR`` at it. Parts (a), (b)
and (d) drive ``%%stage`` in a real IPython ``InteractiveShell`` in this
process (history off); the printed status lines of the cells are swallowed.

(a) Bookkeeping overhead on a trivial cell, median of 200 repetitions (50 with
    --quick), interleaved so drift hits every variant alike:
    plain ``x = i`` (no magic); a *miss*: ``%%stage s`` with ``x = i``, a new
    constant each time, so the fingerprint changes and the whole miss path runs
    (run recorded, variable saved, result cached, lock file written); a *hit*:
    ``%%stage h`` with ``x = 1`` restored every time; and, for information,
    ``%%stage f --force`` with ``x = 1``. Overhead = median(with magic) -
    median(plain). Target: <= 5 ms for the miss and the hit. For information, the
    hit overhead once ``mlops.lock`` holds 30 more stages.

(b) Restores of big variables: a stage making a 200 MB float64 array
    (``np.random.default_rng(0).random(25_000_000)``) and one making a 200 MB
    DataFrame (1,000,000 rows x 25 float64 columns); with --quick 50 MB each.
    The restore (the same cell again after deleting the variable; the time of
    ``ip.run_cell``) against ``np.load`` / ``pd.read_parquet`` (pyarrow) of the
    same value written with ``np.save`` / ``to_parquet`` in the same folder,
    page cache warm for both (one warm-up read first), median of 5 (3), the
    restores and the reads alternating with nothing else big alive.
    Target: restore / reference <= 1.3. The miss (first run), the first restore
    (which re-hashes the fresh cache object once) and the plain cell are shown
    for information.

(c) Fingerprinting a 1 GB dep file (256 MB with --quick), page cache warm:
    ``FileHasher(store).hash_path`` with a cold stat cache (the file's mtime is
    bumped before each pass, so the stat cache misses while the page cache
    stays warm) against ``cat FILE > /dev/null``. Target: hash speed >= 0.4 x
    cat speed. Also: the second (stat-cache hit) pass, the raw BLAKE3
    ``hash_file`` and Python's ``hashlib.md5`` (DVC's hash) on the same file.

(d) Re-checking an unchanged dependency folder of 10,000 files of 1 KB in 100
    subfolders (2,000 in 20 with --quick): the second (stat cache warm)
    ``FileHasher(store).hash_path(dir)`` against ``dvc status`` on the same
    folder (``dvc init --no-scm`` + ``dvc add data``; one warm-up status, then
    the median of 3 runs of ``.venv/bin/dvc status``). Target: >= 10x faster.
    Also: the first pass, ``dvc --version`` (DVC's start-up alone) and the hit of
    ``%%stage scan -d data`` in the shell.

(e) ``mlops-jupyter run examples/wine.ipynb`` fully cached against the same
    notebook without the magic. The example's notebook, params.yaml and
    .mlops/config.toml are copied to a temp folder; one run fills the cache,
    then the cached run is timed. The plain copy has its ``%%stage`` lines
    removed and a first cell that builds ``params`` (a SimpleNamespace tree of
    params.yaml); it runs in nbclient's ``NotebookClient`` in a subprocess, with
    its own store for the ``mj`` calls the cells make (its last cell, a query of
    evaluate runs, finds none there and raises: allowed, not a stage cell).
    Both wall times include the kernel start-up. Stage cells are timed from
    nbclient's per-cell timestamps (``iopub.execute_input`` to
    ``shell.execute_reply``). Target: plain stage cells / cached >= 20x; the wall
    ratio is shown for information. Median of 3 runs (1 with --quick).

The summary table at the end marks each target PASS or MISS. That is
information only: the script always exits 0, and a part that crashes is
reported and skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from common import fmt_ratio, fmt_seconds

perf_counter = time.perf_counter

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
BIN = Path(sys.executable).parent  # .venv/bin: mlops-jupyter and dvc live next to python

TARGET_OVERHEAD_S = 0.005  # (a) median(with magic) - median(plain)
TARGET_RESTORE_RATIO = 1.3  # (b) restore / np.load or pd.read_parquet
TARGET_HASH_VS_CAT = 0.4  # (c) hash_path GB/s / cat GB/s
TARGET_DVC_STATUS_RATIO = 10.0  # (d) dvc status / hash_path second pass
TARGET_NOTEBOOK_RATIO = 20.0  # (e) plain stage cells / cached stage cells


@dataclass(frozen=True)
class Sizes:
    overhead_reps: int
    array_n: int  # float64 elements of the (b) array
    frame_rows: int  # rows of the (b) frame (25 float64 columns)
    restore_reps: int
    big_file_bytes: int
    hash_reps: int
    dir_folders: int
    dir_files_per_folder: int
    dvc_reps: int
    notebook_reps: int


FULL = Sizes(200, 25_000_000, 1_000_000, 5, 1 << 30, 3, 100, 100, 3, 3)
QUICK = Sizes(50, 6_250_000, 250_000, 3, 256 << 20, 2, 20, 100, 2, 1)
FRAME_COLUMNS = 25


# --- formatting ---------------------------------------------------------------------


def fmt_gbs(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} GB/s"


def fmt_mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.0f} MB"


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def heading(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 74 - len(title)), flush=True)


def show(label: str, value: str) -> None:
    print(f"  {label:<60} {value}", flush=True)


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out)


def guarded(title: str, fn: Callable[[], Any]) -> Any:
    """Run one part; a crash is printed and the benchmark goes on."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a benchmark reports, it does not stop
        print(f"\n!!! {title} crashed:", flush=True)
        traceback.print_exc()
        sys.stderr.flush()
        return None


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = perf_counter()
    result = fn()
    return perf_counter() - t0, result


# --- projects and the shell -----------------------------------------------------------


@contextlib.contextmanager
def fresh_project(name: str):
    """A temporary project folder (with ``.mlops/``), the cwd and MLOPS_JUPYTER_DIR while inside."""
    before = os.getcwd()
    folder = Path(tempfile.mkdtemp(prefix=f"bench-stage-{name}-")).resolve()
    (folder / ".mlops").mkdir()
    old_env = os.environ.get("MLOPS_JUPYTER_DIR")
    os.environ["MLOPS_JUPYTER_DIR"] = str(folder)
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
        if old_env is None:
            os.environ.pop("MLOPS_JUPYTER_DIR", None)
        else:
            os.environ["MLOPS_JUPYTER_DIR"] = old_env
        shutil.rmtree(folder, ignore_errors=True)


_SHELL = None


def shell():
    """The one InteractiveShell of this process, history off, the extension loaded."""
    global _SHELL
    if _SHELL is None:
        from IPython.core.history import HistoryAccessor

        HistoryAccessor.enabled = False
        from IPython.core.interactiveshell import InteractiveShell

        _SHELL = InteractiveShell.instance()
        run_cell("%load_ext mlops_jupyter")
    return _SHELL


class CellFailed(RuntimeError):
    pass


def run_cell(cell: str) -> tuple[float, str]:
    """(seconds of ``ip.run_cell``, what the cell printed); the magic tees sys.stdout, so redirect around it."""
    ip = _SHELL
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        t0 = perf_counter()
        result = ip.run_cell(cell)
        seconds = perf_counter() - t0
    if not result.success:
        error = result.error_in_exec or result.error_before_exec
        raise CellFailed(f"cell failed: {cell.splitlines()[0]!r}: {error!r}\n{buffer.getvalue()[-2000:]}")
    return seconds, buffer.getvalue()


def run_stage(cell: str, expect: str) -> float:
    """Run a ``%%stage`` cell, check it was a ``hit`` or a ``miss`` (from its status line)."""
    seconds, printed = run_cell(cell)
    restored = "restored from run" in printed
    if restored != (expect == "hit"):
        raise CellFailed(f"expected a {expect} of {cell.splitlines()[0]!r}, got:\n{printed[-2000:]}")
    return seconds


# --- (a) overhead on a trivial cell -----------------------------------------------------


def bench_overhead(sizes: Sizes, profile: bool) -> dict:
    heading(f"(a) %%stage overhead on a trivial cell, median of {sizes.overhead_reps}")
    with fresh_project("overhead"):
        shell()
        for i in range(3):  # warm-up: imports, the store, the lock file
            run_cell(f"x = {i}")
            run_stage(f"%%stage s\nx = {-1 - i}", "miss")
        run_stage("%%stage h\nx = 1", "miss")
        run_stage("%%stage f --force\nx = 1", "miss")
        times: dict[str, list[float]] = {"plain": [], "miss": [], "hit": [], "force": []}
        for i in range(sizes.overhead_reps):
            times["plain"].append(run_cell(f"x = {i}")[0])
            times["miss"].append(run_stage(f"%%stage s\nx = {i}", "miss"))
            times["hit"].append(run_stage("%%stage h\nx = 1", "hit"))
            times["force"].append(run_stage("%%stage f --force\nx = 1", "miss"))
        if profile:  # before the filler stages below, so it profiles the cells measured above
            profile_paths(max(20, sizes.overhead_reps // 4))
        many = hit_with_many_stages(30, max(20, sizes.overhead_reps // 4))
    out = {kind: median(values) for kind, values in times.items()}
    out["many_hit"], out["many_plain"] = many
    for kind in ("miss", "hit", "force"):
        out[f"{kind}_overhead"] = out[kind] - out["plain"]
    out["many_hit_overhead"] = out["many_hit"] - out["many_plain"]
    show("plain cell `x = i` (no magic), median", fmt_seconds(out["plain"]))
    show("miss: %%stage s / `x = i`, a new constant each time", fmt_seconds(out["miss"]))
    show("hit: %%stage h / `x = 1`, restored", fmt_seconds(out["hit"]))
    show("%%stage f --force / `x = 1` (info)", fmt_seconds(out["force"]))
    for kind in ("miss", "hit", "force"):
        show(f"overhead, {kind} (median - plain median)", fmt_seconds(out[f"{kind}_overhead"]))
    show("overhead, hit, with 30 more stages in mlops.lock (info)", fmt_seconds(out["many_hit_overhead"]))
    for kind in ("miss", "hit"):
        values = sorted(times[kind])
        show(f"{kind}: min / p90 / max", " / ".join(fmt_seconds(v) for v in (
            values[0], values[int(0.9 * (len(values) - 1))], values[-1])))
    return out


def hit_with_many_stages(extra: int, reps: int) -> tuple[float, float]:
    """Median (hit, plain) once ``extra`` more stages are in the lock file."""
    for k in range(extra):
        run_stage(f"%%stage filler_{k}\nfill_{k} = {k}", "miss")
    hits, plains = [], []
    for i in range(reps):
        plains.append(run_cell(f"x = {i}")[0])
        hits.append(run_stage("%%stage h\nx = 1", "hit"))
    return median(hits), median(plains)


def profile_paths(reps: int) -> None:
    """cProfile of the hit and miss paths: the top entries by cumulative time, per cell."""
    for kind in ("hit", "miss"):
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(reps):
            if kind == "hit":
                run_stage("%%stage h\nx = 1", "hit")
            else:
                run_stage(f"%%stage s\nx = {10_000 + i}", "miss")
        profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("cumulative").print_stats(r"mlops_jupyter|yaml/__init__|argparse.py.*(parse_args|__init__)", 30)
        print(f"\n  --- cProfile, {kind} path, {reps} cells (times are totals; divide by {reps}) ---")
        body = stream.getvalue()
        print("\n".join(line for line in body.splitlines() if line.strip() and "Ordered by" not in line))


# --- (b) restores of big variables ------------------------------------------------------


def bench_restores(sizes: Sizes) -> dict:
    array_mb = fmt_mb(sizes.array_n * 8)
    heading(f"(b) restoring a {array_mb} array and a {fmt_mb(sizes.frame_rows * FRAME_COLUMNS * 8)} DataFrame")
    out = {}
    with fresh_project("restore") as folder:
        shell()
        run_cell("import numpy as np\nimport pandas as pd")
        import numpy as np
        import pandas as pd

        array_code = f"arr = np.random.default_rng(0).random({sizes.array_n})"
        out["array"] = restore_case(
            folder, "make_array", array_code, "arr", sizes.restore_reps,
            write=lambda value, path: np.save(path, value), read=np.load, suffix=".npy",
            same=lambda a, b: np.array_equal(a, b),
        )
        report_restore("array", out["array"], "np.load")
        frame_code = (
            f"frame = pd.DataFrame(np.random.default_rng(0).random(({sizes.frame_rows}, {FRAME_COLUMNS})),"
            f" columns=[f'c{{i}}' for i in range({FRAME_COLUMNS})])"
        )
        out["frame"] = restore_case(
            folder, "make_frame", frame_code, "frame", sizes.restore_reps,
            write=lambda value, path: value.to_parquet(path, engine="pyarrow"),
            read=lambda path: pd.read_parquet(path, engine="pyarrow"), suffix=".parquet",
            same=lambda a, b: a.equals(b),
        )
        report_restore("DataFrame", out["frame"], "pd.read_parquet")
    return out


def memory_bytes(value) -> int:
    if hasattr(value, "memory_usage"):  # a DataFrame
        return int(value.memory_usage(index=True).sum())
    return int(value.nbytes)


def restore_case(folder: Path, stage: str, code: str, var: str, reps: int, *, write, read, suffix: str, same) -> dict:
    """Miss, first restore (checked against the original), then timed restores and reads, alternating.

    Nothing else big is alive while either is timed, so both allocate into the same memory state.
    """
    ns = _SHELL.user_ns
    plain = run_cell(code)[0]
    del ns[var]
    cell = f"%%stage {stage}\n{code}"
    miss = run_stage(cell, "miss")
    nbytes = memory_bytes(ns[var])
    ref_path = folder / f"reference{suffix}"
    write(ns[var], ref_path)
    original = ns.pop(var)
    first_restore = run_stage(cell, "hit")
    restored_ok = bool(same(ns[var], original))
    del original
    read(ref_path)  # warm-up: page cache
    restores, reads = [], []
    for _ in range(reps):
        ns.pop(var, None)
        gc.collect()
        restores.append(run_stage(cell, "hit"))
        ns.pop(var)
        gc.collect()
        seconds, value = timed(lambda: read(ref_path))
        reads.append(seconds)
        del value
    gc.collect()
    return {
        "nbytes": nbytes, "plain": plain, "miss": miss, "first_restore": first_restore,
        "restore": median(restores), "reference": median(reads), "restored_ok": restored_ok,
        "ratio": ratio(median(restores), median(reads)), "file_bytes": ref_path.stat().st_size,
    }


def report_restore(what: str, res: dict, reader: str) -> None:
    show(f"{what}: in memory / reference file on disk", f"{fmt_mb(res['nbytes'])} / {fmt_mb(res['file_bytes'])}")
    show(f"{what}: plain cell (no magic, info)", fmt_seconds(res["plain"]))
    show(f"{what}: miss, first run (info)", fmt_seconds(res["miss"]))
    show(f"{what}: first restore, object re-hashed once (info)", fmt_seconds(res["first_restore"]))
    show(f"{what}: restore (ip.run_cell), median", fmt_seconds(res["restore"]))
    show(f"{what}: {reader}, median", fmt_seconds(res["reference"]))
    show(f"{what}: restore / {reader} (target <= {TARGET_RESTORE_RATIO}x)", fmt_ratio(res["ratio"]))
    show(f"{what}: restored value equals the original", "yes" if res["restored_ok"] else "NO")


# --- (c) hashing a big file --------------------------------------------------------------


def write_random_file(path: Path, nbytes: int) -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    chunk = 64 << 20
    with open(path, "wb") as f:
        left = nbytes
        while left > 0:
            f.write(rng.bytes(min(chunk, left)))
            left -= chunk


def cat_seconds(path: Path) -> float:
    t0 = perf_counter()
    subprocess.run(f"cat '{path}' > /dev/null", shell=True, check=True)
    return perf_counter() - t0


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def bench_big_file(sizes: Sizes) -> dict:
    size = sizes.big_file_bytes
    heading(f"(c) fingerprinting a {size / (1 << 30):g} GiB dep file (page cache warm)")
    from mlops_jupyter.core.hashing import FileHasher
    from mlops_jupyter.core.objects import hash_file
    from mlops_jupyter.core.store import RunStore

    reps = sizes.hash_reps
    with fresh_project("bigfile") as folder:
        path = folder / "big.bin"
        write_seconds, _ = timed(lambda: write_random_file(path, size))
        show("writing the file (info)", fmt_seconds(write_seconds))
        store = RunStore(folder / ".mlops" / "runs.db")
        try:
            cat_seconds(path)  # warm-up: page cache
            cats = [cat_seconds(path) for _ in range(reps)]
            hasher = FileHasher(store)
            firsts = []
            for rep in range(reps):
                st = path.stat()  # a new mtime: the stat cache misses, the page cache stays warm
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000 * (rep + 1)))
                firsts.append(timed(lambda: hasher.hash_path(path))[0])
            seconds = [timed(lambda: FileHasher(store).hash_path(path))[0] for _ in range(max(5, reps))]
            raws = [timed(lambda: hash_file(path))[0] for _ in range(reps)]
            md5s = [timed(lambda: md5_file(path))[0] for _ in range(reps)]
        finally:
            store.close()
            path.unlink(missing_ok=True)
    gb = size / 1e9
    out = {
        "bytes": size, "cat": median(cats), "first": median(firsts), "second": median(seconds),
        "raw": median(raws), "md5": median(md5s),
    }
    for key in ("cat", "first", "raw", "md5"):
        out[f"{key}_gbs"] = gb / out[key]
    out["ratio"] = ratio(out["first_gbs"], out["cat_gbs"])
    show(f"cat FILE > /dev/null, median of {reps}", f"{fmt_seconds(out['cat'])}  ({fmt_gbs(out['cat_gbs'])})")
    show("FileHasher.hash_path, cold stat cache, median", f"{fmt_seconds(out['first'])}  ({fmt_gbs(out['first_gbs'])})")
    show(f"hash_path speed / cat speed (target >= {TARGET_HASH_VS_CAT})", fmt_ratio(out["ratio"]))
    show("FileHasher.hash_path, second pass (stat-cache hit)", fmt_seconds(out["second"]))
    show("objects.hash_file, raw BLAKE3, no stat cache (info)", f"{fmt_seconds(out['raw'])}  ({fmt_gbs(out['raw_gbs'])})")
    show("hashlib.md5, 1 MiB reads (DVC's hash, info)", f"{fmt_seconds(out['md5'])}  ({fmt_gbs(out['md5_gbs'])})")
    return out


# --- (d) an unchanged folder of 10,000 small files ------------------------------------------


def make_small_files(root: Path, folders: int, per_folder: int) -> int:
    count = 0
    for d in range(folders):
        sub = root / f"part{d:03d}"
        sub.mkdir(parents=True)
        for f in range(per_folder):
            (sub / f"file{f:03d}.txt").write_bytes(f"{d},{f}\n".encode() + os.urandom(1016))
            count += 1
    return count


def dvc(*args: str, cwd: Path, check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    t0 = perf_counter()
    done = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = perf_counter() - t0
    if check and done.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done


def bench_small_files(sizes: Sizes) -> dict:
    total = sizes.dir_folders * sizes.dir_files_per_folder
    heading(f"(d) re-checking an unchanged folder of {total:,} files of 1 KB")
    from mlops_jupyter.core.hashing import FileHasher
    from mlops_jupyter.core.store import RunStore

    out: dict[str, Any] = {"files": total}
    with fresh_project("smallfiles") as folder:
        data = folder / "data"
        make_small_files(data, sizes.dir_folders, sizes.dir_files_per_folder)
        dvc("init", "--no-scm", "-q", cwd=folder)
        dvc("config", "core.analytics", "false", cwd=folder)
        dvc("config", "core.check_update", "false", cwd=folder)
        out["dvc_add"], _ = dvc("add", "-q", "data", cwd=folder)
        store = RunStore(folder / ".mlops" / "runs.db")
        try:
            out["first"], first = timed(lambda: FileHasher(store).hash_path(data))
            seconds = [timed(lambda: FileHasher(store).hash_path(data))[0] for _ in range(5)]
            out["second"] = median(seconds)
            out["hashed_files"] = len(first.manifest)
        finally:
            store.close()
        _, warm = dvc("status", cwd=folder)  # warm-up: DVC's own state db, imports
        out["dvc_says"] = (warm.stdout.strip().splitlines() or ["(nothing)"])[-1]
        out["dvc_status"] = median([dvc("status", cwd=folder)[0] for _ in range(sizes.dvc_reps)])
        out["dvc_version"] = median([dvc("--version", cwd=folder)[0] for _ in range(sizes.dvc_reps)])
        shell()
        cell = "%%stage scan -d data\nscanned = 1"
        out["stage_miss"] = run_stage(cell, "miss")
        out["stage_hit"] = median([run_stage(cell, "hit") for _ in range(5)])
    out["ratio"] = ratio(out["dvc_status"], out["second"])
    show("dvc add data (info)", fmt_seconds(out["dvc_add"]))
    show(f"hash_path(data), first pass ({out['hashed_files']:,} files hashed; info)", fmt_seconds(out["first"]))
    show("hash_path(data), second pass, stat cache warm, median of 5", fmt_seconds(out["second"]))
    show(f"dvc status, median of {sizes.dvc_reps}", f"{fmt_seconds(out['dvc_status'])}  ({out['dvc_says']})")
    show("dvc --version: DVC's start-up alone (info)", fmt_seconds(out["dvc_version"]))
    show(f"dvc status / hash_path second pass (target >= {TARGET_DVC_STATUS_RATIO:g}x)", fmt_ratio(out["ratio"]))
    show("%%stage scan -d data: miss, stat cache already warm (info)", fmt_seconds(out["stage_miss"]))
    show("%%stage scan -d data: hit, median of 5 (info)", fmt_seconds(out["stage_hit"]))
    return out


# --- (e) the example notebook, cached against plain -------------------------------------------

PLAIN_RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, kernel_name="python3", allow_errors=True, record_timing=True,
                        resources={"metadata": {"path": sys.argv[3]}})
client.execute()
nbformat.write(nb, sys.argv[2])
"""

PARAMS_CELL = """\
# Added by bench_stage.py: what %%stage would inject, built from params.yaml.
import json as _json
from types import SimpleNamespace as _NS
import yaml as _yaml
params = _json.loads(_json.dumps(_yaml.safe_load(open("params.yaml"))), object_hook=lambda d: _NS(**d))"""


def copy_example(folder: Path) -> None:
    (folder / ".mlops").mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "wine.ipynb", folder / "wine.ipynb")
    shutil.copy(EXAMPLES / "params.yaml", folder / "params.yaml")
    shutil.copy(EXAMPLES / ".mlops" / "config.toml", folder / ".mlops" / "config.toml")


def stage_name(source: str) -> str | None:
    first = source.lstrip("\n").split("\n", 1)[0].split()
    return first[1] if len(first) > 1 and first[0] == "%%stage" else None


def make_plain_notebook(source: Path, target: Path) -> list[str]:
    """The notebook without its %%stage lines, ``params`` built in a first cell; returns the stage names."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    names = []
    for cell in nb.cells:
        if cell.cell_type == "code" and (name := stage_name(cell.source)):
            cell.source = cell.source.lstrip("\n").split("\n", 1)[1]
            cell.metadata["bench_stage"] = name
            names.append(name)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PARAMS_CELL))
    nbformat.write(nb, target)
    return names


def cell_seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def notebook_timing(path: Path) -> dict:
    """Per-stage and total seconds of the stage cells, and of all cells, from nbclient's timestamps."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    stages, all_cells, errors = {}, 0.0, []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        seconds = cell_seconds(cell) or 0.0
        all_cells += seconds
        name = cell.metadata.get("bench_stage") or stage_name(cell.source)
        if name:
            stages[name] = seconds
        errors += [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return {"stages": stages, "stage_total": sum(stages.values()), "all_cells": all_cells, "errors": errors}


def run_cached(folder: Path) -> tuple[float, str]:
    env = {**os.environ, "MLOPS_JUPYTER_DIR": str(folder)}
    command = [str(BIN / "mlops-jupyter"), "run", "wine.ipynb", "-q", "-o", "out.ipynb"]
    t0 = perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"mlops-jupyter run failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds, done.stdout.strip().splitlines()[-1]


def run_plain(folder: Path) -> float:
    env = {**os.environ, "MLOPS_JUPYTER_DIR": str(folder)}
    command = [sys.executable, "-c", PLAIN_RUNNER, "plain.ipynb", "out.ipynb", str(folder)]
    t0 = perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    seconds = perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"the plain notebook failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds


def bench_notebook(sizes: Sizes) -> dict:
    heading("(e) mlops-jupyter run examples/wine.ipynb: fully cached vs without the magic")
    reps = sizes.notebook_reps
    out: dict[str, Any] = {}
    with fresh_project("notebook") as folder:
        cached, plain = folder / "cached", folder / "plain"
        copy_example(cached)
        copy_example(plain)
        names = make_plain_notebook(plain / "wine.ipynb", plain / "plain.ipynb")
        out["fill"], out["fill_says"] = run_cached(cached)
        out["fill_timing"] = notebook_timing(cached / "out.ipynb")
        walls, timings, says = [], [], ""
        for _ in range(reps):
            seconds, says = run_cached(cached)
            walls.append(seconds)
            timings.append(notebook_timing(cached / "out.ipynb"))
        plain_walls, plain_timings = [], []
        for _ in range(reps):
            plain_walls.append(run_plain(plain))
            plain_timings.append(notebook_timing(plain / "out.ipynb"))
    out["cached_says"] = says
    out["cached_wall"], out["plain_wall"] = median(walls), median(plain_walls)
    out["cached_stages"] = median([t["stage_total"] for t in timings])
    out["plain_stages"] = median([t["stage_total"] for t in plain_timings])
    out["cached_cells"] = median([t["all_cells"] for t in timings])
    out["plain_cells"] = median([t["all_cells"] for t in plain_timings])
    out["per_stage"] = {n: (median([t["stages"].get(n, 0.0) for t in timings]),
                            median([t["stages"].get(n, 0.0) for t in plain_timings])) for n in names}
    out["plain_errors"] = sorted(set(e for t in plain_timings for e in t["errors"]))
    out["wall_ratio"] = ratio(out["plain_wall"], out["cached_wall"])
    out["stage_ratio"] = ratio(out["plain_stages"], out["cached_stages"])
    show("first run, fills the cache (info)", f"{fmt_seconds(out['fill'])}  ({out['fill_says']})")
    show(f"cached run, wall, median of {reps}", f"{fmt_seconds(out['cached_wall'])}  ({says})")
    show(f"plain notebook (NotebookClient), wall, median of {reps}", fmt_seconds(out["plain_wall"]))
    show("wall ratio plain / cached (info: kernel start-up dominates)", fmt_ratio(out["wall_ratio"]))
    show("all cells, cached / plain (info)", f"{fmt_seconds(out['cached_cells'])} / {fmt_seconds(out['plain_cells'])}")
    for name, (c, p) in out["per_stage"].items():
        show(f"stage {name}: cached / plain", f"{fmt_seconds(c)} / {fmt_seconds(p)}  ({fmt_ratio(ratio(p, c))})")
    show("stage cells, cached", fmt_seconds(out["cached_stages"]))
    show("stage cells, plain", fmt_seconds(out["plain_stages"]))
    show(f"stage cells plain / cached (target >= {TARGET_NOTEBOOK_RATIO:g}x)", fmt_ratio(out["stage_ratio"]))
    if out["plain_errors"]:
        show("errors in the plain copy (its last cell queries evaluate runs)", ", ".join(out["plain_errors"]))
    return out


# --- summary -----------------------------------------------------------------------------------


def marker(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def summary(a: dict | None, b: dict | None, c: dict | None, d: dict | None, e: dict | None) -> None:
    heading("summary")
    rows: list[list[str]] = []

    def row(figure: str, value: str, target: str, ok: bool | None | str) -> None:
        rows.append([figure, value, target, ok if isinstance(ok, str) else marker(ok)])

    limit = f"<= {fmt_seconds(TARGET_OVERHEAD_S)}"
    if a:
        row("(a) plain cell x = i, median", fmt_seconds(a["plain"]), "", "info")
        row("(a) miss, %%stage with magic, median", fmt_seconds(a["miss"]), "", "info")
        row("(a) hit, %%stage with magic, median", fmt_seconds(a["hit"]), "", "info")
        row("(a) overhead, miss (median - plain)", fmt_seconds(a["miss_overhead"]), limit,
            at_most(a["miss_overhead"], TARGET_OVERHEAD_S))
        row("(a) overhead, hit (median - plain)", fmt_seconds(a["hit_overhead"]), limit,
            at_most(a["hit_overhead"], TARGET_OVERHEAD_S))
        row("(a) overhead, --force", fmt_seconds(a["force_overhead"]), "", "info")
        row("(a) overhead, hit, 32 stages in mlops.lock", fmt_seconds(a["many_hit_overhead"]), "", "info")
    else:
        row("(a) overhead", "n/a", limit, None)
    for key, what, reader in (("array", "array", "np.load"), ("frame", "DataFrame", "read_parquet")):
        res = (b or {}).get(key)
        if res:
            size = fmt_mb(res["nbytes"])
            row(f"(b) {size} {what}: miss (first run)", fmt_seconds(res["miss"]), "", "info")
            row(f"(b) {size} {what}: restore", fmt_seconds(res["restore"]), "", "info")
            row(f"(b) {size} {what}: {reader}", fmt_seconds(res["reference"]), "", "info")
            row(f"(b) {what}: restore / {reader}", fmt_ratio(res["ratio"]), f"<= {TARGET_RESTORE_RATIO}x",
                at_most(res["ratio"], TARGET_RESTORE_RATIO) if res["restored_ok"] else False)
        else:
            row(f"(b) {what}: restore / {reader}", "n/a", f"<= {TARGET_RESTORE_RATIO}x", None)
    if c:
        size = f"{c['bytes'] / (1 << 30):g} GiB"
        row(f"(c) {size}: cat > /dev/null", fmt_gbs(c["cat_gbs"]), "", "info")
        row(f"(c) {size}: hash_path, cold stat cache", fmt_gbs(c["first_gbs"]), "", "info")
        row("(c) hash_path speed / cat speed", fmt_ratio(c["ratio"]), f">= {TARGET_HASH_VS_CAT}x",
            at_least(c["ratio"], TARGET_HASH_VS_CAT))
        row("(c) hash_path, second pass (stat-cache hit)", fmt_seconds(c["second"]), "", "info")
        row("(c) raw BLAKE3 hash_file", fmt_gbs(c["raw_gbs"]), "", "info")
        row("(c) hashlib.md5 (DVC)", fmt_gbs(c["md5_gbs"]), "", "info")
    else:
        row("(c) hash_path speed / cat speed", "n/a", f">= {TARGET_HASH_VS_CAT}x", None)
    if d:
        files = f"{d['files']:,} files"
        row(f"(d) {files}: hash_path first pass", fmt_seconds(d["first"]), "", "info")
        row(f"(d) {files}: hash_path second pass", fmt_seconds(d["second"]), "", "info")
        row(f"(d) {files}: dvc status", fmt_seconds(d["dvc_status"]), "", "info")
        row("(d) dvc status / hash_path second pass", fmt_ratio(d["ratio"]), f">= {TARGET_DVC_STATUS_RATIO:g}x",
            at_least(d["ratio"], TARGET_DVC_STATUS_RATIO))
        row(f"(d) {files}: %%stage -d data, hit", fmt_seconds(d["stage_hit"]), "", "info")
    else:
        row("(d) dvc status / hash_path second pass", "n/a", f">= {TARGET_DVC_STATUS_RATIO:g}x", None)
    if e:
        row("(e) wall: mlops-jupyter run, all cached", fmt_seconds(e["cached_wall"]), "", "info")
        row("(e) wall: plain notebook", fmt_seconds(e["plain_wall"]), "", "info")
        row("(e) wall ratio plain / cached", fmt_ratio(e["wall_ratio"]), "", "info")
        row("(e) stage cells: cached", fmt_seconds(e["cached_stages"]), "", "info")
        row("(e) stage cells: plain", fmt_seconds(e["plain_stages"]), "", "info")
        row("(e) stage cells plain / cached", fmt_ratio(e["stage_ratio"]), f">= {TARGET_NOTEBOOK_RATIO:g}x",
            at_least(e["stage_ratio"], TARGET_NOTEBOOK_RATIO))
    else:
        row("(e) stage cells plain / cached", "n/a", f">= {TARGET_NOTEBOOK_RATIO:g}x", None)
    print(table(["figure", "value", "target", "result"], rows))


def describe(sizes: Sizes, quick: bool) -> None:
    import blake3
    import IPython

    print(f"bench_stage.py ({'quick' if quick else 'full'}): Python {platform.python_version()}, "
          f"IPython {IPython.__version__}, blake3 {blake3.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.platform()}")
    dvc_version = "not found"
    if (BIN / "dvc").exists():
        done = subprocess.run([str(BIN / "dvc"), "--version"], capture_output=True, text=True,
                              env={**os.environ, "DVC_NO_ANALYTICS": "1"})
        dvc_version = done.stdout.strip() or done.stderr.strip()
    print(f"dvc: {dvc_version}; temp folders under {tempfile.gettempdir()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a quick check that everything works")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the (a) hit and miss paths")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    try:
        describe(sizes, args.quick)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    a = guarded("(a) overhead", lambda: bench_overhead(sizes, args.profile))
    b = guarded("(b) restores", lambda: bench_restores(sizes))
    c = guarded("(c) big file", lambda: bench_big_file(sizes))
    d = guarded("(d) small files", lambda: bench_small_files(sizes))
    e = guarded("(e) notebook", lambda: bench_notebook(sizes))
    guarded("summary", lambda: summary(a, b, c, d, e))
    return 0


if __name__ == "__main__":
    try:
        main()
    except BaseException:  # noqa: BLE001 - a benchmark never fails
        traceback.print_exc()
    sys.exit(0)

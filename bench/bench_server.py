"""The sidebar's REST API under load: GET runs with 10,000 runs x 20 params x 10 metrics.

    .venv/bin/python bench/bench_server.py [--runs 10000]

Fills a fresh project's store, starts a real `jupyter server` on a free loopback port with the
extension, and times requests from this process (p50 / p90 of 50, after 5 warm-ups): a first page
(limit=100, newest first — what the sidebar asks first), a page sorted by a metric, a page with a
filter, a deep page (offset 9,000), one run in full, histories of 5 runs, and `state`; then 200
concurrent GET runs (first page) sent at once, each timed from the start of the burst, to show whether
requests wait for each other. Target: GET runs p50 <= 150 ms. Always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from common import start_jupyter

from mlops_jupyter.core.environment import capture
from mlops_jupyter.core.project import init_project
from mlops_jupyter.core.store import RunStore

TOKEN = "bench-token"


def fill(root: Path, runs: int) -> list[str]:
    project, _ = init_project(root)
    env = capture(root)
    rng = random.Random(0)
    ids = []
    with RunStore(project.db_path) as store:
        for i in range(runs):
            run = store.create_run("bench", environment=env, stage=f"stage{i % 4}", start_time=1_700_000_000_000 + i)
            store.log_params(run.id, {f"p{j}": rng.randrange(100) if j % 2 else rng.random() for j in range(20)})
            store.log_metric_points([(run.id, f"m{k}", s, rng.random(), 1_700_000_000_000 + s)
                                     for k in range(10) for s in range(3)])
            store.end_run(run.id, "finished", end_time=1_700_000_000_500 + i)
            ids.append(run.id)
    return ids


def get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def timed(url: str, repeats: int = 50) -> tuple[float, float, int]:
    for _ in range(5):
        body = get(url)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        body = get(url)
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)], len(body)


def burst(url: str, concurrent: int) -> tuple[float, float, float]:
    """``concurrent`` GETs sent at once: p50 and p90 of their latencies and the wall time of the burst."""
    from tornado.httpclient import AsyncHTTPClient

    async def run() -> tuple[list[float], float]:
        client = AsyncHTTPClient(force_instance=True, max_clients=concurrent)
        headers = {"Authorization": f"token {TOKEN}"}

        async def one() -> float:
            started = time.perf_counter()
            await client.fetch(url, headers=headers, request_timeout=300, connect_timeout=300)
            return time.perf_counter() - started

        await asyncio.gather(*(one() for _ in range(10)))  # warm up
        started = time.perf_counter()
        times = sorted(await asyncio.gather(*(one() for _ in range(concurrent))))
        wall = time.perf_counter() - started
        client.close()
        return times, wall

    times, wall = asyncio.run(run())
    return statistics.median(times), times[int(len(times) * 0.9)], wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--concurrent", type=int, default=200)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-server-"))
    started = time.perf_counter()
    ids = fill(root, args.runs)
    print(f"store: {args.runs:,} runs x 20 params x 10 metrics (x3 steps) in {time.perf_counter() - started:.1f} s")
    server, root_url = start_jupyter("server", root, TOKEN, "--ServerApp.jpserver_extensions={'mlops_jupyter': True}")
    base = f"{root_url}/mlops-jupyter"
    try:
        cases = [
            ("GET runs, first page (limit=100)", f"{base}/runs?limit=100"),
            ("GET runs, sorted by metrics.m3", f"{base}/runs?limit=100&sort=metrics.m3%20DESC"),
            ("GET runs, filtered", f"{base}/runs?limit=100&filter=metrics.m0%20%3C%200.5%20and%20params.p1%20%3E%2050"),
            ("GET runs, offset 9,000", f"{base}/runs?limit=100&offset={max(0, args.runs - 1000)}"),
            ("GET runs/<id> (one run in full)", f"{base}/runs/{ids[-1]}"),
            ("GET metrics (5 runs)", f"{base}/metrics?runs={','.join(ids[:5])}"),
            ("GET state", f"{base}/state"),
        ]
        print(f"\n{'request':<36}{'p50':>10}{'p90':>10}{'bytes':>10}")
        for label, url in cases:
            p50, p90, size = timed(url)
            print(f"{label:<36}{p50 * 1000:>8.1f}ms{p90 * 1000:>8.1f}ms{size:>10,}")
        p50, p90, wall = burst(f"{base}/runs?limit=100", args.concurrent)
        print(f"\n{args.concurrent} concurrent GET runs (first page): p50 {p50 * 1000:.0f} ms, "
              f"p90 {p90 * 1000:.0f} ms, all answered in {wall:.2f} s")
        total = json.loads(get(f"{base}/runs?limit=1"))["total"]
        print(f"\n(total runs the API reports: {total:,}; target: GET runs p50 <= 150 ms)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

"""`mlops-jupyter status` on the example notebook against `dvc status` on its export, in one run.

    .venv/bin/python bench/bench_status.py      # needs DVC (the `bench` or `test` extra)

Copies examples/ to a temporary folder, runs the notebook once (so every stage is fresh), exports it
to DVC and runs `dvc repro` once (so DVC is up to date too), then times each status command
(median of 10, wall time of the whole process, as a user waits for it). Always exits 0.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def timed(command: list[str], cwd: Path, repeats: int = 10) -> tuple[float, str]:
    times, output = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=ENV)
        times.append(time.perf_counter() - started)
        output = result.stdout + result.stderr
    return statistics.median(times), output


ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-status-")) / "wine"
    shutil.copytree(ROOT / "examples", folder,
                    ignore=shutil.ignore_patterns("runs.db*", "cache", "eval", "out", "mlops.lock", "*.lck"))
    mj = str(BIN / "mlops-jupyter")
    subprocess.run([mj, "run", "wine.ipynb", "-q", "-o", "executed.ipynb"], cwd=folder, check=True,
                   capture_output=True, env=ENV)
    subprocess.run([mj, "export", "wine.ipynb", "--to", "dvc"], cwd=folder, check=True, capture_output=True, env=ENV)
    subprocess.run([str(BIN / "dvc"), "init", "--no-scm", "-q"], cwd=folder, check=True, env=ENV)
    subprocess.run([str(BIN / "dvc"), "repro", "-q"], cwd=folder, check=True, capture_output=True, env=ENV)
    ours, our_output = timed([mj, "status", "wine.ipynb"], folder)
    theirs, their_output = timed([str(BIN / "dvc"), "status"], folder)
    print("mlops-jupyter status wine.ipynb:", our_output.strip().replace("\n", " | "))
    print("dvc status:", their_output.strip().replace("\n", " | "))
    print(f"\n{'command':<32}{'median of 10':>14}")
    print(f"{'mlops-jupyter status':<32}{ours * 1000:>11.0f} ms")
    print(f"{'dvc status (3-stage export)':<32}{theirs * 1000:>11.0f} ms")
    print(f"ratio: mlops-jupyter status is {theirs / ours:.1f}x faster")
    shutil.rmtree(folder.parent, ignore_errors=True)


if __name__ == "__main__":
    main()

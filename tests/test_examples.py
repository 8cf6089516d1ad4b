"""The documented example notebooks cannot rot: nbval re-runs them against their committed outputs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize("notebook", sorted(p.name for p in EXAMPLES.glob("*.ipynb")))
def test_example_notebook_matches_its_committed_outputs(tmp_path, notebook):
    # A clean copy: no run store, no cache, so every stage really runs.
    shutil.copytree(EXAMPLES, tmp_path / "examples",
                    ignore=shutil.ignore_patterns("runs.db*", "cache", "eval", "mlops.lock", "*.lck"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", notebook, "--nbval-sanitize-with", "sanitize.cfg",
         "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path / "examples", capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert (tmp_path / "examples" / "mlops.lock").exists()  # the stages ran for real

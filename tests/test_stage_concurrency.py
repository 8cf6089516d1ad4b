"""Two kernels running the same stage, or stages writing the same out, at the same moment: the
cache never holds a result mixed from both (a variable from one, a file from the other)."""

import subprocess
import sys
import time
from pathlib import Path

KERNEL = """
import os, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.history import HistoryAccessor
HistoryAccessor.enabled = False
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "mlops_jupyter")
tag = os.environ["TAG"] = sys.argv[1]
cell = sys.argv[2]
result = ip.run_cell(cell)
print("ok" if result.success else "failed", ip.user_ns.get("who"), flush=True)
"""

SLOW_STAGE = """%%stage write{extra} -o shared.txt
import os, time
from pathlib import Path
Path('started-' + os.environ['TAG']).write_text('')
Path('shared.txt').write_text(os.environ['TAG'] + '-' + 'x' * 1000)
time.sleep(1.5)
who = {who}
"""


def kernel(project, tag: str, cell: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KERNEL, tag, cell], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def finish(proc) -> tuple[str, str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.splitlines()[-1].split(), err  # the last line: status and `who`


def restore_in_a_third_kernel(project, cell: str) -> tuple[str, str]:
    Path(project.root / "shared.txt").unlink()
    (status, who), _ = finish(kernel(project, "C", cell))
    assert status == "ok"
    return who, (project.root / "shared.txt").read_text()


def test_same_stage_in_two_kernels_runs_once(project):
    cell = SLOW_STAGE.format(extra="", who="open('shared.txt').read()[:1]")
    first = kernel(project, "A", cell)
    wait_for(project.root / "started-A")
    second = kernel(project, "B", cell)
    (status_a, who_a), _ = finish(first)
    (status_b, who_b), err_b = finish(second)
    assert status_a == status_b == "ok"
    assert not (project.root / "started-B").exists(), err_b  # B waited, then restored A's result
    assert who_a == who_b == "A"
    assert "waits: another process is running the same stage" in err_b
    who, text = restore_in_a_third_kernel(project, cell)
    assert who == "A" and text.startswith("A-")


def test_two_stages_writing_one_out_do_not_mix(project):
    cell = SLOW_STAGE.format(extra=" --desc {tag}", who="'{tag}'")
    first = kernel(project, "A", cell.format(tag="A"))
    wait_for(project.root / "started-A")
    second = kernel(project, "B", cell.format(tag="B"))
    (_, who_a), _ = finish(first)
    (_, who_b), err_b = finish(second)
    assert (who_a, who_b) == ("A", "B")
    assert "waits: another process is writing shared.txt" in err_b
    for tag in "AB":  # each cached result is whole: its variable and its file from the same run
        who, text = restore_in_a_third_kernel(project, cell.format(tag=tag))
        assert who == tag and text.startswith(f"{tag}-")

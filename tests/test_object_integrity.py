"""Cache objects are never trusted blindly: rewrites replace corrupt copies, and whatever could run
code on restore (pickles, manifests, replayed outputs) is hashed in full every time, even when an
altered file kept its size and modification time."""

import os
import pickle
from pathlib import Path

import numpy as np

from mlops_jupyter.core.objects import ObjectStore

BUMP = "from pathlib import Path as _P; _P('counter.txt').write_text(str(int(_P('counter.txt').read_text()) + 1 if _P('counter.txt').exists() else 1))\n"


def counter() -> int:
    return int(Path("counter.txt").read_text()) if Path("counter.txt").exists() else 0


def objects_of(project, predicate):
    return [p for p in project.cache_dir.rglob("*") if p.is_file() and not p.name.startswith(".") and predicate(p.read_bytes())]


def overwrite_keeping_stat(path: Path, data: bytes) -> None:
    """Change a file's bytes in place while keeping its size, inode and times (bit rot, a careless tool)."""
    st = path.stat()
    assert len(data) == st.st_size
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(data)
    os.chmod(path, st.st_mode)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_ino == st.st_ino


def test_force_rewrite_replaces_a_corrupt_object(shell, project):
    shell.user_ns["np"] = np
    cell = "%%stage arr{flags}\n" + BUMP + "a = np.arange(1000, dtype=float)"
    assert shell.run_cell(cell.format(flags="")).success
    [npy] = objects_of(project, lambda b: b[:6] == b"\x93NUMPY")
    data = bytearray(npy.read_bytes())
    data[-8 * 500:-8 * 499] = np.float64(31.25).tobytes()  # a[500] = 31.25
    overwrite_keeping_stat(npy, bytes(data))
    assert shell.run_cell(cell.format(flags=" --force")).success  # writes the same object again
    assert counter() == 2
    shell.user_ns.pop("a")
    assert shell.run_cell(cell.format(flags="")).success
    assert counter() == 2  # restored
    assert shell.user_ns["a"][500] == 500.0
    assert ObjectStore(project.cache_dir).is_sound(npy.parent.name + npy.name)


def test_objects_put_again_verify_the_existing_copy(tmp_path):
    objects = ObjectStore(tmp_path)
    digest, _ = objects.put_bytes(b"sound bytes!")
    overwrite_keeping_stat(objects.path(digest), b"rotten bytes")
    assert not objects.is_sound(digest)
    objects.put_bytes(b"sound bytes!")
    assert objects.path(digest).read_bytes() == b"sound bytes!"


class Planted:
    def __reduce__(self):
        return (exec, ("open('pwned.txt', 'w').write('code ran')",))


def test_a_planted_pickle_with_kept_stat_is_never_unpickled(shell, project, capsys):
    shell.run_cell("class Box:\n    def __init__(self, v):\n        self.v = v")
    cell = "%%stage boxed\n" + BUMP + "box = Box('x' * 400)"
    assert shell.run_cell(cell).success
    [pickled] = objects_of(project, lambda b: b[:1] == b"\x80" and b"Box" in b)
    crafted = pickle.dumps(Planted(), protocol=5)
    crafted += b"." * (pickled.stat().st_size - len(crafted))  # bytes after STOP are never read
    overwrite_keeping_stat(pickled, crafted)
    shell.user_ns.pop("box")
    capsys.readouterr()
    assert shell.run_cell(cell).success
    assert not Path("pwned.txt").exists()
    assert counter() == 2  # the altered result was refused: the stage ran again
    assert "unusable" in capsys.readouterr().err
    assert shell.user_ns["box"].v == "x" * 400


def test_an_altered_manifest_with_kept_stat_is_refused(shell, project):
    cell = "%%stage show\n" + BUMP + "from IPython.display import HTML, display\ndisplay(HTML('<b>fine</b>'))\nz = 1"
    assert shell.run_cell(cell).success
    [manifest] = objects_of(project, lambda b: b.startswith(b"{") and b"<b>fine</b>" in b)
    text = manifest.read_bytes().replace(b"<b>fine</b>", b"<i>evil</i>")
    overwrite_keeping_stat(manifest, text)
    shell.shown.clear()
    assert shell.run_cell(cell).success
    assert counter() == 2
    assert "evil" not in repr(shell.shown)

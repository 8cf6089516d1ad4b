"""A stage that calls notebook code re-runs when anything that code depends on changes: defaults,
keyword defaults, closures, the globals it reads (through every notebook function it calls),
decorators, class members. And it hits again when nothing changed, also in a fresh kernel."""

from pathlib import Path

import pytest

BUMP = "from pathlib import Path as _P; _P('counter.txt').write_text(str(int(_P('counter.txt').read_text()) + 1 if _P('counter.txt').exists() else 1))\n"


def counter() -> int:
    return int(Path("counter.txt").read_text()) if Path("counter.txt").exists() else 0


def runs_after(shell, definitions: list[str], stage: str) -> list[int]:
    """The run counter after each (definition, stage) pair: equal neighbours mean a restore."""
    seen = []
    for code in definitions:
        assert shell.run_cell(code).success
        assert shell.run_cell(stage).success
        seen.append(counter())
    return seen


STAGE = "%%stage score\n" + BUMP + "result = score(3.0, 1.0)"


@pytest.mark.parametrize(
    "name, before, after",
    [
        ("default", "def score(a, b, squared=False):\n    d = a - b\n    return d * d if squared else abs(d)",
         "def score(a, b, squared=True):\n    d = a - b\n    return d * d if squared else abs(d)"),
        ("keyword default", "def score(a, b, *, scale=1):\n    return (a - b) * scale",
         "def score(a, b, *, scale=2):\n    return (a - b) * scale"),
        ("helper", "def diff(a, b):\n    return a - b\ndef score(a, b):\n    return diff(a, b)",
         "def diff(a, b):\n    return b - a\ndef score(a, b):\n    return diff(a, b)"),
        ("two-level helper", "def inner(x):\n    return x\ndef middle(a, b):\n    return inner(a - b)\ndef score(a, b):\n    return middle(a, b)",
         "def inner(x):\n    return -x\ndef middle(a, b):\n    return inner(a - b)\ndef score(a, b):\n    return middle(a, b)"),
        ("global constant", "SCALE = 1\ndef score(a, b):\n    return (a - b) * SCALE",
         "SCALE = 10\ndef score(a, b):\n    return (a - b) * SCALE"),
        ("global in a comprehension", "W = [1]\ndef score(a, b):\n    return sum([w * (a - b) for w in W])",
         "W = [1, 1]\ndef score(a, b):\n    return sum([w * (a - b) for w in W])"),
        ("closure", "def make(k):\n    def f(a, b):\n        return (a - b) * k\n    return f\nscore = make(1)",
         "def make(k):\n    def f(a, b):\n        return (a - b) * k\n    return f\nscore = make(2)"),
        ("decorator", "import functools\ndef twice(f):\n    @functools.wraps(f)\n    def w(*a):\n        return f(*a)\n    return w\n@twice\ndef score(a, b):\n    return a - b",
         "import functools\ndef twice(f):\n    @functools.wraps(f)\n    def w(*a):\n        return 2 * f(*a)\n    return w\n@twice\ndef score(a, b):\n    return a - b"),
        ("lru_cache", "import functools\n@functools.lru_cache\ndef score(a, b):\n    return a - b",
         "import functools\n@functools.lru_cache\ndef score(a, b):\n    return b - a"),
        ("method", "class Scorer:\n    def __call__(self, a, b):\n        return a - b\nscore = Scorer()",
         "class Scorer:\n    def __call__(self, a, b):\n        return b - a\nscore = Scorer()"),
        ("class constant", "class Scorer:\n    K = 1\n    def __call__(self, a, b):\n        return (a - b) * self.K\nscore = Scorer()",
         "class Scorer:\n    K = 3\n    def __call__(self, a, b):\n        return (a - b) * self.K\nscore = Scorer()"),
        ("base class", "class Base:\n    def k(self):\n        return 1\nclass Scorer(Base):\n    def __call__(self, a, b):\n        return (a - b) * self.k()\nscore = Scorer()",
         "class Base:\n    def k(self):\n        return 5\nclass Scorer(Base):\n    def __call__(self, a, b):\n        return (a - b) * self.k()\nscore = Scorer()"),
    ],
)
def test_what_notebook_code_depends_on_counts(shell, project, name, before, after):
    assert runs_after(shell, [before, before, after, after], STAGE) == [1, 1, 2, 2], name
    assert shell.run_cell(before).success and shell.run_cell(STAGE).success
    assert counter() == 2  # back to the first definition: its result is cached


def test_recursive_functions_hash(shell, project):
    code = "def score(a, b):\n    return score(a - 1, b) if a > b + 1 else a - b"
    assert runs_after(shell, [code, code], STAGE) == [1, 1]


def test_a_function_reading_params_hits_whichever_stage_ran_before(shell, project):
    Path("params.yaml").write_text("a: {k: 1}\nb: {k: 2}\n")
    shell.run_cell("def score(a, b):\n    return (a - b) * params.b.k")
    assert shell.run_cell("%%stage other -p a\nq = params.a.k").success
    assert shell.run_cell("%%stage score -p b\n" + BUMP + "result = score(3.0, 1.0)").success
    assert shell.run_cell("%%stage other -p a\nq = params.a.k").success
    assert shell.run_cell("%%stage score -p b\n" + BUMP + "result = score(3.0, 1.0)").success
    assert counter() == 1 and shell.user_ns["result"] == 4.0


"""The pipeline graph of a notebook, built without executing anything."""

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mlops_jupyter.core import graph_render
from mlops_jupyter.core.graph import GraphError, build


def notebook(*sources):
    return new_notebook(cells=[new_markdown_cell(s[3:]) if s.startswith("md:") else new_code_cell(s) for s in sources])


def edges(pipeline):
    return {(e.upstream, e.downstream, e.kind, e.label) for e in pipeline.edges}


def test_variable_edges_follow_the_latest_writer_above():
    p = build(notebook(
        "import pandas as pd",
        "%%stage load\ndf = pd.DataFrame({'a': [1]})\nraw = 1",
        "%%stage clean\ndf = df.dropna()",
        "%%stage train\nmodel = fit(df, raw)",
    ))
    assert edges(p) == {("load", "clean", "variable", "df"), ("clean", "train", "variable", "df"),
                        ("load", "train", "variable", "raw")}
    assert p.order == ("load", "clean", "train")
    assert p.ancestors("train") == ["load", "clean"]


def test_a_name_last_written_by_a_plain_cell_is_no_edge():
    p = build(notebook("%%stage a\nx = 1", "x = 2  # overwritten by hand", "%%stage b\ny = x + 1",
                       "%%stage c\nz = 3", "print(z)"))
    assert edges(p) == set()


def test_file_edges_as_dvc_infers_them():
    p = build(notebook(
        "%%stage fetch -o data/raw\nfetch()",
        "%%stage split -d data/raw/file.csv -o data/split.csv\nsplit()",
        "%%stage report -d data/split.csv -d data/raw\nreport()",
    ))
    assert edges(p) == {("fetch", "split", "file", "data/raw/file.csv"), ("split", "report", "file", "data/split.csv"),
                        ("fetch", "report", "file", "data/raw")}


def test_after_edges_and_unknown_after():
    p = build(notebook("%%stage a\npass", "%%stage b --after a\npass"))
    assert edges(p) == {("a", "b", "after", "a")}
    with pytest.raises(GraphError, match="runs --after 'zzz', which is not a stage"):
        build(notebook("%%stage a --after zzz\npass"))


def test_cycles_are_a_clear_error():
    with pytest.raises(GraphError, match="the stages form a cycle: .*a.*b.*"):
        build(notebook("%%stage a -d y.csv -o x.csv\npass", "%%stage b -d x.csv -o y.csv\npass"))


def test_duplicate_stage_names_are_a_clear_error():
    with pytest.raises(GraphError, match="stage name 'a' is used by cell 1 and cell 3"):
        build(notebook("%%stage a\npass", "x = 1", "%%stage a\npass"))


def test_bad_flags_in_the_notebook_name_the_cell():
    with pytest.raises(GraphError, match="cell 2: %%stage: unrecognized arguments: --nope"):
        build(notebook("x = 1", "%%stage a --nope\npass"))


def test_star_imports_and_global_are_warnings_naming_the_cell():
    p = build(notebook("from math import *", "%%stage s\ndef f():\n    global g\n    g = 1\nf()"))
    assert any(w.startswith("cell 1: `from … import *`") for w in p.warnings)
    assert any(w.startswith("cell 2 (stage 's'): `global g`") for w in p.warnings)


def test_magics_and_shell_escapes_do_not_break_the_analysis():
    p = build(notebook("%matplotlib inline\nimport numpy as np", "%%stage s\nfiles = !ls\n%time x = np.ones(3)\nn = len(files)",
                       "%%stage t\nm = n * 2"))
    assert edges(p) == {("s", "t", "variable", "n")}


def test_renderings():
    p = build(notebook("%%stage a\nx = 1", "%%stage b\ny = x"))
    states = {"a": "fresh", "b": "stale"}
    assert 's_a -->|"x"| s_b' in graph_render.to_mermaid(p, states)
    assert '"a" -> "b" [label="x"];' in graph_render.to_dot(p, states)
    assert "b  [stale]" in graph_render.to_text(p, states)

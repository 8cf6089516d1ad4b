"""What of the plain cells reaches an exported stage: only what precedes it and what it reads (issue 15.5)."""

import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlops_jupyter.export import ExportError, export_notebook


def notebook(tmp_path, *cells):
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    return path


def run_stage(folder, stage):
    """The exported script, run by a plain interpreter as DVC or Airflow would."""
    result = subprocess.run([sys.executable, str(folder / "stages" / f"{stage}.py")], cwd=folder,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


WRITE = "%%stage {name} -O {name}.txt\nPath('{name}.txt').write_text(repr({expr}))"


def test_a_constant_redefined_below_the_stage_does_not_change_what_it_computes(tmp_path):
    path = notebook(tmp_path, "from pathlib import Path", "threshold = 1.5",
                    WRITE.format(name="s", expr="threshold * 2"), "threshold = 2.0  # exploring")
    result = export_notebook(path, "dvc")
    run_stage(tmp_path, "s")
    assert (tmp_path / "s.txt").read_text() == "3.0"  # what the notebook computes, run top to bottom
    assert "2.0" not in (tmp_path / "stages" / "common.py").read_text()
    assert any(note.startswith("cell 4: threshold stays in the notebook") for note in result.notes), result.notes


def test_a_function_brings_the_constants_it_reads_as_of_the_stage(tmp_path):
    path = notebook(tmp_path, "from pathlib import Path\n\ndef scaled(x):\n    return x * factor",
                    "factor = 3\nunused = 'not read by any stage'",
                    WRITE.format(name="s", expr="scaled(2)"), "factor = 10")
    export_notebook(path, "airflow")
    run_stage(tmp_path, "s")
    assert (tmp_path / "s.txt").read_text() == "6"
    script = (tmp_path / "stages" / "s.py").read_text()
    assert "from common import Path, scaled\n" in script
    common = (tmp_path / "stages" / "common.py").read_text()
    assert "factor = 3" in common and "factor = 10" not in common and "unused" not in common


def test_a_definition_below_the_stage_is_refused(tmp_path):
    path = notebook(tmp_path, "%%stage s\ny = helper(1)", "def helper(x):\n    return x")
    with pytest.raises(ExportError, match=r"^cell 1 \(stage 's'\) reads helper, which no stage above it"):
        export_notebook(path, "dvc")


@pytest.mark.parametrize("read", ["threshold", "over()"])
def test_a_name_defined_differently_above_two_stages_that_read_it_is_refused(tmp_path, read):
    path = notebook(tmp_path, "def over():\n    return threshold", "threshold = 1",
                    f"%%stage a\nx = {read}", "threshold = 2", f"%%stage b\ny = {read}")
    with pytest.raises(ExportError) as raised:
        export_notebook(path, "dvc")
    message = str(raised.value)
    assert "\n" not in message
    assert "threshold" in message and "cell 2" in message and "cell 4" in message, message
    assert "'a'" in message and "'b'" in message, message


def test_the_same_import_repeated_in_two_cells_is_no_ambiguity(tmp_path):
    path = notebook(tmp_path, "import math", WRITE.replace("Path", "__import__('pathlib').Path").format(name="a", expr="math.pi"),
                    "import math", WRITE.replace("Path", "__import__('pathlib').Path").format(name="b", expr="math.e"))
    export_notebook(path, "dvc")
    assert (tmp_path / "stages" / "common.py").read_text().count("import math") == 1


def test_a_definition_reading_a_stage_variable_is_refused_before_it_fails_at_run_time(tmp_path):
    path = notebook(tmp_path, "def predict(x):\n    return model(x)", "%%stage train\nmodel = abs", "%%stage use\ny = predict(-1)")
    with pytest.raises(ExportError, match=r"^cell 3 \(stage 'use'\) uses predict of cell 1, which reads model, "
                                          r"a variable of stage 'train'; .*pass it as an argument$"):
        export_notebook(path, "airflow")

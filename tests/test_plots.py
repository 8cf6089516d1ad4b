"""Plots: definitions in DVC's vocabulary, the templates drawn for real by vl-convert, the stage's
plots displayed, recorded and replayed, the logging helpers, and `mlops-jupyter plots show|diff`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_jupyter.cli import main
from mlops_jupyter.core import plot_specs, plots
from mlops_jupyter.core.objects import ObjectStore
from mlops_jupyter.core.plots import PlotError
from mlops_jupyter.core.spec import SpecError, parse_stage_line
from mlops_jupyter.core.store import RunStore

VL = plot_specs.VEGA_LITE_MIME
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def drawn(spec: dict) -> dict[str, int]:
    """Marks vega actually drew (not axes, legends or titles): {marktype: items}, lines counted once each."""
    found: dict[str, int] = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("marktype") and node.get("role") == "mark":  # guides (axes, legends, titles) have roles of their own
                kind = node["marktype"]
                count = 1 if kind == "line" else len(node.get("items") or [])  # a line mark is one line of many points
                found[kind] = found.get(kind, 0) + count
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(plot_specs.scenegraph(spec)["scenegraph"])
    return found


LOSS = [{"step": i, "loss": 1 / (i + 1), "val_loss": 1.3 / (i + 1)} for i in range(20)]
LABELS = [{"actual": a, "predicted": p} for a, p in [(0, 0), (0, 0), (0, 1), (1, 1), (2, 2), (2, 1), (1, 1)]]
BARS = [{"importance": v, "feature": f} for f, v in [("alcohol", 0.3), ("flavanoids", 0.5), ("hue", 0.2)]]
CASES = {  # template -> (rows, x, y)
    "linear": (LOSS, "step", ["loss", "val_loss"]),
    "simple": (LOSS, "step", ["loss"]),
    "smooth": (LOSS, "step", ["loss"]),
    "scatter": (LOSS, "loss", ["val_loss"]),
    "scatter_jitter": (LABELS, "actual", ["predicted"]),
    "confusion": (LABELS, "actual", ["predicted"]),
    "confusion_normalized": (LABELS, "actual", ["predicted"]),
    "bar_horizontal": (BARS, "importance", ["feature"]),
    "bar_horizontal_sorted": (BARS, "importance", ["feature"]),
}


def test_every_template_is_covered():
    assert set(CASES) == set(plots.TEMPLATES)


@pytest.mark.parametrize("runs", [1, 2])
@pytest.mark.parametrize("template", plots.TEMPLATES)
def test_each_template_renders_to_png_with_its_marks(template, runs):
    rows, x, ys = CASES[template]
    plot = plots.definition("data.json", {"x": x, "y": ys, "template": template}, "test")
    revisions = [(f"run{i}" if runs > 1 else "", {"data.json": rows}) for i in range(runs)]
    spec = plot_specs.vega_lite(plot, revisions)
    assert spec["$schema"].endswith("/vega-lite/v5.json")
    assert plot_specs.to_png(spec).startswith(PNG_MAGIC)
    assert "<svg" in plot_specs.to_svg(spec)
    marks = drawn(spec)
    lines = len(ys) * runs
    if template == "linear":
        assert marks["line"] == lines and marks["symbol"] == len(rows) * lines
    elif template == "simple":
        assert marks == {"line": lines}
    elif template == "smooth":  # the faint raw line and the loess line of each series
        assert marks == {"line": 2 * lines}
    elif template in ("scatter", "scatter_jitter"):
        assert marks == {"symbol": len(rows) * runs}
    elif template.startswith("confusion"):
        assert marks["rect"] == 9 * runs and marks["text"] == 9 * runs  # every cell of the 3 x 3 grid, zeros too
    else:
        assert marks == {"rect": len(rows) * runs}


def test_confusion_counts_and_shares():
    plot = plots.definition("cm", {"x": "actual", "y": "predicted", "template": "confusion"}, "test")
    cells = {(v["x"], v["y"]): v["value"] for v in plot_specs.vega_lite(plot, [("", {"cm": LABELS})])["data"]["values"]}
    assert cells[("0", "0")] == 2 and cells[("0", "1")] == 1 and cells[("1", "1")] == 2 and cells[("2", "0")] == 0
    shares = plot_specs.vega_lite(plots.definition("cm", {"x": "actual", "y": "predicted",
                                                          "template": "confusion_normalized"}, "t"), [("", {"cm": LABELS})])
    values = {(v["x"], v["y"]): v["value"] for v in shares["data"]["values"]}
    assert values[("0", "0")] == pytest.approx(2 / 3, abs=1e-4) and sum(values[("2", p)] for p in "012") == pytest.approx(1)


def test_overlay_names_what_varies_and_thins_long_series():
    plot = plots.definition("loss.json", {"x": "step", "y": ["loss", "val_loss"]}, "t")
    spec = plot_specs.vega_lite(plot, [("a", {"loss.json": LOSS}), ("b", {"loss.json": LOSS})])
    assert spec["encoding"]["color"]["scale"]["domain"] == ["a · loss", "a · val_loss", "b · loss", "b · val_loss"]
    long = [{"step": i, "loss": i} for i in range(20_000)]
    thin = plot_specs.vega_lite(plots.definition("l", {"x": "step", "y": "loss"}, "t"), [("", {"l": long})])
    assert len(thin["data"]["values"]) <= plot_specs.MAX_POINTS + 1 and thin["data"]["values"][-1]["x"] == 19_999


# --- definitions ----------------------------------------------------------------------------


def test_dvc_yaml_definitions_are_read_as_dvc_reads_them():
    found = plots.definitions([
        "eval/loss.csv",
        {"eval/roc.json": {"x": "fpr", "y": "tpr", "template": "simple", "title": "ROC"}},
        {"confusion": {"template": "confusion", "x": "actual", "y": {"eval/cm.json": "predicted"}}},
        {"both": {"x": {"train.csv": "step", "test.csv": "step"}, "y": {"train.csv": "loss", "test.csv": ["loss", "acc"]},
                  "x_label": "epoch", "y_label": "value"}},
    ], "plots.yaml")
    loss, roc, confusion, both = found
    assert loss.files == ("eval/loss.csv",) and loss.template_name == "linear" and not loss.x
    assert roc.x_of("eval/roc.json") == "fpr" and roc.y_of("eval/roc.json") == ["tpr"] and roc.title == "ROC"
    assert confusion.files == ("eval/cm.json",) and confusion.x_of("eval/cm.json") == "actual"
    assert both.files == ("train.csv", "test.csv") and both.y_of("test.csv") == ["loss", "acc"]
    assert [p.to_dvc() for p in found][1:] == [
        {"eval/roc.json": {"template": "simple", "x": "fpr", "y": "tpr", "title": "ROC"}},
        {"confusion": {"template": "confusion", "x": {"eval/cm.json": "actual"}, "y": {"eval/cm.json": "predicted"}}},
        {"both": {"x": {"train.csv": "step", "test.csv": "step"}, "y": {"train.csv": "loss", "test.csv": ["loss", "acc"]},
                  "x_label": "epoch", "y_label": "value"}},
    ]


@pytest.mark.parametrize("entries, message", [
    ([{"a.json": {"template": "pie"}}], "unknown template 'pie'; choose one of linear, simple"),
    ([{"a.json": {"colour": "red"}}], "unknown key 'colour'"),
    ({"a.json": {}}, "plots must be a list"),
    (["a.json", "a.json"], "defined twice"),
    ([{"a.json": {"y": 3}}], "y must be a field name or a list"),
])
def test_bad_definitions_are_one_line_errors(entries, message):
    with pytest.raises(PlotError, match=message.replace("(", r"\(")):
        plots.definitions(entries, "plots.yaml")


def test_project_definitions_come_from_plots_yaml_and_config_toml(tmp_path):
    (tmp_path / ".mlops").mkdir()
    (tmp_path / "plots.yaml").write_text("plots:\n  - eval/roc.json:\n      x: fpr\n      y: tpr\n")
    (tmp_path / ".mlops" / "config.toml").write_text('[core]\nexperiment = "x"\n\n[[plots]]\n[plots."eval/cm.json"]\n'
                                                     'template = "confusion"\nx = "actual"\ny = "predicted"\n')
    assert [(p.id, p.template_name) for p in plots.project_definitions(tmp_path)] == [
        ("eval/roc.json", "linear"), ("eval/cm.json", "confusion")]
    (tmp_path / "plots.yaml").write_text("plots:\n  - eval/cm.json\n")
    with pytest.raises(PlotError, match="defined in both plots.yaml and config.toml"):
        plots.project_definitions(tmp_path)


def test_stage_flags_describe_the_plots_before_them():
    spec = parse_stage_line("ev --plots eval/roc.json --plot-x fpr --plot-y tpr --template simple --title ROC "
                            "--x-label 'false positives' --plots eval/loss.csv --plot-y loss,val --plots eval/cm.png")
    roc, loss, image = spec.plot_defs
    assert spec.plots == ("eval/roc.json", "eval/loss.csv", "eval/cm.png")
    assert (roc.x_of("eval/roc.json"), roc.y_of("eval/roc.json"), roc.template, roc.title, roc.x_label) == (
        "fpr", ["tpr"], "simple", "ROC", "false positives")
    assert loss.y_of("eval/loss.csv") == ["loss", "val"] and not loss.x and image.is_image


@pytest.mark.parametrize("line, message", [
    ("ev --plot-x fpr --plots a.json", "--plot-x: must follow the --plots PATH it describes"),
    ("ev --plots a.json --template pie", "unknown template 'pie'; choose one of linear"),
    ("ev --plots a.json --plot-y a --plot-y b", "--plot-y: given twice for --plots a.json"),
    ("ev --plots a.png --template confusion", "is an image"),
])
def test_bad_plot_flags_are_spec_errors(line, message):
    with pytest.raises(SpecError, match=message):
        parse_stage_line(line)


# --- tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, data", [
    ("roc.json", b'[{"fpr": 0, "tpr": 0.5}]'),
    ("roc.json", b'{"roc": [{"fpr": 0, "tpr": 0.5}]}'),  # as dvclive writes it
    ("roc.csv", b"fpr,tpr\n0,0.5\n"),
    ("roc.tsv", b"fpr\ttpr\n0\t0.5\n"),
    ("roc.yaml", b"- fpr: 0\n  tpr: 0.5\n"),
])
def test_tables_of_every_format(name, data):
    assert plots.read_table(data, name) == [{"fpr": 0, "tpr": 0.5}]


@pytest.mark.parametrize("name, data", [("a.json", b'{"a": 1}'), ("a.json", b"[1, 2]"), ("a.json", b"{"),
                                        ("a.txt", b"hello"), ("a.csv", b"\xff\xfe")])
def test_what_is_not_a_table_says_what_a_table_is(name, data):
    with pytest.raises(PlotError, match="is no plot data: write a JSON list of objects, a CSV or TSV"):
        plots.read_table(data, name)


def test_a_missing_field_names_the_fields_and_the_fix():
    flag = parse_stage_line("ev --plots a.json --plot-y tpx").plot_defs[0]
    with pytest.raises(PlotError, match=r"a.json has no field 'tpx' \(its fields: fpr, tpr\); fix --plot-y"):
        plot_specs.vega_lite(flag, [("", {"a.json": [{"fpr": 0, "tpr": 1}]})])
    text_y = plots.definition("a.json", {"x": "fpr", "y": "name"}, "t")
    with pytest.raises(PlotError, match="holds 'x', not a number"):
        plot_specs.vega_lite(text_y, [("", {"a.json": [{"fpr": 0, "name": "x"}]})])


# --- in a stage -----------------------------------------------------------------------------

ROC_ROWS = [{"fpr": 0, "tpr": 0}, {"fpr": 0.2, "tpr": 0.7}, {"fpr": 1, "tpr": 1}]
STAGE = """%%stage evaluate --plots eval/roc.json --plot-x fpr --plot-y tpr --template simple
import json, pathlib
import mlops_jupyter as mj
pathlib.Path("eval").mkdir(exist_ok=True)
pathlib.Path("eval/roc.json").write_text(json.dumps(ROWS))
mj.log_sklearn_plot("confusion_matrix", [0, 1, 1, 2], [0, 1, 2, 2])
mj.log_plot("loss", [{"step": i, "loss": 1 / (i + 1)} for i in range(5)], x="step", y="loss", title="Loss")
print("evaluated")
42
"""


def plot_outputs(shell) -> list[tuple[str, str]]:
    return [(d["text/plain"], d[VL]["title"]) for d in shell.shown if VL in d]


def test_a_stage_displays_records_and_replays_its_plots(shell, project):
    shell.user_ns["ROWS"] = ROC_ROWS
    first = shell.run_cell(STAGE)
    assert first.error_in_exec is None
    shown = plot_outputs(shell)
    assert shown == [("<confusion plot 'confusion_matrix'>", "confusion_matrix"), ("<linear plot 'loss'>", "Loss"),
                     ("<simple plot 'eval/roc.json'>", "eval/roc.json")]
    for data in (d for d in shell.shown if VL in d):
        assert base64.b64decode(data["image/png"]).startswith(PNG_MAGIC)
    with RunStore(project.db_path) as store:
        (run,) = store.search()
        recorded = plots.run_plots(store, ObjectStore(project.cache_dir), run.run.id)
        detail = store.get_run(run.run.id)
    assert [(p.plot.id, p.plot.template_name) for p in recorded] == [
        ("confusion_matrix", "confusion"), ("loss", "linear"), ("eval/roc.json", "simple")]
    assert not [a for a in detail.artifacts if a.kind == "figure"]  # a plot's PNG is no figure of its own
    roc = recorded[2]
    assert plots.tables_of(roc, ObjectStore(project.cache_dir)) == {"eval/roc.json": ROC_ROWS}

    shell.shown.clear()
    again = shell.run_cell(STAGE)  # restored: the same outputs, in the same order
    assert again.error_in_exec is None and repr(again.result) == "42"
    assert plot_outputs(shell) == shown


def test_a_changed_definition_redraws_the_restored_plot(shell, project):
    shell.user_ns["ROWS"] = ROC_ROWS
    assert shell.run_cell(STAGE).error_in_exec is None
    shell.shown.clear()
    changed = shell.run_cell(STAGE.replace("--template simple", "--template scatter --title 'ROC curve'"))
    assert changed.error_in_exec is None
    assert plot_outputs(shell)[-1] == ("<scatter plot 'eval/roc.json'>", "ROC curve")
    with RunStore(project.db_path) as store:
        assert len(store.search()) == 1  # nothing ran again: the plot was redrawn from the restored file


def test_a_missing_field_after_the_run_is_one_line_and_the_run_is_kept(shell, project, capsys):
    shell.user_ns["ROWS"] = ROC_ROWS
    result = shell.run_cell(STAGE.replace("--plot-y tpr", "--plot-y recall"))
    message = str(result.error_in_exec)
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "ran and its run" in message and "has no field 'recall' (its fields: fpr, tpr); fix --plot-y" in message
    fixed = shell.run_cell(STAGE)  # the fix: restored from that run, the plot drawn
    assert fixed.error_in_exec is None and plot_outputs(shell)[-1][0] == "<simple plot 'eval/roc.json'>"
    with RunStore(project.db_path) as store:
        assert [r.run.status for r in store.search()] == ["finished"]


def test_a_bad_template_on_the_stage_line_runs_nothing(shell, project):
    result = shell.run_cell("%%stage ev --plots a.json --template pie\nprint('ran')")
    assert "unknown template 'pie'" in str(result.error_in_exec)
    with RunStore(project.db_path) as store:
        assert store.search() == []


def test_plots_yaml_definitions_are_drawn_by_the_stage_that_writes_their_files(shell, project):
    (project.root / "plots.yaml").write_text(
        "plots:\n  - both:\n      x: step\n      y: {eval/train.csv: loss, eval/test.csv: loss}\n      title: Loss\n"
        "  - elsewhere.csv\n")
    cell = ("%%stage fit -o eval\nimport pathlib\npathlib.Path('eval').mkdir(exist_ok=True)\n"
            "pathlib.Path('eval/train.csv').write_text('step,loss\\n0,1\\n1,0.5\\n')\n"
            "pathlib.Path('eval/test.csv').write_text('step,loss\\n0,1.2\\n1,0.7\\n')\n")
    assert shell.run_cell(cell).error_in_exec is None
    (spec,) = [d[VL] for d in shell.shown if VL in d]
    assert spec["title"] == "Loss" and spec["encoding"]["color"]["scale"]["domain"] == ["eval/train.csv", "eval/test.csv"]


# --- the logging helpers ---------------------------------------------------------------------


def test_log_sklearn_plot_writes_dvclive_shaped_data(tracker, project):
    import mlops_jupyter as mj

    y_true, y_score = [0, 0, 1, 1, 1, 0], [0.1, 0.4, 0.35, 0.8, 0.9, 0.2]
    with mj.start_run() as run:
        mj.log_sklearn_plot("roc", y_true, y_score)
        mj.log_sklearn_plot("precision_recall", y_true, y_score, name="pr")
        mj.log_sklearn_plot("calibration", y_true, y_score, n_bins=2)
        mj.log_sklearn_plot("confusion_matrix", y_true, [0, 1, 1, 1, 1, 0], normalized=True)
        mj.log_plot("importance", {"feature": ["a", "b"], "value": [0.7, 0.3]}, x="value", y="feature",
                    template="bar_horizontal_sorted")
    objects = ObjectStore(project.cache_dir)
    recorded = {p.plot.id: p for p in plots.run_plots(run.store, objects, run.run_id)}
    assert list(recorded) == ["roc", "pr", "calibration", "confusion_matrix", "importance"]
    roc = plots.tables_of(recorded["roc"], objects)["roc"]
    assert set(roc[0]) == {"fpr", "tpr", "threshold"} and roc[0]["threshold"] is None  # sklearn's inf: null in JSON
    assert (recorded["pr"].plot.x_of("pr"), recorded["pr"].plot.y_of("pr")) == ("recall", ["precision"])
    assert recorded["confusion_matrix"].plot.template == "confusion_normalized"
    assert plots.tables_of(recorded["confusion_matrix"], objects)["confusion_matrix"][1] == {"actual": 0, "predicted": 1}
    for plot in recorded.values():  # all of them draw
        plot_specs.to_png(plot_specs.vega_lite(plot.plot, [("", plots.tables_of(plot, objects))]))


@pytest.mark.parametrize("call, message", [
    (lambda mj: mj.log_plot("p", [{"a": 1}], x="a", y="b"), "no field 'b' (its fields: a); pass another y= to log_plot"),
    (lambda mj: mj.log_plot("p", [{"a": 1}], template="pie"), "unknown template 'pie'"),
    (lambda mj: mj.log_plot("p", 3), "plot data must be a list of dicts"),
    (lambda mj: mj.log_plot("../p", [{"a": 1}]), "use letters, digits"),
    (lambda mj: mj.log_sklearn_plot("lift", [0, 1], [0, 1]), "unknown kind 'lift'; choose one of roc"),
    (lambda mj: mj.log_sklearn_plot("roc", [0, 1, 2], [[0.2, 0.3, 0.5]] * 3), "pass y_true == c and y_score"),
    (lambda mj: mj.log_sklearn_plot("roc", [0, 1, 2], [0.1, 0.5, 0.9]), "for one class of several"),
])
def test_logging_mistakes_are_one_line_errors(tracker, project, call, message):
    import mlops_jupyter as mj

    with mj.start_run() as run:
        with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
            call(mj)
        assert plots.run_plots(run.store, ObjectStore(project.cache_dir), run.run_id) == []


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def three_runs(tracker, project):
    import mlops_jupyter as mj

    ids = []
    for rate in (0.2, 0.5, 0.9):
        with mj.start_run(stage="train") as run:
            mj.log_plot("loss", [{"step": i, "loss": (1 - rate) ** i} for i in range(10)], x="step", y="loss")
            mj.log_sklearn_plot("confusion_matrix", [0, 1, 1, 0], [0, 1, int(rate > 0.5), 0])
            ids.append(run.run_id)
    tracker.flush()
    return ids


def test_plots_diff_writes_one_self_contained_html(three_runs, project, tmp_path):
    out = tmp_path / "diff.html"
    result = CliRunner().invoke(main, ["plots", "diff", *(i[:8] for i in three_runs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"2 plots of {', '.join(i[:8] for i in three_runs)}: wrote {out}" in result.output
    page = out.read_text()
    assert 'data-plot-id="loss"' in page and 'data-plot-id="confusion_matrix"' in page
    assert "<script src" not in page and "cdn.jsdelivr" not in page and "window.vegaEmbed" in page
    specs = json.loads(CliRunner().invoke(main, ["plots", "diff", *three_runs, "--json"]).output)
    assert specs[0]["runs"] == [i[:8] for i in three_runs]
    assert specs[0]["vega_lite"]["encoding"]["color"]["scale"]["domain"] == [i[:8] for i in three_runs]


def test_plots_show_and_its_errors(three_runs, project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["-C", str(project.root), "plots", "show", three_runs[0][:8]])
    assert result.exit_code == 0 and (tmp_path / "plots.html").exists()
    one = CliRunner().invoke(main, ["-C", str(project.root), "plots", "diff", three_runs[0]])
    assert one.exit_code == 2 and "plots diff compares two runs or more" in one.output
    import mlops_jupyter as mj

    with mj.start_run(project=project.root) as bare:
        pass
    none = CliRunner().invoke(main, ["-C", str(project.root), "plots", "show", bare.run_id])
    assert none.exit_code == 1 and "recorded no plots: add --plots PATH to a stage" in none.output
    missing = CliRunner().invoke(main, ["-C", str(project.root), "plots", "show", "ffffffff"])
    assert missing.exit_code == 1 and missing.output.count("\n") == 1


def test_plot_data_is_kept_by_gc_with_the_runs(three_runs, project):
    before = {a.name: a.kind for a in RunStore(project.db_path).get_run(three_runs[0]).artifacts}
    assert before == {"plots/loss": "plot", "plots/loss@loss": "plot-data", "plots/confusion_matrix": "plot",
                      "plots/confusion_matrix@confusion_matrix": "plot-data"}
    collected = CliRunner().invoke(main, ["-C", str(project.root), "gc", "-a"])
    assert collected.exit_code == 0, collected.output
    result = CliRunner().invoke(main, ["-C", str(project.root), "plots", "diff", *three_runs, "--json"])
    assert result.exit_code == 0, result.output
    assert [view["id"] for view in json.loads(result.output)] == ["loss", "confusion_matrix"]

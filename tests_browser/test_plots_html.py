"""`mlops-jupyter plots diff` HTML in a real browser: it draws offline, with a line per run."""

from __future__ import annotations

from click.testing import CliRunner
from playwright.sync_api import expect

from mlops_jupyter.cli import main
from mlops_jupyter.core.project import init_project

from .conftest import screenshot


def make_runs(root) -> list[str]:
    import mlops_jupyter as mj

    init_project(root)
    ids = []
    for rate in (0.15, 0.35, 0.8):
        with mj.start_run(stage="train", project=root) as run:
            mj.log_plot("loss", [{"epoch": i, "loss": (1 - rate) ** i + 0.02 * (i % 3)} for i in range(30)],
                        x="epoch", y="loss", title="Training loss")
            truth = [i % 2 for i in range(60)]
            scores = [min(1.0, t * rate + ((i * 37) % 60) / 80) for i, t in enumerate(truth)]
            mj.log_sklearn_plot("roc", truth, scores)
            mj.log_sklearn_plot("confusion_matrix", truth, [int(s > 0.5) for s in scores])
            ids.append(run.run_id)
    mj.flush()
    return ids


def test_plots_diff_html_draws_every_run_offline(page, tmp_path):
    root = tmp_path / "project"
    ids = make_runs(root)
    out = tmp_path / "diff.html"
    result = CliRunner().invoke(main, ["-C", str(root), "plots", "diff", *ids, "-o", str(out)])
    assert result.exit_code == 0, result.output

    requests, errors = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"file://{out}")
    for plot_id in ("loss", "roc"):  # a line per run, in the run's colour, with the runs in the legend
        section = page.locator(f'section[data-plot-id="{plot_id}"]')
        expect(section.locator(".mark-line.role-mark path")).to_have_count(3)
        for run_id in ids:
            expect(section.locator(".role-legend").get_by_text(run_id[:8], exact=True)).to_be_visible()
    matrices = page.locator('section[data-plot-id="confusion_matrix"]')
    expect(matrices.locator(".mark-rect.role-mark path")).to_have_count(3 * 4)  # one 2 x 2 matrix per run
    expect(page.get_by_role("heading", name="Plots of 3 runs")).to_be_visible()
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []  # no CDN: vega is in the file
    assert errors == []
    screenshot(page, "plots-diff")

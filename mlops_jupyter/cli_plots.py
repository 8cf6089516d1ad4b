"""``mlops-jupyter plots show|diff``: the plots runs recorded, as one self-contained HTML file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli import _no_store_message, _open_store, _project, main


@main.group()
def plots() -> None:
    """Draw the plots runs recorded (--plots files, mj.log_plot, mj.log_sklearn_plot)."""


def _write(ctx: click.Context, run_ids: tuple[str, ...], output: str | None, as_json: bool, diff: bool) -> None:
    from .core import plot_specs
    from .core import plots as plot_data
    from .core.errors import RunNotFound
    from .core.objects import ObjectStore

    store = _open_store(ctx)
    if store is None:
        raise RunNotFound(f"no run {run_ids[0]!r}: {_no_store_message(ctx)}")
    with store:
        details = [store.get_run(store.resolve_run_id(run_id)) for run_id in run_ids]
        ids = [d.run.id for d in dict((d.run.id, d) for d in details).values()]
        if diff and len(ids) < 2:
            raise click.UsageError("plots diff compares two runs or more; plots show draws one")
        stages = {d.run.id: d.run.stage for d in details}
        several_stages = len(set(stages.values())) > 1
        labels = [f"{stages[i]} {i[:8]}" if several_stages and stages[i] else i[:8] for i in ids]
        views = plot_data.views(store, ObjectStore(_project(ctx).cache_dir), ids, labels)
    if as_json:
        click.echo(json.dumps([{"id": v.id, "runs": list(v.runs), "vega_lite": v.spec,
                                "images": [label for label, _, _ in v.images]} for v in views], indent=2))
        return
    if not views:
        which = "these runs" if len(ids) > 1 else f"run {ids[0][:8]}"
        raise click.ClickException(f"{which} recorded no plots: add --plots PATH to a stage, or call "
                                   "mj.log_plot / mj.log_sklearn_plot in it")
    title = f"Plots of run {labels[0]}" if len(ids) == 1 else f"Plots of {len(ids)} runs"
    page = plot_specs.html_page(title, views, subtitle=", ".join(labels))
    path = Path(output or "plots.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    click.echo(f"{len(views)} plot{'s' * (len(views) != 1)} of {', '.join(labels)}: wrote {path.resolve()}")


@plots.command("show")
@click.argument("run_id")
@click.option("-o", "--out", "output", type=click.Path(dir_okay=False),
              help="The HTML file to write (default: plots.html in the current folder).")
@click.option("--json", "as_json", is_flag=True, help="Print each plot's Vega-Lite spec as JSON instead.")
@click.pass_context
def plots_show(ctx: click.Context, run_id: str, output: str | None, as_json: bool) -> None:
    """Write one HTML file with every plot RUN_ID recorded (Vega-Lite bundled: it opens offline)."""
    _write(ctx, (run_id,), output, as_json, diff=False)


@plots.command("diff")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("-o", "--out", "output", type=click.Path(dir_okay=False),
              help="The HTML file to write (default: plots.html in the current folder).")
@click.option("--json", "as_json", is_flag=True, help="Print each plot's Vega-Lite spec as JSON instead.")
@click.pass_context
def plots_diff(ctx: click.Context, run_ids: tuple[str, ...], output: str | None, as_json: bool) -> None:
    """Overlay the same plots of two or more runs in one HTML file, as `dvc plots diff` does: a line
    per run, confusion matrices and images side by side."""
    _write(ctx, run_ids, output, as_json, diff=True)

"""The CLI's experiment commands: ``exp show`` and ``exp diff`` (registered on ``cli.main``).

An experiment is a pipeline result with every param and metric of its lineage (``core.experiments``),
as ``dvc exp show`` lists them.
"""

from __future__ import annotations

import json
import sys

import click

from .cli import _no_store_message, _open_store, main


@main.group("exp")
def exp() -> None:
    """Experiments: one row per pipeline result, with every param and metric of its lineage."""


@exp.command("show")
@click.option("-e", "--experiment", multiple=True, help="Only experiments of this (MLflow-style) experiment name (repeatable).")
@click.option("-s", "--stage", multiple=True,
              help="Rows are the runs of this stage (repeatable; default: the runs of the pipeline's sink stages).")
@click.option("--status", multiple=True, type=click.Choice(["running", "finished", "failed", "killed"]),
              help="Only experiments whose own run has this status (repeatable).")
@click.option("-f", "--filter", "filter_", metavar="EXPR",
              help="Filter on the joined columns, e.g. \"metrics.accuracy > 0.95 and params.train.n_est < 200\".")
@click.option("-S", "--sort", "sort", multiple=True, metavar="FIELD [DESC]",
              help="Sort by a field, e.g. \"metrics.accuracy DESC\" (repeatable; default: newest first).")
@click.option("-n", "--limit", default=50, show_default=True, help="Show at most this many experiments (0: all).")
@click.option("--only-changed", is_flag=True, help="Only the params and metrics whose values differ between the rows shown.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field, params, metrics, tags, upstream runs).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with flat params.* / metrics.* / tags.* columns.")
@click.pass_context
def exp_show(ctx, experiment, stage, status, filter_, sort, limit, only_changed, as_json, as_csv) -> None:
    """List experiments, newest first: each pipeline result with the params and metrics of every run
    upstream of it, as `dvc exp show` does."""
    from .core import experiments, report

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    store = _open_store(ctx)
    if store is None:
        rows, total = [], 0
    else:
        with store:
            conditions = dict(experiment=experiment, stage=stage, status=status, filter=filter_)
            rows = experiments.page(store, **conditions, order_by=sort, limit=limit or None).experiments()
            total = experiments.count(store, **conditions) if limit and len(rows) == limit else len(rows)
    if as_json:
        click.echo(json.dumps([report.experiment_record(e) for e in rows], indent=2))
        return
    if as_csv:
        import csv

        columns = report.flat_columns(rows)
        if only_changed:
            columns = report.changed_columns(rows, columns)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*report.RUN_FIELDS, "upstream", *columns])
        for e in rows:
            writer.writerow([*report.run_fields(e.run).values(), " ".join(u.run_id for u in e.upstream),
                             *(report.flat_value(e, c) for c in columns)])
        return
    if not rows:
        click.echo(_no_store_message(ctx) if store is None else "No experiments match.")
        return
    from tabulate import tabulate

    headers, table = report.experiments_table(rows, only_changed=only_changed)
    click.echo(tabulate(table, headers=headers, disable_numparse=True))
    if total > len(rows):
        more = total - len(rows)
        click.echo(f"… {more:,} more experiment{'s' * (more != 1)}; --limit 0 shows all")


@exp.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("-a", "--all", "all_rows", is_flag=True, help="Also show params and metrics that did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def exp_diff(ctx, run_a: str, run_b: str, all_rows: bool, as_json: bool) -> None:
    """Compare two experiments (B - A): the params and metrics of their whole lineage side by side,
    changed rows only unless --all. RUN_A and RUN_B are run ids, or unique prefixes of them."""
    from tabulate import tabulate

    from .core import experiments, report
    from .core.errors import RunNotFound

    store = _open_store(ctx)
    if store is None:
        raise RunNotFound(f"no run {run_a!r}: {_no_store_message(ctx)}")
    with store:
        a, b = (experiments.get(store, store.resolve_run_id(run_id)) for run_id in (run_a, run_b))
    rows = report.diff_rows(a, b, all_rows=all_rows)
    if as_json:
        record = report.diff_record(a, b, rows)
        record["upstream"] = {"a": report.experiment_record(a)["upstream"], "b": report.experiment_record(b)["upstream"]}
        click.echo(json.dumps(record, indent=2))
        return
    for label, e in (("A", a), ("B", b)):
        made = ", ".join(f"{u.stage or 'run'} {u.run_id[:8]}" for u in e.upstream) or "no upstream runs"
        click.echo(f"{label} {e.run.id[:8]} {e.run.stage or ''}  (from {made})")
    if not rows:
        click.echo(f"No differences in params or metrics between {a.run.id[:8]} and {b.run.id[:8]}.")
        return
    click.echo(tabulate(report.diff_table(rows), headers=["", a.run.id[:8], b.run.id[:8], "change"],
                        disable_numparse=True))

"""The CLI's MLflow commands (registered on ``cli.main``): ``sync mlflow URI`` sends the store's runs
and registered models to an MLflow tracking server; ``import mlflow URI`` brings its runs in."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import click

from .cli import _open_store, _project, main


def _since(text: str | None) -> int | None:
    """Milliseconds of ``2026-11-30`` (an ISO date or time, UTC unless it says) or of a time ago (``7d``, ``12h``)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        from .core.spec import SpecError, parse_duration

        try:
            return int((time.time() - parse_duration(text, "--since")) * 1000)
        except SpecError as e:
            raise click.BadParameter(f"{e}, or an ISO date such as 2026-11-30", param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


@main.group("sync")
def sync() -> None:
    """Send runs and models to another tracking system."""


@sync.command("mlflow")
@click.argument("uri")
@click.option("--experiment", help="Put every run into this MLflow experiment (default: each run's own experiment name).")
@click.option("--since", help="Only runs started since: an ISO date/time or a time ago (7d, 12h).")
@click.pass_context
def sync_mlflow(ctx, uri, experiment, since) -> None:
    """Send the runs (params, metric histories, tags, artifacts, status, times) and the registered
    models (versions, aliases, stages) to the MLflow tracking server at URI. Run again: only what is
    new is sent, and no run is duplicated (each carries the tag mlops.run_id)."""
    from .core import mlflow_sync
    from .core.objects import ObjectStore

    since_ms = _since(since)
    store = _open_store(ctx)
    if store is None:
        raise click.ClickException("no run store here yet: nothing to sync")
    with store:
        report = mlflow_sync.push(store, ObjectStore(_project(ctx).cache_dir), uri, experiment=experiment,
                                  since=since_ms)
    for note in report.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    click.echo(f"Synced to {uri}: {report.created} new run(s), {report.updated} updated, {report.unchanged} unchanged; "
               f"{report.metrics} metric points, {report.params} params, {report.artifacts} artifacts, "
               f"{report.versions} model version(s)")


@main.group("import")
def import_() -> None:
    """Bring runs in from another tracking system."""


@import_.command("mlflow")
@click.argument("uri")
@click.option("--experiment", required=True, help="The MLflow experiment to import.")
@click.option("--into", help="The experiment of the store the runs go into (default: the same name).")
@click.pass_context
def import_mlflow(ctx, uri, experiment, into) -> None:
    """Copy the runs of an MLflow experiment (params, metric histories, tags, status, times) into the
    store, each once, under its MLflow run id."""
    from .core import mlflow_sync

    store = _open_store(ctx, must_exist=False)
    if store is None:
        from .core.store import RunStore

        store = RunStore(_project(ctx).ensure().db_path)
    with store:
        report = mlflow_sync.pull(store, uri, remote_experiment=experiment, into=into)
    click.echo(f"Imported {report.imported} run(s) from {uri} into {into or experiment!r}")

"""The CLI's model registry commands (registered on ``cli.main``): ``models ls | show | versions |
history | alias | stage | tag``. Each takes ``--json``."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from .cli import _open_store, main


def _registry(ctx):
    from .core.registry import Registry

    store = _open_store(ctx)
    if store is None:
        raise click.ClickException("no run store here yet: log a model first (mj.log_model)")
    return store, Registry(store)


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _table(rows, headers) -> None:
    from tabulate import tabulate

    click.echo(tabulate(rows, headers=headers, disable_numparse=True))


@main.group("models")
def models() -> None:
    """The model registry: registered models, versions, aliases, stages and their history."""


@models.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_ls(ctx, as_json) -> None:
    """List the registered models."""
    from .core import report

    store, registry = _registry(ctx)
    with store:
        found = registry.models()
    if as_json:
        _echo_json([asdict(m) for m in found])
    elif not found:
        click.echo("No registered models: mj.log_model(model, registered_model_name=NAME) makes one")
    else:
        _table([(m.name, m.latest_version, ", ".join(f"@{a}: v{v}" for a, v in m.aliases.items()),
                 report.format_time(m.updated_time)) for m in found], ["model", "latest", "aliases", "updated"])


@models.command("versions")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with each version's run metrics).")
@click.pass_context
def models_versions(ctx, name, as_json) -> None:
    """List the versions of model NAME, newest first, with the metrics of the run that made each."""
    from .core import report

    store, registry = _registry(ctx)
    with store:
        versions = registry.versions(name)
        metrics = {v.run_id: store.get_run(v.run_id).metrics for v in versions}
    if as_json:
        _echo_json([{**asdict(v), "metrics": metrics[v.run_id]} for v in versions])
        return
    _table([(f"v{v.version}", v.stage, " ".join(f"@{a}" for a in v.aliases), v.run_id[:8],
             report.shorten(", ".join(f"{k}={report.format_value(x)}" for k, x in sorted(metrics[v.run_id].items()))),
             report.format_time(v.created_time)) for v in versions],
           ["version", "stage", "aliases", "run", "metrics", "registered"])


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_show(ctx, name, as_json) -> None:
    """Show model NAME: its tags, aliases and versions."""
    store, registry = _registry(ctx)
    with store:
        model, versions = registry.model(name), registry.versions(name)
    if as_json:
        _echo_json({**asdict(model), "versions": [asdict(v) for v in versions]})
        return
    click.echo(f"{model.name}: {len(versions)} version(s)")
    for key, value in model.tags.items():
        click.echo(f"  tag {key} = {value}")
    for alias, version in model.aliases.items():
        click.echo(f"  @{alias} → v{version}")
    for v in versions:
        click.echo(f"  v{v.version}  {v.stage:<10} run {v.run_id[:8]}  runs:/{v.run_id}/{v.artifact}")


@models.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_history(ctx, name, as_json) -> None:
    """Every registration, alias move, stage transition and tag of model NAME: who, when, from, to."""
    from .core import report

    store, registry = _registry(ctx)
    with store:
        entries = registry.history(name)
    if as_json:
        _echo_json([asdict(e) for e in entries])
        return
    _table([(report.format_time(e.time), e.user, "" if e.version is None else f"v{e.version}", e.action,
             e.what or "", e.old or "", e.new or "") for e in entries],
           ["when", "who", "version", "what", "name", "from", "to"])


@models.command("alias")
@click.argument("name")
@click.argument("version")
@click.argument("alias")
@click.option("--delete", is_flag=True, help="Remove ALIAS instead (VERSION must be the one it names).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_alias(ctx, name, version, alias, delete, as_json) -> None:
    """Point ALIAS (e.g. champion) of model NAME at VERSION (moved from where it was)."""
    store, registry = _registry(ctx)
    with store:
        if delete:
            registry.delete_alias(name, alias)
            result = registry.model(name)
        else:
            result = registry.set_alias(name, alias, version)
    if as_json:
        _echo_json(asdict(result))
    elif delete:
        click.echo(f"Removed @{alias} of {name}")
    else:
        click.echo(f"{name}@{alias} → v{result.version}")


@models.command("stage")
@click.argument("name")
@click.argument("version")
@click.argument("stage")
@click.option("--archive-existing", is_flag=True, help="Archive the other versions in STAGE (Staging, Production).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def models_stage(ctx, name, version, stage, archive_existing, as_json) -> None:
    """Move VERSION of model NAME to STAGE: None, Staging, Production or Archived."""
    store, registry = _registry(ctx)
    with store:
        result = registry.transition(name, version, stage, archive_existing=archive_existing)
    if as_json:
        _echo_json(asdict(result))
    else:
        click.echo(f"{name} v{result.version} is in {result.stage}")


@models.command("tag")
@click.argument("name")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@click.option("-v", "--version", help="Tag this version instead of the model.")
@click.pass_context
def models_tag(ctx, name, assignments, version) -> None:
    """Set tags on model NAME (or on one of its versions)."""
    pairs = []
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise click.UsageError(f"{assignment!r} is no KEY=VALUE")
        pairs.append((key, value))
    store, registry = _registry(ctx)
    with store:
        for key, value in pairs:
            registry.set_tag(name, key, value, version)
    click.echo(f"Tagged {name}{f' v{version}' if version else ''}: " + ", ".join(f"{k}={v}" for k, v in pairs))

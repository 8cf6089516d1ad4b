"""The CLI's remote and data-version commands: ``remote``, ``push``, ``fetch``, ``pull``, ``checkout``,
``add``, ``gc``, ``cache verify`` and ``status --cloud`` (registered on ``cli.main``)."""

from __future__ import annotations

import json

import click

from .cli import _project, main


def _cache(ctx: click.Context):
    """(project, store, stage cache) of the command's project; the store is created if missing."""
    from .core.hashing import FileHasher
    from .core.objects import ObjectStore
    from .core.stage_cache import StageCache
    from .core.store import RunStore

    project = _project(ctx).ensure()
    config = project.config()
    store = RunStore(project.db_path, busy_timeout=config.core.busy_timeout)
    trusted = frozenset(name for name, remote in config.remotes.items() if remote.trusted)
    objects = ObjectStore(project.cache_dir)
    objects.remove_stale_temps()  # of a transfer that was killed
    return project, store, StageCache(store, objects, FileHasher(store), trusted)


def _remote(project, name: str | None):
    from .core.transfer import open_remote

    config = project.config()
    return open_remote(config.default_remote(), name, config.remotes)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


_remote_option = click.option("-r", "--remote", "remote_name", metavar="NAME", help="Remote to use (default: the default remote).")
_jobs_option = click.option("-j", "--jobs", type=click.IntRange(min=1), help="Requests in flight (default: 64 on S3, 4 x CPUs elsewhere).")
_quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


# --- remote ----------------------------------------------------------------------


@main.group()
def remote() -> None:
    """Remotes: where push, pull and the team-shared stage cache put objects (any fsspec URL)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("-d", "--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("--trusted/--untrusted", default=None,
              help="Whether pickled variables pulled from it may be restored (default: trusted for the first remote).")
@click.option("--endpoint-url", help="S3-compatible server (MinIO, SeaweedFS, …).")
@click.option("--profile", help="AWS profile to take credentials from.")
@click.option("--region", help="The bucket's region.")
@click.option("-f", "--force", is_flag=True, help="Replace a remote of that name.")
@click.pass_context
def remote_add(ctx, name, url, make_default, trusted, endpoint_url, profile, region, force) -> None:
    """Add a remote NAME at URL (s3://bucket/path, gs://…, az://…, ssh://host/path, a folder).

    Credentials never go into .mlops/config.toml: they come from the environment or the file
    system's own chain (AWS_ACCESS_KEY_ID…, ~/.aws/credentials, --profile)."""
    from .core import remotes

    project = _project(ctx).ensure()
    if "://" not in url:
        url = str((project.root / url).resolve()) if not url.startswith("/") else url
    options = {k: v for k, v in {"endpoint_url": endpoint_url, "profile": profile, "region": region}.items() if v}
    config = project.config()
    added = remotes.add(project.config_path, name, url, default=make_default, trusted=trusted, options=options,
                        existing=config.remotes, force=force)
    default = make_default or not config.remotes
    click.echo(f"Remote {name!r}: {added.url}{' (default)' if default else ''}"
               f"{'' if added.trusted else ' — untrusted: pickled variables pulled from it are not restored'}")


@remote.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def remote_list(ctx, as_json: bool) -> None:
    """The remotes, the default first."""
    config = _project(ctx).config()
    rows = [{"name": r.name, "url": r.url, "default": r.name == config.core.remote, "trusted": r.trusted, **r.options}
            for r in sorted(config.remotes.values(), key=lambda r: (r.name != config.core.remote, r.name))]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No remotes — add one: mlops-jupyter remote add -d NAME URL")
        return
    for row in rows:
        flags = [f for f, on in (("default", row["default"]), ("trusted", row["trusted"])) if on]
        extra = "".join(f" {k}={row[k]}" for k in ("endpoint_url", "profile", "region") if k in row)
        click.echo(f"{row['name']}\t{row['url']}{extra}{'  (' + ', '.join(flags) + ')' if flags else ''}")


@remote.command("remove")
@click.argument("name")
@click.pass_context
def remote_remove(ctx, name: str) -> None:
    """Forget remote NAME (nothing on it is deleted)."""
    from .core import remotes

    project = _project(ctx)
    remotes.remove(project.config_path, name, project.config().remotes)
    click.echo(f"Removed remote {name!r}")


@remote.command("default")
@click.argument("name")
@click.pass_context
def remote_default(ctx, name: str) -> None:
    """Make NAME the default remote."""
    from .core import remotes

    project = _project(ctx)
    remotes.set_default(project.config_path, name, project.config().remotes)
    click.echo(f"Default remote: {name}")


@remote.command("modify")
@click.argument("name")
@click.option("--trusted/--untrusted", default=None, help="Whether pickled variables pulled from it may be restored.")
@click.option("--endpoint-url", help="S3-compatible server (MinIO, SeaweedFS, …).")
@click.option("--profile", help="AWS profile to take credentials from.")
@click.option("--region", help="The bucket's region.")
@click.option("--unset", multiple=True, metavar="OPTION", help="Drop an option (endpoint_url, profile, region).")
@click.pass_context
def remote_modify(ctx, name, trusted, endpoint_url, profile, region, unset) -> None:
    """Change remote NAME's trust or options."""
    from .core import remotes

    project = _project(ctx)
    options = {k: v for k, v in {"endpoint_url": endpoint_url, "profile": profile, "region": region}.items() if v}
    remotes.modify(project.config_path, name, project.config().remotes, trusted=trusted, options=options, unset=unset)
    click.echo(f"Remote {name!r} updated")


# --- transfers -------------------------------------------------------------------


def _push_scope(store, cache, pins, targets):
    """(stage fingerprints, extra objects) that ``push TARGETS`` sends."""
    from .core import workspace
    from .core.errors import RunNotFound

    if not targets:
        objects, _ = workspace.objects_of(cache, pins)
        fingerprints = {row.fingerprint for row in store.cached_stages()}
        return fingerprints | set(pins.stages), objects | store.artifact_hashes()
    fingerprints, extra = set(), set()
    for target in targets:
        try:
            narrowed = pins.narrowed((target,))
        except workspace.WorkspaceError:
            try:
                detail = store.get_run(store.resolve_run_id(target))
            except RunNotFound:
                raise workspace.WorkspaceError(
                    f"{target!r} is no stage or added path of mlops.lock, and no run id; "
                    "`mlops-jupyter runs ls` lists runs"
                ) from None
            extra |= {a.hash for a in detail.artifacts}
            fingerprints |= {row.fingerprint for row in store.cached_stages() if row.run_id == detail.run.id}
            continue
        fingerprints |= set(narrowed.stages)
        extra |= workspace.objects_of(cache, narrowed)[0]
    return fingerprints, extra


@main.command()
@click.argument("targets", nargs=-1)
@_remote_option
@_jobs_option
@_quiet_option
@click.pass_context
def push(ctx, targets, remote_name, jobs, quiet) -> None:
    """Send objects, stage results and their run records to a remote: everything mlops.lock, the
    stage cache and the runs' artifacts reference, or only TARGETS (stages, added paths, run ids).
    What the remote has already is skipped, so an interrupted push resumes."""
    from .core import transfer, workspace

    project, store, cache = _cache(ctx)
    with store:
        remote = _remote(project, remote_name)
        fingerprints, extra = _push_scope(store, cache, workspace.pinned(project), targets)
        moved = transfer.push(store, cache, remote, fingerprints=sorted(fingerprints), extra=extra, jobs=jobs,
                              quiet=quiet)
    click.echo(f"Pushed {moved.objects} object{'s' * (moved.objects != 1)} ({_size(moved.bytes)}) and "
               f"{moved.entries} stage result{'s' * (moved.entries != 1)} to {remote.name!r}; "
               f"{moved.skipped} already there")


def _fetch(ctx, targets, remote_name, jobs, quiet):
    """Bring what mlops.lock pins (or TARGETS of it) into the local cache."""
    from .core import transfer, workspace

    project, store, cache = _cache(ctx)
    remote = _remote(project, remote_name)
    pins = workspace.pinned(project).narrowed(tuple(targets))
    entries = transfer.fetch_entries(store, cache, remote, pins.stages, jobs=jobs, quiet=quiet)
    listings = transfer.fetch_objects(cache.objects, remote, [e["hash"] for e in pins.data.values()], jobs=jobs,
                                      quiet=quiet)
    wanted, unknown = workspace.objects_of(cache, pins)
    objects = transfer.fetch_objects(cache.objects, remote, wanted, jobs=jobs, quiet=quiet)
    count = entries.objects + listings.objects + objects.objects
    size = entries.bytes + listings.bytes + objects.bytes
    return project, store, cache, pins, remote, count, size, entries.entries, unknown


@main.command()
@click.argument("targets", nargs=-1)
@_remote_option
@_jobs_option
@_quiet_option
@click.pass_context
def fetch(ctx, targets, remote_name, jobs, quiet) -> None:
    """Download what mlops.lock pins (stage results with their runs, added data) into the local cache,
    without touching the workspace."""
    project, store, cache, pins, remote, count, size, entries, unknown = _fetch(ctx, targets, remote_name, jobs, quiet)
    store.close()
    click.echo(f"Fetched {count} object{'s' * (count != 1)} ({_size(size)}) and {entries} stage "
               f"result{'s' * (entries != 1)} from {remote.name!r}")
    for fingerprint in unknown:
        click.secho(f"warning: {pins.stages[fingerprint][0]}: {remote.name!r} has no result for it (push it where it ran)",
                    fg="yellow", err=True)


@main.command()
@click.argument("targets", nargs=-1)
@_remote_option
@_jobs_option
@_quiet_option
@click.option("--pipeline", "pipeline", metavar="NOTEBOOK", type=click.Path(dir_okay=False),
              help="Instead: the results of a pipeline run of NOTEBOOK's export (--io remote), with their runs.")
@click.option("--run", "pipeline_run", metavar="RUN_ID", help="With --pipeline: that Airflow run (default: the latest).")
@click.pass_context
def pull(ctx, targets, remote_name, jobs, quiet, pipeline, pipeline_run) -> None:
    """fetch, then checkout: the workspace gets the outs and added data mlops.lock pins, and the
    stage results come into the cache, so `mlops-jupyter run` restores instead of running."""
    from .core import workspace

    if pipeline or pipeline_run:
        if targets or not pipeline:
            raise click.UsageError("--pipeline NOTEBOOK [--run RUN_ID] takes no TARGETS")
        _pull_pipeline(ctx, pipeline, pipeline_run, remote_name, quiet)
        return
    project, store, cache, pins, remote, count, size, entries, _ = _fetch(ctx, targets, remote_name, jobs, quiet)
    with store:
        done, missing = workspace.checkout(project, cache, pins)
    click.echo(f"Pulled {count} object{'s' * (count != 1)} ({_size(size)}) and {entries} stage "
               f"result{'s' * (entries != 1)} from {remote.name!r}; {len(done)} path{'s' * (len(done) != 1)} in place")
    _report_missing(missing)


def _pull_pipeline(ctx, notebook: str, pipeline_run: str | None, remote_name: str | None, quiet: bool) -> None:
    """The results of a pipeline run that shared no disk: their objects and runs, their outs in place."""
    from pathlib import Path

    from .core import workspace
    from .export import pipeline_runs

    project, store, cache = _cache(ctx)
    with store:
        remote = _remote(project, remote_name)
        name = project.name_of(Path(notebook).resolve())
        found = pipeline_runs.records(remote, name, pipeline_run)
        if not found:
            which = f"run {pipeline_run!r}" if pipeline_run else "any run"
            raise click.ClickException(f"remote {remote.name!r} has no pipeline {which} of {name} "
                                       "(its export runs with --io remote)")
        pipeline_runs.fetch(store, cache, remote, found, quiet=quiet)
        done, missing = workspace.checkout(project, cache, workspace.Pinned(
            stages={r.fingerprint: [f"{name}:{r.stage}"] for r in found}))
    from tabulate import tabulate

    click.echo(f"Pipeline run {found[0].pipeline_run} of {name} from {remote.name!r}:")
    click.echo(tabulate([(r.stage, "restored" if r.restored else "ran", r.run_id[:8]) for r in found],
                        headers=["stage", "result", "run"], disable_numparse=True))
    click.echo(f"{len(found)} stage result{'s' * (len(found) != 1)} and their runs in the store; "
               f"{len(done)} path{'s' * (len(done) != 1)} in place")
    _report_missing(missing)


def _report_missing(missing: list[str]) -> None:
    for line in missing:
        click.secho(f"warning: {line}", fg="yellow", err=True)
    if missing:
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("targets", nargs=-1)
@_remote_option
@_quiet_option
@click.pass_context
def checkout(ctx, targets, remote_name, quiet) -> None:
    """Make the workspace match mlops.lock: the outs of its stages and the added data (all, or
    TARGETS), from the local cache, else the remote. After `git checkout <old commit>` the old
    data comes back."""
    from .core import transfer, workspace

    project, store, cache = _cache(ctx)
    with store:
        pins = workspace.pinned(project).narrowed(tuple(targets))
        config = project.config()
        wanted, unknown = workspace.objects_of(cache, pins)
        incomplete = bool(unknown) or any(not cache.objects.exists(d) for d in wanted)
        if incomplete and (remote_name or config.default_remote()):
            remote = _remote(project, remote_name)
            transfer.fetch_entries(store, cache, remote, unknown, quiet=quiet)
            transfer.fetch_objects(cache.objects, remote, [e["hash"] for e in pins.data.values()], quiet=quiet)
            transfer.fetch_objects(cache.objects, remote, workspace.objects_of(cache, pins)[0], quiet=quiet)
        done, missing = workspace.checkout(project, cache, pins)
    click.echo(f"{len(done)} path{'s' * (len(done) != 1)} match mlops.lock")
    _report_missing(missing)


@main.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def add_command(ctx, paths) -> None:
    """Track data files or folders: their content goes into the cache and their version into
    mlops.lock (commit it: git then pins the data; push sends it to the remote)."""
    from .core import workspace

    project, store, cache = _cache(ctx)
    with store:
        for path in paths:
            entry = workspace.add(project, cache, path)
            what = f"{entry['files']} files, " if entry["kind"] == "dir" else ""
            click.echo(f"Added {entry['path']} ({what}{_size(entry['size'])}, {entry['hash'][:12]})")


@main.command()
@click.option("-w", "--workspace", "scope", flag_value="workspace", help="Keep only what mlops.lock pins.")
@click.option("-a", "--all-runs", "scope", flag_value="all", help="Keep also every stage result and run artifact of the store.")
@click.option("--cloud", is_flag=True, help="Also delete what is not kept from the remote.")
@click.option("--dry", is_flag=True, help="Only say what would be deleted.")
@_remote_option
@click.pass_context
def gc(ctx, scope, cloud, dry, remote_name) -> None:
    """Delete cached objects nothing in the chosen scope references (-w or -a, as DVC's gc)."""
    from .core import transfer, workspace

    if scope is None:
        raise click.UsageError("choose what to keep: -w (what mlops.lock pins) or -a (also every run's results)")
    project, store, cache = _cache(ctx)
    with store:
        pins = workspace.pinned(project)
        keep = workspace.keep_sets(cache, pins, all_runs=scope == "all")
        doomed = [(d, p) for d, p in transfer.local_objects(cache.objects) if d not in keep]
        size = sum(p.stat().st_size for _, p in doomed)
        dropped = [row for row in store.cached_stages() if row.manifest not in keep]
        if not dry:
            for row in dropped:
                store.forget_stage(row.fingerprint)
            for _, path in doomed:
                path.unlink(missing_ok=True)
        verb = "Would delete" if dry else "Deleted"
        click.echo(f"{verb} {len(doomed)} local object{'s' * (len(doomed) != 1)} ({_size(size)}); kept {len(keep)}")
        if cloud:
            remote = _remote(project, remote_name)
            on_remote = remote.listing()
            gone = sorted(on_remote - keep)
            stale_entries = sorted(remote.entries() - {row.fingerprint for row in store.cached_stages()} - set(pins.stages))
            if not dry:
                remote.delete(gone, stale_entries)
            click.echo(f"{verb} {len(gone)} object{'s' * (len(gone) != 1)} and {len(stale_entries)} stage "
                       f"result{'s' * (len(stale_entries) != 1)} on {remote.name!r}")


@main.group()
def cache() -> None:
    """The local object cache."""


@cache.command("verify")
@_quiet_option
@click.pass_context
def cache_verify(ctx, quiet) -> None:
    """Re-hash every object (reading it in full) and report the ones whose bytes changed."""
    from tqdm import tqdm

    from .core import transfer
    from .core.objects import hash_file

    project = _project(ctx)
    from .core.objects import ObjectStore

    objects = list(transfer.local_objects(ObjectStore(project.cache_dir)))
    bad = []
    for digest, path in tqdm(objects, desc="verify", unit="object", disable=True if quiet else None, leave=False):
        try:
            if hash_file(path) != digest:
                bad.append(digest)
        except OSError:
            bad.append(digest)
    for digest in bad:
        click.echo(f"corrupt: {digest}  ({ObjectStore(project.cache_dir).path(digest)})")
    click.echo(f"{len(objects) - len(bad)} of {len(objects)} objects verify"
               + (f"; {len(bad)} corrupt: delete them (the next run or a pull replaces them)" if bad else ""))
    if bad:
        raise click.exceptions.Exit(1)


def cloud_status(ctx, remote_name: str | None, as_json: bool) -> None:
    """``status --cloud``: what of what push would send is only local, only remote, or on both."""
    from .core import workspace

    project, store, cache = _cache(ctx)
    with store:
        remote = _remote(project, remote_name)
        fingerprints, extra = _push_scope(store, cache, workspace.pinned(project), ())
        wanted = set(extra)
        for fingerprint in fingerprints:
            wanted |= workspace.objects_of(cache, workspace.Pinned(stages={fingerprint: [fingerprint]}))[0]
        local = {d for d in wanted if cache.objects.exists(d)}
        there = remote.listing()
        entries = remote.entries()
    report = {
        "remote": remote.name,
        "local_only": len(local - there),
        "remote_only": len(there - local),
        "both": len(local & there),
        "stage_results_to_push": len(set(fingerprints) - entries),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{remote.name} ({remote.config.url}):")
    click.echo(f"  local only:  {report['local_only']} objects, {report['stage_results_to_push']} stage results"
               + ("  → mlops-jupyter push" if report["local_only"] or report["stage_results_to_push"] else ""))
    click.echo(f"  remote only: {report['remote_only']} objects" + ("  → mlops-jupyter pull" if report["remote_only"] else ""))
    click.echo(f"  in sync:     {report['both']} objects")

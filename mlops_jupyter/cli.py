"""The ``mlops-jupyter`` command line.

Start-up stays light: this module imports only click at the top; each command
imports what it needs. ``--help`` and ``runs ls`` never import pandas or IPython.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ._version import __version__


class _Group(click.Group):
    """Shows mlops-jupyter's own errors, and the operating system's, as one ``Error: ...`` line."""

    def invoke(self, ctx: click.Context):
        from .core.errors import MlopsError

        try:
            return super().invoke(ctx)
        except MlopsError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # the machine's, not the user's: a full disk, a read-only folder
            from .core.errors import describe_os_error

            raise click.ClickException(describe_os_error(e)) from None

    def main(self, args=None, *rest, **options):
        """As the process's own command (``args`` from ``sys.argv``): a command that moved bytes
        through obstore ends the process without interpreter finalization. obstore's Rust runtime
        keeps worker threads that are never shut down, and finalizing around them can abort the
        process (SIGABRT) after the command succeeded; everything is written by then (SQLite has
        committed, the remote has the objects), so only the exit status is left to give."""
        try:
            return super().main(args, *rest, **options)
        except SystemExit as done:
            if args is not None or "obstore" not in sys.modules:
                raise
            code = done.code
            if not isinstance(code, int):
                if code is not None:
                    print(code, file=sys.stderr)
                code = 0 if code is None else 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _project(ctx: click.Context):
    from .core.project import Project, find_project

    root = ctx.obj.get("project") if ctx.obj else None
    return Project(Path(root).resolve()) if root else find_project()


def _open_store(ctx: click.Context, *, must_exist: bool = True, project=None):
    """The project's store; None when there is none yet and none is needed."""
    from .core.store import RunStore

    project = project or _project(ctx)
    if not project.db_path.exists():
        if must_exist:
            return None
        project.ensure()
    return RunStore(project.db_path, busy_timeout=project.config().core.busy_timeout)


def _no_store_message(ctx: click.Context) -> str:
    root = _project(ctx).root
    below = _projects_below(root)
    if below:
        names = ", ".join(str(p.relative_to(root)) for p in below[:5]) + (", …" if len(below) > 5 else "")
        return (f"No runs in {root} (no .mlops/ here or above); projects below it: {names} — "
                f"pick one with -C, e.g. mlops-jupyter -C {below[0].relative_to(root)} runs ls")
    return (
        f"No runs yet in {root} — add %%stage to a notebook cell, "
        "or call mj.log_metric(...) in a script"
    )


def _projects_below(root: Path, depth: int = 3, limit: int = 2000) -> list[Path]:
    """Folders under ``root`` (a few levels, hidden ones skipped) that hold a run store."""
    from .core.project import MLOPS_DIR

    found, level, seen = [], [root], 0
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
            except OSError:
                continue
            for child in children:
                seen += 1
                if (child / MLOPS_DIR / "runs.db").is_file():
                    found.append(child)
                elif child.name != "node_modules":
                    below.append(child)
                if seen >= limit:
                    return found
        level = below
    return found


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlops-jupyter")
@click.option(
    "-C",
    "--project",
    type=click.Path(file_okay=False),
    help="Project folder (default: $MLOPS_JUPYTER_DIR, else the nearest folder above with .mlops/, "
    "else the git root, else the current folder).",
)
@click.pass_context
def main(ctx: click.Context, project: str | None) -> None:
    """Pipeline stages, run tracking and caching for Jupyter notebooks."""
    ctx.obj = {"project": project}


@main.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.pass_context
def init(ctx: click.Context, path: str | None) -> None:
    """Create .mlops/ (run store, cache, config.toml) in PATH or the project folder."""
    from .core.project import init_project
    from .core.store import RunStore

    project, created = init_project(path or (ctx.obj or {}).get("project"))
    RunStore(project.db_path, busy_timeout=project.config().core.busy_timeout).close()
    state = "Initialized" if created else "Already initialized:"
    click.echo(f"{state} mlops-jupyter project in {project.root}")
    click.echo(f"  run store  {project.db_path}")
    click.echo(f"  config     {project.config_path}")


@main.command("run")
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("-p", "--param", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a param of params.yaml for this run, e.g. -p train.n_est=200 (repeatable; the file is not edited).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Save the executed notebook here (default: in place).")
@click.option("--timeout", type=int, default=None, help="Seconds a cell may run before it is stopped (default: no limit).")
@click.option("-s", "--stage", help="Run only this stage and the upstream stages it needs (fresh ones are restored).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def run_command(notebook: str, overrides, output: str | None, timeout: int | None, stage: str | None, quiet: bool) -> None:
    """Execute NOTEBOOK headless in a real kernel; cached stages are restored, not re-run."""
    from tabulate import tabulate

    from .core.params import parse_override
    from .core.report import format_duration
    from .execute import run_notebook

    values = dict(parse_override(text) for text in overrides)
    result = run_notebook(Path(notebook), overrides=values, output=Path(output) if output else None,
                          progress=not quiet, timeout=timeout, stage=stage)
    rows = [(o.stage, o.status, format_duration(o.seconds), format_duration(o.saved) if o.saved else "",
             (o.run_id or "")[:8]) for o in result.outcomes]
    if rows:
        click.echo(tabulate(rows, headers=["stage", "result", "time", "saved", "run"], disable_numparse=True))
    counts = {status: sum(o.status == status for o in result.outcomes) for status in ("ran", "restored", "failed")}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no stages"
    saved = sum(o.saved for o in result.outcomes)
    click.echo(f"{summary} in {format_duration(result.seconds)}"
               + (f" (cache saved {format_duration(saved)})" if saved else "")
               + f"; saved {output or notebook}")
    if result.error:
        raise click.ClickException(f"the notebook stopped at an error: {result.error}")


def _pipeline_status(ctx: click.Context, notebook: str):
    """(pipeline, statuses) of a notebook, the store opened read-only if it exists."""
    from .core.graph import load
    from .core.project import Project, find_project
    from .core.status import pipeline_status

    path = Path(notebook).resolve()
    root = (ctx.obj or {}).get("project")
    project = Project(Path(root).resolve()) if root else find_project(path.parent)
    pipeline = load(path)
    store = _open_store(ctx, project=project)
    try:
        return pipeline, pipeline_status(pipeline, path, project, store)
    finally:
        if store is not None:
            store.close()


@main.command()
@click.argument("notebook", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON: each stage with its state and reasons.")
@click.option("--cloud", is_flag=True, help="Instead: what is only local, only on the remote, or on both.")
@click.option("-r", "--remote", "remote_name", metavar="NAME", help="With --cloud: the remote (default: the default one).")
@click.pass_context
def status(ctx: click.Context, notebook: str | None, as_json: bool, cloud: bool, remote_name: str | None) -> None:
    """Show what the next run of each stage of NOTEBOOK does: fresh or cached (restores), stale
    (runs, and why), unknown (reads kernel state), uncached, never run, failed or running.

    Computed from mlops.lock, params, files and the run store: nothing is executed.
    """
    if cloud:
        from .cli_remote import cloud_status

        cloud_status(ctx, remote_name, as_json)
        return
    if notebook is None:
        raise click.UsageError("give a NOTEBOOK (or --cloud for the remote's status)")
    pipeline, statuses = _pipeline_status(ctx, notebook)
    if as_json:
        click.echo(json.dumps({s.stage: {"state": s.state, "reasons": list(s.reasons), "last_run": s.last_run}
                               for s in statuses}, indent=2, ensure_ascii=False))
        return
    for warning in pipeline.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if not statuses:
        click.echo(f"No stages in {notebook} — add %%stage NAME to a cell")
        return
    colors = {"fresh": "green", "cached": "cyan", "stale": "yellow", "unknown": "magenta", "uncached": "yellow",
              "failed": "red", "running": "blue", "never run": None}
    width = max(len(s.stage) for s in statuses)
    for s in statuses:
        state = click.style(s.state, fg=colors[s.state]) + " " * (9 - len(s.state))
        click.echo((f"{s.stage:<{width}}  {state}  " + "; ".join(s.reasons)).rstrip())


@main.command()
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Print a Mermaid flowchart.")
@click.option("--dot", "fmt", flag_value="dot", help="Print Graphviz dot.")
@click.option("--states/--no-states", default=True, show_default=True, help="Show each stage's state.")
@click.pass_context
def dag(ctx: click.Context, notebook: str, fmt: str | None, states: bool) -> None:
    """Show the pipeline of NOTEBOOK: stages and what flows between them."""
    from .core import graph_render

    pipeline, statuses = _pipeline_status(ctx, notebook)
    state_of = {s.stage: s.state for s in statuses} if states else None
    render = {"mermaid": graph_render.to_mermaid, "dot": graph_render.to_dot}.get(fmt, graph_render.to_text)
    click.echo(render(pipeline, state_of))


@main.command("export")
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--to", "to", type=click.Choice(["dvc", "airflow"]), required=True, help="What to export to.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Folder to write to (default: the notebook's).")
@click.option("--python", help="Interpreter the stages run with (default: this one).")
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True, help="Airflow: retries of every task (a stage's --retries wins).")
@click.option("--retry-delay", metavar="DURATION", help="Airflow: wait between retries of every task, e.g. 30s, 5m (default: 5m; a stage's --retry-delay wins).")
@click.option("--schedule", help="Airflow: the DAG's schedule, e.g. @daily or a cron expression (default: none, manual).")
@click.option("--operator", type=click.Choice(["bash", "kubernetes", "docker"]), default="bash", show_default=True,
              help="Airflow: what runs each task: a BashOperator on the worker, a KubernetesPodOperator or a DockerOperator.")
@click.option("--io", type=click.Choice(["local", "remote"]),
              help="Airflow: how tasks pass data: one shared disk (local; the bash default) or the project's default "
                   "remote, sharing no disk (remote; the kubernetes and docker default).")
@click.option("--image", help="Airflow, kubernetes/docker: the image of the tasks (default: image under [export] in config.toml).")
@click.option("--namespace", help="Airflow, kubernetes: the pods' namespace (default: namespace under [export], else default).")
def export_command(notebook: str, to: str, output: str | None, python: str | None, retries: int, retry_delay: str | None,
                   schedule: str | None, operator: str, io: str | None, image: str | None, namespace: str | None) -> None:
    """Export NOTEBOOK's stages as a reproducible pipeline: scripts plus dvc.yaml or an Airflow DAG."""
    from .core.spec import parse_duration
    from .export import export_notebook

    airflow = {}
    if to == "airflow":
        delay = parse_duration(retry_delay, "--retry-delay") if retry_delay is not None else None
        airflow = dict(operator=operator, io=io, image=image, namespace=namespace, retry_delay=delay)
    elif any(v is not None for v in (retry_delay, schedule, io, image, namespace)) or operator != "bash" or retries:
        raise click.UsageError("--retries, --retry-delay, --schedule, --operator, --io, --image and --namespace "
                               "are options of --to airflow")
    result = export_notebook(notebook, to, output, python=python, retries=retries, schedule=schedule, **airflow)
    for note in result.notes:
        click.secho(f"note: {note}", fg="yellow", err=True)
    for name in result.written:
        click.echo(f"wrote {result.folder / name}")
    if result.unchanged and not result.written:
        click.echo(f"up to date: {len(result.unchanged)} files in {result.folder}")
    click.echo(f"run it with: {result.command}")


@main.group()
def runs() -> None:
    """List, show and compare tracked runs."""


def _filter_options(command):
    options = [
        click.option("-e", "--experiment", multiple=True, help="Only runs of this experiment (repeatable)."),
        click.option("-s", "--stage", multiple=True, help="Only runs of this stage (repeatable)."),
        click.option(
            "--status",
            multiple=True,
            type=click.Choice(["running", "finished", "failed", "killed"]),
            help="Only runs with this status (repeatable).",
        ),
        click.option(
            "-f",
            "--filter",
            "filter_",
            metavar="EXPR",
            help="Filter expression, e.g. \"metrics.rmse < 0.7 and params.n_est = 100\".",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@runs.command("ls")
@_filter_options
@click.option("-S", "--sort", "sort", multiple=True, metavar="FIELD [DESC]", help="Sort by a field, e.g. \"metrics.rmse DESC\" (repeatable; default: newest first).")
@click.option("-n", "--limit", default=50, show_default=True, help="Show at most this many runs (0: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field, params, metrics and tags).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with flat params.* / metrics.* / tags.* columns.")
@click.pass_context
def runs_ls(ctx, experiment, stage, status, filter_, sort, limit, as_json, as_csv) -> None:
    """List runs, newest first."""
    from .core import report

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    store = _open_store(ctx)
    if store is None:
        summaries, total = [], 0
    else:
        with store:
            conditions = dict(experiment=experiment, stage=stage, status=status, filter=filter_)
            summaries = store.search(**conditions, order_by=sort, limit=limit or None)
            total = store.count(**conditions) if limit and len(summaries) == limit else len(summaries)
    if as_json:
        click.echo(json.dumps([report.run_record(s) for s in summaries], indent=2))
        return
    if as_csv:
        import csv

        columns = report.flat_columns(summaries)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow([*report.RUN_FIELDS, *columns])
        for s in summaries:
            writer.writerow([*report.run_fields(s.run).values(), *(report.flat_value(s, c) for c in columns)])
        return
    if not summaries:
        click.echo(_no_store_message(ctx) if store is None else "No runs match.")
        return
    from tabulate import tabulate

    headers, rows = report.runs_table(summaries)
    click.echo(tabulate(rows, headers=headers, disable_numparse=True))
    if total > len(summaries):
        click.echo(f"… {total - len(summaries):,} more runs; --limit 0 shows all")


def _detail(store, run_id: str):
    return store.get_run(store.resolve_run_id(run_id))


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def runs_show(ctx, run_id: str, as_json: bool) -> None:
    """Show one run in full: params, metrics, tags, artifacts, lineage, environment, code.

    RUN_ID may be any unique prefix of the id.
    """
    from tabulate import tabulate

    from .core import report
    from .core.errors import RunNotFound

    store = _open_store(ctx)
    if store is None:
        raise RunNotFound(f"no run {run_id!r}: {_no_store_message(ctx)}")
    with store:
        detail = _detail(store, run_id)
    if as_json:
        click.echo(json.dumps(report.detail_record(detail), indent=2))
        return
    run, env = detail.run, detail.environment
    fields = [
        ("experiment", run.experiment),
        ("stage", run.stage or ""),
        ("status", run.status),
        ("started", report.format_time(run.start_time)),
        ("duration", report.run_duration(run)),
        ("notebook", run.notebook or ""),
        ("cell", run.cell_id or ""),
        ("fingerprint", run.fingerprint or ""),
    ]
    click.secho(f"Run {run.id}", bold=True)
    click.echo(tabulate([f for f in fields if f[1]], tablefmt="plain"))

    def section(title: str, rows, headers=()) -> None:
        if rows:
            click.secho(f"\n{title}", bold=True)
            click.echo(tabulate(rows, headers=headers, tablefmt="plain", disable_numparse=True))

    def value(v, width: int = 200) -> str:
        text = report.format_value(v)
        return text if len(text) <= width else f"{report.shorten(text, width)} ({len(text):,} characters; --json shows all)"

    section("Params", [(k, value(v)) for k, v in sorted(detail.params.items())])
    section(
        "Metrics",
        [(k, report.format_value(v), detail.metric_steps.get(k, 0)) for k, v in sorted(detail.metrics.items())],
        ("key", "latest", "steps"),
    )
    section("Tags", [(k, value(v)) for k, v in sorted(detail.tags.items())])
    section(
        "Artifacts",
        [(a.name, a.kind, f"{a.size:,}", a.mime or "", a.hash[:12]) for a in detail.artifacts],
        ("name", "kind", "bytes", "type", "object"),
    )
    section("Lineage", [(e.upstream_run_id[:8], e.kind, e.via) for e in detail.lineage], ("upstream", "through", "name"))
    if env is not None:
        git = f"{env.git_commit[:10]}{' (dirty)' if env.git_dirty else ''}" if env.git_commit else "not a git repository"
        section(
            "Environment",
            [
                ("python", env.python),
                ("platform", env.platform),
                ("git", git),
                ("host", f"{env.host} (pid {env.pid})"),
                ("packages", ", ".join(f"{k} {v}" for k, v in env.packages.items())),
            ],
        )
    if detail.code:
        click.secho("\nCode", bold=True)
        click.echo("\n".join("    " + line for line in detail.code.splitlines()))


@runs.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("-a", "--all", "all_rows", is_flag=True, help="Also show params and metrics that did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def runs_diff(ctx, run_a: str, run_b: str, all_rows: bool, as_json: bool) -> None:
    """Compare the params and metrics of two runs (B - A), as `dvc exp diff` does."""
    from .core import report
    from .core.errors import RunNotFound

    store = _open_store(ctx)
    if store is None:
        raise RunNotFound(f"no run {run_a!r}: {_no_store_message(ctx)}")
    with store:
        a, b = _detail(store, run_a), _detail(store, run_b)
    rows = report.diff_rows(a, b, all_rows=all_rows)
    if as_json:
        click.echo(json.dumps(report.diff_record(a, b, rows), indent=2))
        return
    if not rows:
        click.echo(f"No differences in params or metrics between {a.run.id[:8]} and {b.run.id[:8]}.")
        return
    from tabulate import tabulate

    click.echo(tabulate(report.diff_table(rows), headers=["", a.run.id[:8], b.run.id[:8], "change"],
                        disable_numparse=True))


from . import cli_remote  # noqa: E402,F401  (registers remote, push, pull, fetch, checkout, add, gc, cache)
from . import cli_experiments  # noqa: E402,F401  (registers exp show, exp diff)
from . import cli_models  # noqa: E402,F401  (registers models ls, show, versions, history, alias, stage, tag)
from . import cli_mlflow  # noqa: E402,F401  (registers sync mlflow, import mlflow)
from . import cli_plots  # noqa: E402,F401  (registers plots show, plots diff)

if __name__ == "__main__":  # pragma: no cover
    main()

"""The one parser of the ``%%stage NAME [flags]`` line.

The magic, the pipeline graph and the exporters all read stages through
``parse_stage_line`` / ``stage_of_cell``; the flags mirror ``dvc stage add``.
"""

from __future__ import annotations

import argparse
import functools
import re
import shlex
from dataclasses import dataclass

from .errors import MlopsError
from .plots import PlotDef, PlotError, PlotFlag, flag_definitions

DEFAULT_PARAMS_FILE = "params.yaml"
_NAME = re.compile(r"^[A-Za-z_][\w\-]*$")
MAGIC = "%%stage"
# Airflow's trigger rules (as Airflow 3 names them), for the exported task.
TRIGGER_RULES = ("all_success", "all_failed", "all_done", "one_success", "one_failed", "one_done", "none_failed",
                 "none_failed_min_one_success", "none_skipped", "all_skipped", "always", "all_done_min_one_success")
# What --resources may ask for: Kubernetes quantities (cpu 2 or 500m, memory 4Gi or 512M, gpu a count).
RESOURCES = ("cpu", "memory", "gpu")
_QUANTITY = {
    "cpu": re.compile(r"^(\d+(\.\d+)?|\.\d+)m?$"),
    "memory": re.compile(r"^\d+(\.\d+)?(k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"),
    "gpu": re.compile(r"^[1-9]\d*$"),
}
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_WHEN_STAGE = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*:(.*)$", re.S)


class SpecError(MlopsError, ValueError):
    """A ``%%stage`` line that cannot be parsed."""


@dataclass(frozen=True)
class ParamRef:
    """One ``-p`` entry: a key (``train.n_est``) or a whole section (``train``) of a params file."""

    file: str
    key: str


@dataclass(frozen=True)
class Condition:
    """``--when [STAGE:]EXPR``: the exported stage runs only when the run of STAGE (by default its
    one upstream stage) matches EXPR, an expression of the runs filter language."""

    stage: str | None
    expr: str

    def __str__(self) -> str:
        return f"{self.stage}: {self.expr}" if self.stage else self.expr


@dataclass(frozen=True)
class StageSpec:
    name: str
    deps: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    outs_no_cache: tuple[str, ...] = ()
    params: tuple[ParamRef, ...] = ()
    metrics: tuple[str, ...] = ()
    metrics_no_cache: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    plot_defs: tuple[PlotDef, ...] = ()  # one per --plots path, with its --plot-x/--plot-y/--template/...
    after: tuple[str, ...] = ()
    force: bool = False
    no_cache: bool = False
    retries: int = 0
    desc: str | None = None
    keep: tuple[str, ...] = ()  # variables cached even where they would be left out
    autolog: bool = False  # scikit-learn fits of the body are logged (kernel.autolog)
    # What only an exported task (Airflow) uses:
    resources: tuple[tuple[str, str], ...] = ()  # (cpu|memory|gpu, quantity), sorted
    when: Condition | None = None
    trigger_rule: str | None = None
    retry_delay: int | None = None  # seconds
    timeout: int | None = None  # seconds (Airflow's execution_timeout)

    @property
    def all_outs(self) -> tuple[str, ...]:
        """Every path the stage writes: outs, metrics and plots, cached or not."""
        return (*self.outs, *self.outs_no_cache, *self.metrics, *self.metrics_no_cache, *self.plots)

    @property
    def cached_outs(self) -> tuple[str, ...]:
        return (*self.outs, *self.metrics, *self.plots)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit the kernel
        raise SpecError(f"%%stage: {message}; see %%stage? for the flags")


@functools.lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """The parser of the flags (built once: argparse parsers can be reused)."""
    parser = _Parser(
        prog="%%stage",
        description="Make this cell a pipeline stage: fingerprinted, tracked as a run and cached.",
        add_help=False,
        exit_on_error=False,
    )
    add = parser.add_argument
    add("name", help="Stage name (letters, digits, _ and -), unique in the notebook.")
    add("-d", "--deps", action="append", default=[], metavar="PATH", help="File or folder the stage reads.")
    add("-o", "--outs", action="append", default=[], metavar="PATH", help="File or folder the stage writes (cached).")
    add("-O", "--outs-no-cache", action="append", default=[], metavar="PATH", help="Output not cached (tracked only).")
    add("-p", "--params", action="append", default=[], metavar="[FILE:]KEYS",
        help="Comma-separated keys (train.n_est) or sections (train) of params.yaml or FILE.")
    add("-m", "--metrics", action="append", default=[], metavar="PATH", help="Metrics file (JSON/YAML) the stage writes.")
    add("-M", "--metrics-no-cache", action="append", default=[], metavar="PATH", help="Metrics file not cached.")
    add("--plots", action=PlotFlag, default=[], metavar="PATH",
        help="Plot file the stage writes: data (JSON list, CSV, TSV) drawn with the flags below, or an image.")
    add("--plot-x", action=PlotFlag, metavar="FIELD", help="The x field of the --plots before it (default: the row number).")
    add("--plot-y", action=PlotFlag, metavar="FIELD[,FIELD]", help="The y field(s) of the --plots before it (default: its last field).")
    add("--template", action=PlotFlag, metavar="NAME",
        help="How the --plots before it is drawn: linear (default), simple, smooth, scatter, scatter_jitter, "
             "confusion, confusion_normalized, bar_horizontal, bar_horizontal_sorted.")
    add("--title", action=PlotFlag, metavar="TEXT", help="The title of the --plots before it.")
    add("--x-label", action=PlotFlag, metavar="TEXT", help="The x axis title of the --plots before it.")
    add("--y-label", action=PlotFlag, metavar="TEXT", help="The y axis title of the --plots before it.")
    add("--after", action="append", default=[], metavar="STAGE", help="Run after this stage (an explicit edge).")
    add("--force", action="store_true", help="Run even if a cached result exists.")
    add("--no-cache", action="store_true", help="Run and record, never restore or cache.")
    add("--retries", type=int, default=0, metavar="N", help="Retries of the exported task (Airflow).")
    add("--retry-delay", default=None, metavar="DURATION",
        help="Wait between retries of the exported task: seconds, or 30s, 5m, 1h30m, 1d.")
    add("--timeout", default=None, metavar="DURATION",
        help="Longest the exported task may run before it fails (Airflow's execution_timeout), e.g. 2h.")
    add("--resources", default=None, metavar="cpu=N,memory=Q,gpu=N",
        help="What the exported task's pod or container gets, e.g. cpu=2,memory=4Gi (Kubernetes, Docker).")
    add("--when", default=None, metavar="[STAGE:]EXPR",
        help="Exported pipelines: run only if the run of STAGE (default: the one upstream stage) matches "
             "EXPR, a runs filter, e.g. 'evaluate: metrics.accuracy > 0.9'. The notebook always runs it.")
    add("--trigger-rule", default=None, metavar="RULE",
        help="When the exported task starts, as Airflow's trigger rules say: all_success (default), "
             "all_done, none_failed, one_success, ...")
    add("--autolog", action="store_true",
        help="Log each scikit-learn fit of the body: its params, training metrics and the model (as mj.autolog()).")
    add("--desc", default=None, metavar="TEXT", help="Description of the stage.")
    add("--keep", action="append", default=[], metavar="VAR",
        help="Cache this variable even if it would be left out (a loop variable, a figure already shown).")
    return parser


def _param_refs(values: list[str]) -> tuple[ParamRef, ...]:
    refs = []
    for value in values:
        file, sep, keys = value.rpartition(":")
        file = file if sep else DEFAULT_PARAMS_FILE
        for key in (k.strip() for k in keys.split(",")):
            if not key:
                raise SpecError(f"%%stage: empty key in -p {value!r}; write -p train.n_est,train.seed")
            refs.append(ParamRef(file, key))
    return tuple(dict.fromkeys(refs))


def parse_duration(text: str, flag: str) -> int:
    """Seconds of ``90``, ``90s``, ``5m``, ``1h30m`` or ``1d``."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not text or not match:
        raise SpecError(f"{flag} {text!r} is no duration; write seconds or e.g. 30s, 5m, 1h30m, 1d")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def _duration(text: str | None, flag: str) -> int | None:
    try:
        return None if text is None else parse_duration(text, flag)
    except SpecError as e:
        raise SpecError(f"%%stage: {e}") from None


def parse_resources(text: str, where: str = "--resources") -> tuple[tuple[str, str], ...]:
    """``cpu=2,memory=4Gi,gpu=1`` as sorted (name, quantity) pairs; ``where`` names the source in errors."""
    found = {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, value = (piece.strip() for piece in item.partition("="))
        if not sep or name not in RESOURCES:
            raise SpecError(f"%%stage: {where} {text!r}: write NAME=QUANTITY pairs of {', '.join(RESOURCES)}, "
                            "e.g. cpu=2,memory=4Gi")
        if not _QUANTITY[name].match(value):
            example = {"cpu": "2 or 500m", "memory": "4Gi or 512Mi", "gpu": "a count, 1"}[name]
            raise SpecError(f"%%stage: {where}: {name}={value!r} is no quantity; write {example}")
        if name in found:
            raise SpecError(f"%%stage: {where}: {name} is given twice")
        found[name] = value
    return tuple(sorted(found.items()))


def _condition(text: str) -> Condition:
    from .filters import parse

    match = _WHEN_STAGE.match(text)
    stage, expr = (match.group(1), match.group(2).strip()) if match else (None, text.strip())
    if not expr:
        raise SpecError("%%stage: --when needs an expression, e.g. --when 'evaluate: metrics.accuracy > 0.9'")
    try:
        parse(expr)
    except MlopsError as e:
        raise SpecError(f"%%stage: --when {expr!r}: {e}") from None
    return Condition(stage, expr)


def _plot_defs(items) -> tuple[PlotDef, ...]:
    try:
        return flag_definitions(items)
    except PlotError as e:
        raise SpecError(f"%%stage: {e}") from None


def parse_stage_line(line: str) -> StageSpec:
    """Parse the arguments of ``%%stage`` (everything after the magic's name)."""
    try:
        argv = shlex.split(line, comments=False, posix=True)
    except ValueError as e:
        raise SpecError(f"%%stage: {e} in {line!r}") from None
    if not argv:
        raise SpecError("%%stage needs a stage name: %%stage train -p train")
    try:
        args = build_parser().parse_args(argv)
    except argparse.ArgumentError as e:
        raise SpecError(f"%%stage: {e}; see %%stage? for the flags") from None
    if not _NAME.match(args.name):
        raise SpecError(f"%%stage: stage name {args.name!r} must be letters, digits, _ or - (not starting with a digit or -)")
    if args.retries < 0:
        raise SpecError("%%stage: --retries must be 0 or more")
    if args.trigger_rule is not None and args.trigger_rule not in TRIGGER_RULES:
        raise SpecError(f"%%stage: --trigger-rule {args.trigger_rule!r} is not one of Airflow's: {', '.join(TRIGGER_RULES)}")
    timeout = _duration(args.timeout, "--timeout")
    if timeout == 0:
        raise SpecError("%%stage: --timeout must be longer than 0s")
    if args.force and args.no_cache:
        raise SpecError("%%stage: --force and --no-cache together; --no-cache alone already always runs")
    for flag, paths in (("-d", args.deps), ("-o", args.outs), ("-O", args.outs_no_cache),
                        ("-m", args.metrics), ("-M", args.metrics_no_cache), ("--plots", args.plots)):
        for path in paths:
            if not path.strip():
                raise SpecError(f"%%stage: empty path after {flag}")
    return StageSpec(
        name=args.name,
        deps=tuple(dict.fromkeys(args.deps)),
        outs=tuple(dict.fromkeys(args.outs)),
        outs_no_cache=tuple(dict.fromkeys(args.outs_no_cache)),
        params=_param_refs(args.params),
        metrics=tuple(dict.fromkeys(args.metrics)),
        metrics_no_cache=tuple(dict.fromkeys(args.metrics_no_cache)),
        plots=tuple(dict.fromkeys(args.plots)),
        plot_defs=_plot_defs(getattr(args, "plot_props", None) or []),
        after=tuple(dict.fromkeys(args.after)),
        force=args.force,
        no_cache=args.no_cache,
        retries=args.retries,
        desc=args.desc,
        autolog=args.autolog,
        keep=tuple(dict.fromkeys(name.strip() for value in args.keep for name in value.split(","))),
        resources=parse_resources(args.resources) if args.resources is not None else (),
        when=_condition(args.when) if args.when is not None else None,
        trigger_rule=args.trigger_rule,
        retry_delay=_duration(args.retry_delay, "--retry-delay"),
        timeout=timeout,
    )


def split_cell(source: str) -> tuple[str, str] | None:
    """(stage line arguments, body) of a ``%%stage`` cell, or None for other cells."""
    first, _, body = source.lstrip("\n").partition("\n")
    if first.split(maxsplit=1)[:1] != [MAGIC]:
        return None
    return first[len(MAGIC):].strip(), body


def stage_of_cell(source: str) -> StageSpec | None:
    parts = split_cell(source)
    return None if parts is None else parse_stage_line(parts[0])


def help_text() -> str:
    return build_parser().format_help()

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

DEFAULT_PARAMS_FILE = "params.yaml"
_NAME = re.compile(r"^[A-Za-z_][\w\-]*$")
MAGIC = "%%stage"


class SpecError(MlopsError, ValueError):
    """A ``%%stage`` line that cannot be parsed."""


@dataclass(frozen=True)
class ParamRef:
    """One ``-p`` entry: a key (``train.n_est``) or a whole section (``train``) of a params file."""

    file: str
    key: str


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
    after: tuple[str, ...] = ()
    force: bool = False
    no_cache: bool = False
    retries: int = 0
    desc: str | None = None
    keep: tuple[str, ...] = ()  # variables cached even where they would be left out

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
    add("--plots", action="append", default=[], metavar="PATH", help="Plot file the stage writes.")
    add("--after", action="append", default=[], metavar="STAGE", help="Run after this stage (an explicit edge).")
    add("--force", action="store_true", help="Run even if a cached result exists.")
    add("--no-cache", action="store_true", help="Run and record, never restore or cache.")
    add("--retries", type=int, default=0, metavar="N", help="Retries of the exported task (Airflow).")
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
        after=tuple(dict.fromkeys(args.after)),
        force=args.force,
        no_cache=args.no_cache,
        retries=args.retries,
        desc=args.desc,
        keep=tuple(dict.fromkeys(name.strip() for value in args.keep for name in value.split(","))),
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

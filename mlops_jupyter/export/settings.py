"""How an Airflow export runs its tasks: the flags of ``export --to airflow`` and the project's
``[export]`` table, checked once, as one value.

    [export]
    image = "registry.example.com/wine:1.2"   # kubernetes / docker: the image of every task
    namespace = "ml"                           # kubernetes
    [export.resources]                         # per stage, as %%stage --resources says it
    train = "cpu=4,memory=8Gi"

A flag wins over the table, a stage's own ``--resources`` over ``[export.resources]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..core.project import Config
from ..core.spec import SpecError, parse_resources
from .definitions import ExportError

OPERATORS = ("bash", "kubernetes", "docker")
IO_MODES = ("local", "remote")
PRESETS = ("@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually")
_CRON_FIELD = re.compile(r"^[\w*/,?#-]+$")
_KEYS = {"image", "namespace", "resources"}


@dataclass(frozen=True)
class AirflowOptions:
    operator: str = "bash"
    io: str = "local"  # remote: tasks share nothing but the project's default remote
    image: str | None = None
    namespace: str = "default"
    retries: int = 0
    retry_delay: int = 300  # seconds, every task's unless its stage says otherwise
    schedule: str | None = None
    resources: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # [export.resources]

    @property
    def in_image(self) -> bool:
        return self.operator != "bash"


def check_schedule(schedule: str | None) -> None:
    """A preset or a five-field cron expression, as Airflow takes them."""
    if schedule is None or schedule in PRESETS:
        return
    fields = schedule.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ExportError(f"--schedule {schedule!r} is neither a preset ({', '.join(PRESETS[:5])}, …) nor a cron "
                          "expression of five fields, e.g. '0 3 * * *'")


def options(config: Config, *, operator: str = "bash", io: str | None = None, image: str | None = None,
            namespace: str | None = None, retries: int = 0, retry_delay: int | None = None,
            schedule: str | None = None) -> AirflowOptions:
    """The options of an export, from its flags and the project's ``[export]`` table."""
    table = config.export
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ExportError(f"config.toml: unknown setting export.{unknown[0]}; known: {', '.join(sorted(_KEYS))}")
    if operator not in OPERATORS:
        raise ExportError(f"--operator {operator!r}: choose one of {', '.join(OPERATORS)}")
    io = io or ("local" if operator == "bash" else "remote")
    if io not in IO_MODES:
        raise ExportError(f"--io {io!r}: choose local or remote")
    for key in ("image", "namespace"):
        if key in table and (not isinstance(table[key], str) or not table[key]):
            raise ExportError(f"config.toml: export.{key} must be a non-empty string")
    image = image or table.get("image")
    if operator != "bash" and not image:
        raise ExportError(f"--operator {operator} needs the image its tasks run in: pass --image IMAGE "
                          "or set image = \"...\" under [export] in .mlops/config.toml")
    if io == "remote" and config.default_remote() is None:
        raise ExportError("--io remote passes data through the project's default remote, and there is none: "
                          "add one with `mlops-jupyter remote add -d NAME URL`")
    check_schedule(schedule)
    return AirflowOptions(operator, io, image, namespace or table.get("namespace") or "default", retries,
                          300 if retry_delay is None else retry_delay, schedule, _resources(table.get("resources", {})))


def _resources(table) -> dict[str, tuple[tuple[str, str], ...]]:
    if not isinstance(table, dict):
        raise ExportError('config.toml: [export.resources] maps stage names to "cpu=N,memory=Q" strings')
    found = {}
    for stage, text in table.items():
        if not isinstance(text, str):
            raise ExportError(f'config.toml: export.resources.{stage} must be a string like "cpu=2,memory=4Gi"')
        try:
            found[stage] = parse_resources(text, f"config.toml export.resources.{stage}")
        except SpecError as e:
            raise ExportError(str(e).removeprefix("%%stage: ")) from None
    return found

"""YAML in and out.

Our own files (mlops.lock) go through libyaml's C loader and dumper when PyYAML has them (~10x
faster). Files users write (params.yaml, YAML metrics files, ``-p key=value`` overrides) are read as
DVC reads them: YAML 1.2 through ruamel.yaml, so ``1e-3`` is the float 0.001 and ``on`` is a string
(PyYAML, a YAML 1.1 reader, says "1e-3" and True).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


class UserYAMLError(ValueError):
    """A user's YAML file or value that does not parse."""


def load(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def dump(data: Any) -> str:
    import yaml

    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=True,
                     default_flow_style=False, allow_unicode=True)


_reader = None
# Where PyYAML (YAML 1.1) and a YAML 1.2 reader may disagree: yes/no/on/off, numbers with an
# exponent (1e-3), with a leading 0, 0o, 0b or 0x, base-60 numbers (1:30), dates. Text with none of
# them reads the same in both, so it skips ruamel.yaml's import (~55 ms in each new kernel).
_AMBIGUOUS = re.compile(
    r"(?i)(?<![\w.\-])(?:yes|no|on|off)(?![\w.\-])|\d[e]|(?<![\w.])[-+]?0[0-9box_]|\d:[0-5]\d|\d{4}-\d\d?-\d\d?"
)


def load_user(text: str) -> Any:
    """A user's YAML, read as YAML 1.2 (DVC's reading); raises ``UserYAMLError`` with one line."""
    global _reader
    if not _AMBIGUOUS.search(text):
        import yaml

        try:
            return load(text)
        except yaml.YAMLError:
            pass  # ruamel.yaml's message below
    from ruamel.yaml import YAML, YAMLError

    if _reader is None:
        _reader = YAML(typ="safe")
    try:
        return _reader.load(text)
    except YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        mark = getattr(e, "problem_mark", None)
        raise UserYAMLError(f"{problem}{f' (line {mark.line + 1})' if mark is not None else ''}") from None


def load_data_file(path: Path) -> Any:
    """A metrics or plots file a stage wrote: JSON, or YAML 1.2."""
    text = Path(path).read_text()
    if Path(path).suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as e:
            raise UserYAMLError(f"not valid JSON ({e})") from None
    return load_user(text)

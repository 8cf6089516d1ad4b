"""YAML in and out through libyaml's C loader and dumper when PyYAML has them (~10x faster)."""

from __future__ import annotations

from typing import Any


def load(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def dump(data: Any) -> str:
    import yaml

    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=True,
                     default_flow_style=False, allow_unicode=True)

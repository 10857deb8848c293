"""The only way values enter rendered YAML: dumped by PyYAML's safe dumper, checked, never pasted."""

from __future__ import annotations

import math
from typing import Any

import yaml

_SCALARS = (str, int, float, bool, type(None))


class UnsafeValue(TypeError):
    """A value that has no faithful YAML form."""


def _check(value: Any, path: str = "value") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeValue(f"{path}: {value!r} is not a finite number")
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise UnsafeValue(f"{path}: mapping key {k!r} is not a string")
            _check(v, f"{path}.{k}")
        return
    raise UnsafeValue(f"{path}: {type(value).__name__} cannot be written to YAML safely")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def yaml_block(key: str, value: Any) -> str:
    """`key: value` as YAML text (block style for lists and mappings); raises UnsafeValue."""
    _check(key, "key")
    _check(value, key)
    text = yaml.safe_dump({key: _plain(value)}, default_flow_style=False, sort_keys=False, allow_unicode=True,
                          width=10_000)
    return text.rstrip("\n")


def yaml_value(value: Any) -> str:
    """A value in flow style on one line (the jinja filter `y`); raises UnsafeValue."""
    _check(value)
    text = yaml.safe_dump(_plain(value), default_flow_style=True, allow_unicode=True, width=10_000)
    text = text.rstrip("\n")
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    if "\n" in text:
        raise UnsafeValue(f"{value!r} does not fit on one line")
    return text


def comment(text: str) -> str:
    """Make free text safe inside a YAML comment: one line, no control characters."""
    clean = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return " ".join(clean.split())

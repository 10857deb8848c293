"""The only way values enter rendered YAML: dumped by PyYAML's safe dumper, checked, never pasted."""

from __future__ import annotations

import enum
import math
from typing import Any

import yaml

# OmegaConf's float syntax (LLaMA-Factory reads configs with it), defined once, beside the loader that uses it
from ..frameworks._dialect import OMEGACONF_FLOAT

_SCALARS = (str, int, float, bool, type(None))


class UnsafeValue(TypeError):
    """A value that has no faithful YAML form."""


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper that never writes anchors or aliases: every value is spelled out where it is used.

    It also quotes every string that LLaMA-Factory's reader (OmegaConf, with its own float syntax) would take for
    a number: "1e3" is a string to PyYAML but the float 1000.0 to OmegaConf.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", OMEGACONF_FLOAT, list("-+0123456789."))


def _check(value: Any, path: str = "value") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeValue(f"{path}: {value!r} is not a finite number")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise UnsafeValue(f"{path}: {value!r} is not valid Unicode text") from None
        return
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
    if isinstance(value, enum.Enum):  # the Plan's closed choices are written as their spelling
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# PyYAML writes these unescaped when allow_unicode is on, and its reader then takes them for line breaks (or a
# byte-order mark) and changes the value; any value holding one is written with ASCII escapes instead.
_ODD = ("\x85", "\u2028", "\u2029", "\ufeff")


def _unicode_ok(value: Any) -> bool:
    if isinstance(value, str):
        return not any(ch in value for ch in _ODD)
    if isinstance(value, (list, tuple)):
        return all(_unicode_ok(v) for v in value)
    if isinstance(value, dict):
        return all(_unicode_ok(k) and _unicode_ok(v) for k, v in value.items())
    return True


def yaml_block(key: str, value: Any) -> str:
    """`key: value` as YAML text (block style for lists and mappings); raises UnsafeValue."""
    _check(key, "key")
    _check(value, key)
    text = yaml.dump(
        {key: _plain(value)},
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=_unicode_ok(key) and _unicode_ok(value),
        width=10_000,
    )
    return text.rstrip("\n")


def yaml_document(data: dict) -> str:
    """A whole config as YAML text that PyYAML and OmegaConf both read back as `data` (for files ftgen rewrites,
    such as a run's config.yaml); raises UnsafeValue."""
    _check(data, "config")
    return yaml.dump(
        _plain(data),
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=_unicode_ok(data),
        width=10_000,
    )


# what the dumper writes for these exact types, without running it (tests/test_yaml.py compares the two)
_FAST = {bool: lambda v: "true" if v else "false", int: str, type(None): lambda v: "null"}


def yaml_value(value: Any) -> str:
    """A value in flow style on one line (the jinja filter `y`); raises UnsafeValue."""
    fast = _FAST.get(type(value))
    if fast is not None:
        return fast(value)
    _check(value)
    text = yaml.dump(
        _plain(value), Dumper=_Dumper, default_flow_style=True, allow_unicode=_unicode_ok(value), width=10_000
    )
    text = text.rstrip("\n")
    text = text.removesuffix("\n...")
    if "\n" in text:
        raise UnsafeValue(f"{value!r} does not fit on one line")
    return text


def comment(text: str) -> str:
    """Make free text safe inside a YAML comment: one line, no control characters."""
    text = str(text)
    clean = text if text.isprintable() else "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(clean.split())

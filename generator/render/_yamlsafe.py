"""The only way values enter rendered YAML: dumped by PyYAML's safe dumper, checked, never pasted."""

from __future__ import annotations

import enum
import math
import re
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

_CBase = getattr(yaml, "CSafeDumper", None)  # PyYAML built with libyaml (the wheels are)
if _CBase is not None:

    class _CDumper(_CBase):
        """_Dumper on libyaml's emitter (~4x faster), used only for values that it writes byte for byte as _Dumper
        does (_same_text): the two emitters differ in the quoting and key style of some other text."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    _CDumper.add_implicit_resolver("tag:yaml.org,2002:float", OMEGACONF_FLOAT, list("-+0123456789."))
else:  # pragma: no cover - a PyYAML without libyaml
    _CDumper = None

# Where libyaml's emitter writes what PyYAML's own does: mapping keys that are short plain words (the emitters
# choose differently between `key:` and `? key` for empty, long or escaped keys) and strings of printable ASCII
# (they escape differently outside it, e.g. characters beyond U+FFFF). tests/test_yaml.py compares the two.
_SAME_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def _same_text(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii() and value.isprintable()
    if isinstance(value, (list, tuple)):
        return all(_same_text(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _SAME_KEY.fullmatch(k) and _same_text(v) for k, v in value.items())
    return True


def _dumper(value: Any) -> type:
    """The dumper for `value` (already _plain): libyaml's when it writes the same text, else PyYAML's."""
    return _CDumper if _CDumper is not None and _same_text(value) else _Dumper


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
    data = {key: _plain(value)}
    text = yaml.dump(
        data,
        Dumper=_dumper(data),
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
    plain = _plain(data)
    return yaml.dump(
        plain,
        Dumper=_dumper(plain),
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
    plain = _plain(value)
    text = yaml.dump(
        plain, Dumper=_dumper(plain), default_flow_style=True, allow_unicode=_unicode_ok(value), width=10_000
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

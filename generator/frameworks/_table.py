"""The key table: rows that map plan keys (framework-neutral fields) to config keys, in both directions.

One row carries one plan key to one config key with a transform each way (`row`), or, where a framework spells
one idea with several keys, a few fields to a few keys with a writer and a reader written together (`joint`).
`write` turns plan values into config keys (render and convert); `read` turns a config into neutral fields with
the keys they came from (lint and convert). Anything a row cannot carry says why (`Untranslatable`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Values = Mapping[str, Any]  # plan key / neutral field -> value


class Untranslatable(Exception):
    """A value that has no counterpart; the message says why."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


@dataclass
class Reading:
    """Neutral fields read from one config; `origin` says which config keys each came from."""

    fields: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, tuple[str, ...]] = field(default_factory=dict)
    untranslated: dict[str, str | None] = field(default_factory=dict)  # config key -> why (None: nothing known)
    notes: list[str] = field(default_factory=list)

    def put(self, name: str, value: Any, *keys: str) -> None:
        self.fields[name] = value
        self.origin[name] = tuple(keys)

    def drop(self, name: str) -> None:
        self.fields.pop(name, None)
        self.origin.pop(name, None)

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


@dataclass
class Where:
    """Where values come from and where the config goes: local paths in the values are relative to `base`; the
    config is written to `out`, so they are rebased there. `existing` holds files already in `out` that a writer
    merges with (never overwrites); writers put the extra files they need in `files`."""

    base: Path | None = None
    out: Path | None = None
    existing: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def local(self, path: str) -> Path | None:
        """The local file or folder a path names, or None (a hub id, or a path that does not exist)."""
        p = Path(path)
        if not p.is_absolute():
            if self.base is None:
                return None
            p = self.base / p
        return p if p.exists() else None

    def path(self, path: str) -> str:
        """A local path as seen from the output folder (portable across checkouts); anything else unchanged."""
        p = self.local(path) if isinstance(path, str) else None
        if p is None or self.out is None:
            return path
        if Path(path).is_absolute():
            return path
        return Path(os.path.relpath(p.resolve(), Path(self.out).resolve())).as_posix()


@dataclass
class Written:
    """A config written from plan values / neutral fields, and what could not be written (field -> why)."""

    config: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    by: dict[str, Row] = field(default_factory=dict)  # config key -> the row that wrote it
    untranslated: dict[str, str | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


Writer = Callable[[Values, Where], "dict[str, Any] | None"]
Reader = Callable[[Mapping[str, Any], Reading, Where], None]


@dataclass(frozen=True)
class Row:
    """One line of a framework's key table.

    fields: the plan keys (neutral fields) it carries; the first is the decision a rendered key cites.
    keys: the config keys it writes and reads. section: the config section it is rendered in.
    write(values, where): {config key: value} to write; {} when the framework's default already says it; None
    when the row does not carry these values (another row may, or the target has no counterpart).
    read(cfg, reading, where): put the neutral fields, or say why a key does not translate.
    """

    fields: tuple[str, ...]
    keys: tuple[str, ...]
    section: str
    write: Writer
    read: Reader
    one_to_one: bool = False  # one field <-> one key: the key's schema default is the field's default
    implied: Callable[[Values], Any] | None = None  # the field's value where the config leaves the key out

    @property
    def rule(self) -> str:
        """The rule that decides this row's plan key ("" for a field the Plan never decides)."""
        from ..plan import Settings, rule_of

        return rule_of(self.fields[0]) if self.fields[0] in Settings.keys() else ""


def same(value: Any) -> Any:
    return value


def num(value: Any) -> Any:
    """'2e-5' -> 2e-05: both frameworks read numeric strings as numbers (pydantic lax mode / OmegaConf)."""
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return value
        return int(f) if f.is_integer() and re.fullmatch(r"[-+]?\d+", value.strip()) else f
    return value


def row(
    name: str,
    key: str,
    section: str = "Other",
    *,
    to: Callable[[Any], Any] = same,
    back: Callable[[Any], Any] = same,
    when: Callable[[Values], bool] | None = None,
    implied: Callable[[Values], Any] | None = None,
    path: bool = False,
) -> Row:
    """A one-to-one row: `name` <-> `key`, `to` on the way into the config, `back` on the way out. `when` limits
    writing to the plans it holds for; where `implied(values)` equals the value, the framework's default already
    says it and nothing is written. A `path` value that names a local file or folder is rebased to the folder the
    config is written to."""

    def write(values: Values, where: Where) -> dict[str, Any] | None:
        value = values.get(name)
        if value is None or (when is not None and not when(values)):
            return None
        if implied is not None and implied(values) == value:
            return {}
        return {key: to(where.path(value) if path else value)}

    def read(cfg: Mapping[str, Any], reading: Reading, where: Where) -> None:
        value = cfg.get(key)
        if value is None:
            return
        try:
            reading.put(name, back(value), key)
        except Untranslatable as exc:
            reading.untranslated[key] = exc.why

    return Row((name,), (key,), section, write, read, one_to_one=True, implied=implied)


def joint(fields: tuple[str, ...], keys: tuple[str, ...], section: str, write: Writer, read: Reader) -> Row:
    """A row for one idea a framework spells with several keys (written and read by the two functions)."""
    return Row(tuple(fields), tuple(keys), section, write, read)


def default_only(name: str, default: Any, section: str = "Other") -> Row:
    """A field the framework has no key for but already behaves as `default` says: that value is carried (nothing
    to write); any other value is not (the framework's `absent` reason says why)."""

    def write(values: Values, where: Where) -> dict[str, Any] | None:
        return {} if values.get(name) == default else None

    return Row((name,), (), section, write, lambda cfg, reading, where: None, implied=lambda values: default)


def lookup(table: Mapping[Any, Any], what: str) -> Callable[[Any], Any]:
    """A transform through a table; a value outside it is untranslatable (with `what` in the reason)."""

    def go(value: Any) -> Any:
        try:
            return table[value]
        except (KeyError, TypeError):
            raise Untranslatable(f"{what} {value!r} has no counterpart") from None

    return go


def inverse(table: Mapping[Any, Any]) -> dict[Any, Any]:
    return {v: k for k, v in table.items()}


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))

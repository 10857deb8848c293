"""What the build rules (FT###, generator/rules) and the lint rules (FTL###, generator/lint) share: the checks on an
ID, a kebab-case name and a documented docstring, and the table of registered rules. Each keeps its own rule type
and decorator; this module imports nothing of either, so lint never loads the build rules."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

SECTIONS = ("What", "Why", "Example", "References")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def doc_section(doc: str, title: str) -> str:
    """One section of a rule docstring (What / Why / Example / References), whitespace folded."""
    pattern = re.compile(rf"^{title}:\s*(.*?)(?=^\s*(?:{'|'.join(SECTIONS)}):|\Z)", re.S | re.M)
    m = pattern.search(doc)
    return " ".join(m.group(1).split()) if m else ""


def cleandoc(doc: str | None) -> str:
    return inspect.cleandoc(doc or "")


class _Named(Protocol):
    id: str
    name: str
    doc: str


R = TypeVar("R", bound=_Named)


class Registry(Generic[R]):
    """Registered rules by ID. `add` refuses a malformed ID (`id_example` shows the form), a name that is not
    kebab-case, a duplicate ID or name, and a docstring without the What / Why / Example / References sections."""

    def __init__(self, kind: str, id_pattern: str, id_example: str, load: Callable[[], object] | None = None):
        self.kind, self._id, self.id_example, self._load = kind, re.compile(id_pattern), id_example, load
        self._rules: dict[str, R] = {}

    def add(self, rule: R, *checks: Callable[[R], str | None]) -> R:
        if not self._id.match(rule.id):
            raise ValueError(f"{self.kind} id {rule.id!r} must look like {self.id_example}")
        if not _NAME.match(rule.name):
            raise ValueError(f"{self.kind} name {rule.name!r} must be kebab-case")
        for check in checks:
            problem = check(rule)
            if problem:
                raise ValueError(f"{self.kind} {rule.id}: {problem}")
        if rule.id in self._rules or any(r.name == rule.name for r in self._rules.values()):
            raise ValueError(f"duplicate {self.kind} {rule.id} {rule.name}")
        missing = [s for s in SECTIONS if not re.search(rf"^{s}:", rule.doc, re.M)]
        if missing:
            raise ValueError(f"{self.kind} {rule.id} docstring lacks sections: {', '.join(missing)}")
        self._rules[rule.id] = rule
        return rule

    def all(self) -> list[R]:
        """Every rule (the modules that register them are imported first), by ID."""
        if self._load is not None:
            self._load()
        return sorted(self._rules.values(), key=lambda r: r.id)

    def get(self, id_or_name: str) -> R | None:
        """A rule by ID (any case) or by name."""
        key = id_or_name.strip().lower()
        return next((r for r in self.all() if r.id.lower() == key or r.name == key), None)

    def __iter__(self) -> Iterator[R]:
        return iter(self.all())

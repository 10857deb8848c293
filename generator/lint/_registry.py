"""The registry of lint rules (FTL###): ID, kebab-case name, severity, documented sections; apart from build rules."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import SEVERITIES
from ..rules._registry import SECTIONS, doc_section

_ID = re.compile(r"^FTL\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class LintRule:
    """A lint rule: `fn(ctx)` yields findings through ctx.report(); schema rules have no fn (the schema pass)."""

    id: str
    name: str
    severity: str  # the usual severity; a finding may say otherwise (and says why)
    doc: str
    fn: Callable | None = None
    frameworks: tuple[str, ...] | None = None  # None: every framework

    def section(self, title: str) -> str:
        return doc_section(self.doc, title)

    @property
    def summary(self) -> str:
        return self.section("What")


_RULES: dict[str, LintRule] = {}


def _register(rule: LintRule) -> None:
    if not _ID.match(rule.id):
        raise ValueError(f"lint rule id {rule.id!r} must look like FTL123")
    if not _NAME.match(rule.name):
        raise ValueError(f"lint rule name {rule.name!r} must be kebab-case")
    if rule.severity not in SEVERITIES:
        raise ValueError(f"lint rule {rule.id}: severity {rule.severity!r} not in {SEVERITIES}")
    if rule.id in _RULES or any(r.name == rule.name for r in _RULES.values()):
        raise ValueError(f"duplicate lint rule {rule.id} {rule.name}")
    missing = [s for s in SECTIONS if not re.search(rf"^{s}:", rule.doc, re.MULTILINE)]
    if missing:
        raise ValueError(f"lint rule {rule.id} docstring lacks sections: {', '.join(missing)}")
    _RULES[rule.id] = rule


def lint_rule(rule_id: str, name: str, severity: str, frameworks: tuple[str, ...] | None = None):
    """Register a domain lint rule; its docstring has What / Why / Example / References sections."""

    def wrap(fn: Callable) -> Callable:
        _register(LintRule(rule_id, name, severity, inspect.cleandoc(fn.__doc__ or ""), fn, frameworks))
        fn.rule_id = rule_id
        return fn

    return wrap


def schema_rule(rule_id: str, name: str, severity: str, doc: str) -> None:
    """Register a rule whose findings come from the schema and version pass (no function of its own)."""
    _register(LintRule(rule_id, name, severity, inspect.cleandoc(doc)))


def all_lint_rules() -> list[LintRule]:
    """Every lint rule, by ID."""
    from . import _schema, rules  # noqa: F401  (importing registers them)

    return sorted(_RULES.values(), key=lambda r: r.id)


def get_lint_rule(rule_id_or_name: str) -> LintRule | None:
    key = rule_id_or_name.strip().lower()
    for r in all_lint_rules():
        if r.id.lower() == key or r.name == key:
            return r
    return None

"""The registry of lint rules (FTL###): ID, kebab-case name, severity, documented sections; apart from build rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .._registry import Registry, cleandoc, doc_section
from ..errors import SEVERITIES


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


def _load() -> None:
    from . import _schema, rules  # noqa: F401  (importing registers them)


def _severity(rule: LintRule) -> str | None:
    return None if rule.severity in SEVERITIES else f"severity {rule.severity!r} not in {SEVERITIES}"


_RULES: Registry[LintRule] = Registry("lint rule", r"^FTL\d{3}$", "FTL123", _load)


def _register(rule: LintRule) -> None:
    _RULES.add(rule, _severity)


def lint_rule(rule_id: str, name: str, severity: str, frameworks: tuple[str, ...] | None = None):
    """Register a domain lint rule; its docstring has What / Why / Example / References sections."""

    def wrap(fn: Callable) -> Callable:
        _register(LintRule(rule_id, name, severity, cleandoc(fn.__doc__), fn, frameworks))
        fn.rule_id = rule_id
        return fn

    return wrap


def schema_rule(rule_id: str, name: str, severity: str, doc: str) -> None:
    """Register a rule whose findings come from the schema and version pass (no function of its own)."""
    _register(LintRule(rule_id, name, severity, cleandoc(doc)))


def all_lint_rules() -> list[LintRule]:
    """Every lint rule, by ID."""
    return _RULES.all()


def get_lint_rule(rule_id_or_name: str) -> LintRule | None:
    return _RULES.get(rule_id_or_name)

"""The one registry of rules: ID, kebab-case name, documented sections, evaluation order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .._registry import SECTIONS, Registry, cleandoc, doc_section

__all__ = ["SECTIONS", "Rule", "all_rules", "doc_section", "get", "iter_ids", "rule"]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    fn: Callable
    doc: str
    order: int

    def section(self, title: str) -> str:
        """Text of one docstring section (What / Why / Example / References)."""
        return doc_section(self.doc, title)

    @property
    def summary(self) -> str:
        return self.section("What")

    @property
    def reference(self) -> str:
        """The documentation `ftgen explain` prints: the docstring, then the plan keys this rule decides and the
        config key each framework writes for them (generated from the key tables, so it cannot fall behind)."""
        from .. import frameworks
        from ..plan import Settings, in_configs, keys_of

        lines = []
        for name in keys_of(self.id):
            if not in_configs(name):
                lines.append(f"  {name} ({Settings.keys()[name].metadata['doc']}): in the plan only")
                continue
            per_fw = []
            for fw in frameworks.all_frameworks():
                keys = [k for r in fw.rows_for(name) for k in r.keys]
                per_fw.append(
                    f"{fw.label} {', '.join(keys) if keys else '(none: ' + (fw.absent.get(name) or 'no key') + ')'}"
                )
            lines.append(f"  {name} ({Settings.keys()[name].metadata['doc']}): " + "; ".join(per_fw))
        if not lines:
            return self.doc
        return self.doc + "\n\nPlan keys and the config keys they become:\n" + "\n".join(lines)


def _load() -> None:
    import importlib

    importlib.import_module(__package__)  # the package imports every rule module


_RULES: Registry[Rule] = Registry("rule", r"^FT\d{3}$", "FT123", _load)


def rule(rule_id: str, name: str, order: int):
    """Register a rule. Its docstring must have What / Why / Example / References sections."""

    def wrap(fn: Callable) -> Callable:
        _RULES.add(Rule(rule_id, name, fn, cleandoc(fn.__doc__), order))
        fn.rule_id = rule_id
        return fn

    return wrap


def all_rules() -> list[Rule]:
    """Every registered rule, in evaluation order."""
    return sorted(_RULES.all(), key=lambda r: r.order)


def get(rule_id_or_name: str) -> Rule | None:
    return _RULES.get(rule_id_or_name)


def iter_ids() -> Iterator[str]:
    return (r.id for r in all_rules())

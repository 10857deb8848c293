"""The one registry of rules: ID, kebab-case name, documented sections, evaluation order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SECTIONS = ("What", "Why", "Example", "References")
_ID = re.compile(r"^FT\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def doc_section(doc: str, title: str) -> str:
    """One section of a rule docstring (What / Why / Example / References), whitespace folded."""
    pattern = re.compile(rf"^{title}:\s*(.*?)(?=^\s*(?:{'|'.join(SECTIONS)}):|\Z)", re.S | re.M)
    m = pattern.search(doc)
    return " ".join(m.group(1).split()) if m else ""


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


_RULES: dict[str, Rule] = {}


def _dedent(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc or "")


def rule(rule_id: str, name: str, order: int):
    """Register a rule. Its docstring must have What / Why / Example / References sections."""

    def wrap(fn: Callable) -> Callable:
        doc = _dedent(fn.__doc__)
        if not _ID.match(rule_id):
            raise ValueError(f"rule id {rule_id!r} must look like FT123")
        if not _NAME.match(name):
            raise ValueError(f"rule name {name!r} must be kebab-case")
        if rule_id in _RULES:
            raise ValueError(f"duplicate rule id {rule_id}")
        missing = [s for s in SECTIONS if not re.search(rf"^{s}:", doc, re.M)]
        if missing:
            raise ValueError(f"rule {rule_id} docstring lacks sections: {', '.join(missing)}")
        _RULES[rule_id] = Rule(rule_id, name, fn, doc, order)
        fn.rule_id = rule_id
        return fn

    return wrap


def all_rules() -> list[Rule]:
    """Every registered rule, in evaluation order."""
    import importlib

    importlib.import_module(__package__)  # the package imports every rule module

    return sorted(_RULES.values(), key=lambda r: r.order)


def get(rule_id_or_name: str) -> Rule | None:
    rules = all_rules()
    key = rule_id_or_name.strip()
    for r in rules:
        if r.id.lower() == key.lower() or r.name == key.lower():
            return r
    return None


def iter_ids() -> Iterator[str]:
    return (r.id for r in all_rules())

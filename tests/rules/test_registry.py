"""The rule registry: unique IDs, kebab-case names, documented sections, `ftgen rules` and `ftgen explain`."""

from __future__ import annotations

import pytest

from generator import rules
from generator.rules._registry import SECTIONS, rule


def test_every_rule_is_documented():
    all_rules = rules.all_rules()
    assert len(all_rules) >= 15
    assert len({r.id for r in all_rules}) == len(all_rules)
    for r in all_rules:
        for section in SECTIONS:
            assert r.section(section), f"{r.id} has an empty {section} section"


def test_registry_refuses_undocumented_or_misnamed_rules():
    with pytest.raises(ValueError, match="lacks sections"):
        rule("FT998", "no-docs", order=999)(lambda ctx: None)
    with pytest.raises(ValueError, match="kebab-case"):
        rule("FT997", "Bad_Name", order=999)(lambda ctx: None)
    with pytest.raises(ValueError, match="FT123"):
        rule("X1", "bad-id", order=999)(lambda ctx: None)


def test_cli_lists_and_explains(cli):
    listing = cli("rules")
    assert listing.exit_code == 0
    for r in rules.all_rules():
        assert r.id in listing.output
    one = cli("explain", "FT102")
    assert one.exit_code == 0 and "What:" in one.output and "References:" in one.output
    by_name = cli("explain", "too-few-examples")
    assert by_name.exit_code == 0 and "FT101" in by_name.output
    unknown = cli("explain", "FT999")
    assert unknown.exit_code == 2 and "unknown rule" in unknown.output and "FT101" in unknown.output


def test_build_and_lint_rules_share_one_registry_base():
    from generator._registry import Registry
    from generator.lint import _registry as lint_registry
    from generator.rules import _registry as build_registry

    assert isinstance(build_registry._RULES, Registry) and isinstance(lint_registry._RULES, Registry)
    with pytest.raises(ValueError, match="kebab-case"):
        lint_registry.lint_rule("FTL998", "Bad_Name", "warning")(lambda ctx: None)
    with pytest.raises(ValueError, match="FTL123"):
        lint_registry.lint_rule("FT998", "bad-id", "warning")(lambda ctx: None)
    with pytest.raises(ValueError, match="lacks sections"):
        lint_registry.lint_rule("FTL998", "no-docs", "warning")(lambda ctx: None)
    with pytest.raises(ValueError, match="duplicate"):
        first = build_registry.all_rules()[0]
        rule(first.id, "another-name", order=999)(first.fn)

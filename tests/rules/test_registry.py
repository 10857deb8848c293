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

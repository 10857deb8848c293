"""Lint records: one Finding (a Problem plus when the framework would notice it) and one file's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import SEVERITIES, Problem

# When the framework itself would notice a finding (the lint cannot run the framework, but it knows):
#   validate: its own config validation refuses the config (before any work starts)
#   train:    it accepts the config and fails once training starts (model, data or trainer set-up)
#   silent:   it accepts the config and silently ignores the key or value
#   env:      it depends on the machine or the installed packages, not on the config
#   never:    advice; the framework runs it as written
WHEN = ("validate", "train", "silent", "env", "never")


@dataclass(frozen=True)
class Finding:
    """One lint finding about one key of one config file."""

    file: str
    key: str
    message: str
    rule: str
    severity: str = "error"
    found: Any = None
    allowed: str | None = None
    line: int | None = None
    when: str = "never"
    source: str | None = None  # where the fact behind the finding is written (framework file, schema, release)

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} not in {SEVERITIES}")
        if self.when not in WHEN:
            raise ValueError(f"when {self.when!r} not in {WHEN}")

    def problem(self) -> Problem:
        return Problem(self.file, self.key, self.message, self.found, self.allowed, self.severity, self.rule, self.line)

    def render(self) -> str:
        return self.problem().render()

    def to_dict(self) -> dict:
        out = self.problem().to_dict()
        out["when"] = self.when
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class LintResult:
    """Everything lint found in one config file."""

    file: str
    framework: str | None
    version: str | None
    findings: list[Finding] = field(default_factory=list)
    detected: str = ""  # how the framework was chosen

    @property
    def worst(self) -> str | None:
        ranks = [SEVERITIES.index(f.severity) for f in self.findings]
        return SEVERITIES[max(ranks)] if ranks else None

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def refused_by_framework(self) -> bool:
        """Whether the framework's own validator would refuse this config, as far as lint can tell."""
        return any(f.severity == "error" and f.when == "validate" for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "framework": self.framework,
            "version": self.version,
            "detected": self.detected,
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "infos": self.count("info"),
            "findings": [f.to_dict() for f in self.findings],
        }

"""The Plan: framework-neutral decisions, each with its value, rule, source and reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Problem


@dataclass(frozen=True)
class Decision:
    """One decided plan field. source is "rule" (a rule chose it) or "spec" (the spec set it)."""

    key: str
    value: Any
    rule: str
    source: str
    because: str

    def to_dict(self) -> dict:
        return {"key": self.key, "value": self.value, "rule": self.rule, "source": self.source, "because": self.because}


@dataclass(frozen=True)
class Plan:
    """Everything `build` decided for one spec; render() turns it into framework configs."""

    name: str
    task: str
    method: str
    frameworks: tuple[str, ...]
    decisions: tuple[Decision, ...]
    memory: dict
    time_cost: dict
    findings: tuple[Problem, ...] = ()
    facts: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.decision(key).value

    def get(self, key: str, default: Any = None) -> Any:
        d = self._index().get(key)
        return d.value if d else default

    def decision(self, key: str) -> Decision:
        try:
            return self._index()[key]
        except KeyError:
            raise KeyError(f"plan has no decision {key!r}") from None

    def _index(self) -> dict[str, Decision]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {d.key: d for d in self.decisions}
            object.__setattr__(self, "_idx", idx)
        return idx

    @property
    def warnings(self) -> list[Problem]:
        return [f for f in self.findings if f.severity in ("warning", "info")]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "task": self.task,
            "method": self.method,
            "framework": list(self.frameworks),
            "decisions": [d.to_dict() for d in self.decisions],
            "memory": self.memory,
            "time_cost": self.time_cost,
            "warnings": [
                {"severity": f.severity, "rule": f.rule, "key": f.key, "message": f.message} for f in self.findings
            ],
            "facts": self.facts,
        }

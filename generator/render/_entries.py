"""One rendered config key: its value and why it has that value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Entry:
    value: Any
    rule: str  # FT### or "spec"
    because: str


class Entries(dict):
    """Ordered framework key -> Entry, built by a key map from the Plan."""

    def put(self, key: str, value: Any, rule: str, because: str) -> None:
        self[key] = Entry(value, rule, because)

    def from_plan(self, key: str, plan, plan_key: str, value: Any = None, transform=None) -> None:
        d = plan.decision(plan_key)
        v = d.value if value is None else value
        if transform is not None:
            v = transform(v)
        self[key] = Entry(v, d.rule if d.source == "rule" else f"spec ({d.rule})", d.because)

    def values_dict(self) -> dict[str, Any]:
        return {k: e.value for k, e in self.items()}

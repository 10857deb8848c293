"""The state rules read and write while deciding: spec, facts, decisions so far, findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Problem
from ..facts.types import Facts
from ..plan import Decision, Settings, coerce
from ..spec import Spec

# Plan keys a spec override may set directly (spec overrides.<name> -> plan key).
OVERRIDE_KEYS = {
    "learning_rate": "learning_rate",
    "lora_r": "lora_r",
    "lora_alpha": "lora_alpha",
    "lora_dropout": "lora_dropout",
    "lora_target_modules": "lora_target_modules",
    "num_epochs": "num_epochs",
    "micro_batch_size": "micro_batch_size",
    "gradient_accumulation_steps": "gradient_accumulation_steps",
    "global_batch_size": "global_batch_size",
    "lr_scheduler": "lr_scheduler",
    "warmup_ratio": "warmup_ratio",
    "optimizer": "optimizer",
    "weight_decay": "weight_decay",
    "gradient_checkpointing": "gradient_checkpointing",
    "packing": "packing",
    "precision": "precision",
    "eval_steps": "eval_steps",
    "save_steps": "save_steps",
    "logging_steps": "logging_steps",
    "max_steps": "max_steps",
    "val_set_size": "val_set_size",
    "pref_beta": "pref_beta",
    "distributed": "distributed",
}


@dataclass
class Context:
    """Mutable while rules run; frozen into a Plan afterwards."""

    spec: Spec
    facts: Facts
    decisions: dict[str, Decision] = field(default_factory=dict)
    findings: list[Problem] = field(default_factory=list)
    rule_id: str = ""
    extras: dict[str, Any] = field(default_factory=dict)  # memory / time estimates etc.
    pinned: dict[str, Decision] = field(default_factory=dict)  # decisions a later rule made; kept on a re-run
    rerun: bool = False

    def __contains__(self, key: str) -> bool:
        return key in self.decisions

    def __getitem__(self, key: str) -> Any:
        return self.decisions[key].value

    def get(self, key: str, default: Any = None) -> Any:
        d = self.decisions.get(key)
        return d.value if d else default

    def spec_value(self, key: str) -> tuple[bool, Any]:
        """(True, value) when the spec's overrides set plan key `key`."""
        for name, plan_key in OVERRIDE_KEYS.items():
            if plan_key == key and name in self.spec.overrides:
                return True, self.spec.overrides[name]
        return False, None

    def pin(self, key: str) -> None:
        """Keep the current decision for `key` and evaluate every rule again (e.g. after a budget downgrade)."""
        self.pinned[key] = self.decisions[key]
        self.rerun = True

    def decide(self, key: str, value: Any, because: str) -> Any:
        """Record a rule's decision, unless the spec overrides the key; return the value in force."""
        value = _typed(key, value)
        if key in self.pinned:
            self.decisions[key] = self.pinned[key]
            return self.pinned[key].value
        forced, spec_value = self.spec_value(key)
        if forced:
            spec_value = _typed(key, spec_value)
            note = f"set in the spec (overrides.{key})"
            if spec_value != value:
                note += f"; {self.rule_id} would choose {value!r} because {because}"
            self.decisions[key] = Decision(key, spec_value, self.rule_id, "spec", note)
            return spec_value
        self.decisions[key] = Decision(key, value, self.rule_id, "rule", because)
        return value

    def record_spec(self, key: str, value: Any, because: str) -> Any:
        """A choice the spec made outside `overrides` (method, framework, sequence_len, ...)."""
        value = _typed(key, value)
        self.decisions[key] = Decision(key, value, self.rule_id, "spec", because)
        return value

    def is_spec(self, key: str) -> bool:
        d = self.decisions.get(key)
        return bool(d and d.source == "spec")

    def finding(self, severity: str, key: str, message: str, found: Any = None, allowed: str | None = None) -> None:
        self.findings.append(
            Problem(
                self.spec.file,
                key,
                message,
                found,
                allowed,
                severity=severity,
                rule=self.rule_id,
                line=self.spec.line_of(key),
            )
        )

    def info(self, key: str, message: str) -> None:
        self.finding("info", key, message)

    def warn(self, key: str, message: str, found: Any = None, allowed: str | None = None) -> None:
        self.finding("warning", key, message, found, allowed)

    def error(self, key: str, message: str, found: Any = None, allowed: str | None = None) -> None:
        self.finding("error", key, message, found, allowed)

    @property
    def errors(self) -> list[Problem]:
        return [f for f in self.findings if f.severity == "error"]


def _typed(key: str, value: Any) -> Any:
    """The value in its plan type; a key the Plan does not declare is a bug in a rule."""
    if key not in Settings.keys():
        raise KeyError(f"{key!r} is not a plan key (declare it in generator/plan.py Settings)")
    return coerce(key, value)

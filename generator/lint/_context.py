"""What a lint rule sees: the parsed config, its neutral fields, line numbers, the hardware, the model card."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .. import frameworks
from ..errors import FtgenError
from ..frameworks import Framework, Reading
from . import _versions as V
from ._model import Finding

if TYPE_CHECKING:  # the facts package resolves specs: lint needs only these types, and only to annotate
    from ..facts.types import GPU, ModelCard


@dataclass(frozen=True)
class Hardware:
    """The machine a config is meant for (`ftgen lint --gpu A100-80GB --gpus 8`)."""

    gpu: GPU
    gpus: int = 1


@dataclass
class RuleContext:
    framework: str
    cfg: dict
    file: str
    line_of: Callable[[str], int | None]
    hardware: Hardware | None = None
    findings: list[Finding] = field(default_factory=list)
    rule_id: str = ""
    rule_severity: str = "warning"

    @cached_property
    def fw(self) -> Framework:
        return frameworks.get(self.framework)

    @cached_property
    def n(self) -> Reading:
        """The config's framework-neutral fields, read through the framework's key table."""
        return self.fw.read(self.cfg)

    @property
    def label(self) -> str:
        return V.label(self.framework)

    def get(self, name: str, default: Any = None) -> Any:
        """A neutral field (learning_rate, lora_r, method, sequence_len, ...), or `default`."""
        return self.n.fields.get(name, default)

    def key_of(self, name: str) -> str:
        """The config key a neutral field came from (for the finding's key path and line)."""
        keys = self.n.origin.get(name) or (name,)
        return keys[0]

    @cached_property
    def model(self) -> ModelCard | None:
        """The base model's catalog card, when the model is in ftgen's catalog."""
        from ..facts.catalog import catalog_aliases, load_catalog

        ref = self.get("base_model")
        if not isinstance(ref, str):
            return None
        try:
            card_id = catalog_aliases().get(ref.lower())
            return load_catalog().get(card_id) if card_id else None
        except (FtgenError, OSError, ValueError):
            return None

    @property
    def training(self) -> bool:
        """Whether the config trains (LLaMA-Factory export / predict configs do not)."""
        return self.fw.trains(self.cfg)

    def report(
        self,
        key: str,
        message: str,
        *,
        severity: str | None = None,
        found: Any = None,
        allowed: str | None = None,
        when: str = "never",
        source: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                self.file,
                key,
                message,
                self.rule_id,
                severity or self.rule_severity,
                found,
                allowed,
                self.line_of(key) if key else None,
                when,
                source,
            )
        )

"""How a framework reads its YAML: PyYAML's safe loader, or OmegaConf (LLaMA-Factory's CLI) with its own floats.

The loaders themselves live in generator._yaml (the one YAML module); a Dialect names one of them and says what
text it cannot carry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import _yaml
from .._yaml import OMEGACONF_FLOAT

__all__ = ["OMEGACONF", "OMEGACONF_FLOAT", "PYYAML", "Dialect"]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


@dataclass(frozen=True)
class Dialect:
    """A YAML reader: generator._yaml's dialect that reads a config as the framework does, and text it cannot carry."""

    name: str
    key: str  # generator._yaml dialect: "yaml" (PyYAML / YAML 1.1) or "omegaconf"
    interpolation: str = ""  # text that starts an interpolation the reader resolves ("${" for OmegaConf)

    def __post_init__(self) -> None:
        if self.key not in _yaml.DIALECTS:
            raise ValueError(f"{self.name}: unknown YAML dialect {self.key!r} (generator._yaml.DIALECTS)")

    def load(self, text: str) -> Any:
        """Parse text ftgen rendered itself (no limits needed); user files go through load_file."""
        return _yaml.load_trusted(text, self.key)

    def load_file(self, path, file: str | None = None) -> Any:
        """A user's config file read as the framework reads it, through the one safe reader and its limits."""
        return _yaml.load_file(path, file, dialect=self.key).data

    def unsafe_text(self, value: Any) -> str | None:
        """Why `value` would not reach the framework as written (None when it would)."""
        if self.interpolation and any(self.interpolation in s for s in _strings(value)):
            return (
                f"the framework reads `{self.interpolation}` as the start of an {self.name} interpolation, "
                "so this text would not reach it as written"
            )
        return None


PYYAML = Dialect("PyYAML", "yaml")
OMEGACONF = Dialect("OmegaConf", "omegaconf", interpolation="${")

"""How a framework reads its YAML: PyYAML's safe loader, or OmegaConf (LLaMA-Factory's CLI) with its own floats."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

# OmegaConf's float resolver (omegaconf/_yaml.py): an unquoted 1e-4 is a float there while PyYAML (YAML 1.1)
# reads a string.
OMEGACONF_FLOAT = re.compile(
    r"""^(?:
     [-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)
    |\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class OmegaConfLikeLoader(yaml.SafeLoader):
    """SafeLoader with OmegaConf's float resolver and no timestamps (as LLaMA-Factory's CLI reads YAML)."""


OmegaConfLikeLoader.add_implicit_resolver("tag:yaml.org,2002:float", OMEGACONF_FLOAT, list("-+0123456789."))
OmegaConfLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in OmegaConfLikeLoader.yaml_implicit_resolvers.items()
}


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
    """A YAML reader: the loader that reads a config as the framework does, and text it cannot carry."""

    name: str
    loader: type
    interpolation: str = ""  # text that starts an interpolation the reader resolves ("${" for OmegaConf)

    def __post_init__(self) -> None:
        if not issubclass(self.loader, yaml.SafeLoader):
            raise TypeError(f"{self.name}: a dialect's loader must be a yaml.SafeLoader")

    def load(self, text: str) -> Any:
        loader = self.loader  # a SafeLoader subclass (checked above)
        return yaml.load(text, Loader=loader)

    def unsafe_text(self, value: Any) -> str | None:
        """Why `value` would not reach the framework as written (None when it would)."""
        if self.interpolation and any(self.interpolation in s for s in _strings(value)):
            return (
                f"the framework reads `{self.interpolation}` as the start of an {self.name} interpolation, "
                "so this text would not reach it as written"
            )
        return None


PYYAML = Dialect("PyYAML", yaml.SafeLoader)
OMEGACONF = Dialect("OmegaConf", OmegaConfLikeLoader, interpolation="${")

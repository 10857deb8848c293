"""The framework registry: one module per framework (generator/frameworks/<name>.py), each exporting FRAMEWORK.

Everything ftgen knows about a framework lives in its module: version pin, env, config file name, CLI, YAML
dialect, key table, native validator, launch and merge commands. Other modules ask the registry (`get`, `names`,
`all_frameworks`) and the framework object; none of them branches on a framework's name. A third framework is one
module here plus its schema in schemas/<name>-<version>.schema.json (tests may `register` one at run time).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from ._base import EnvSpec, Framework, Hardware, Refusal, Step, Traits
from ._table import Reading, Row, Untranslatable, Where, Written

__all__ = [
    "EnvSpec",
    "Framework",
    "Hardware",
    "Reading",
    "Refusal",
    "Row",
    "Step",
    "Traits",
    "Untranslatable",
    "Where",
    "Written",
    "all_frameworks",
    "get",
    "label",
    "names",
    "register",
    "translate_template",
    "unregister",
]

_REGISTRY: dict[str, Framework] = {}
_LOADED = False


def _load() -> dict[str, Framework]:
    global _LOADED
    if not _LOADED:
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            fw = getattr(module, "FRAMEWORK", None)
            if isinstance(fw, Framework):
                _REGISTRY.setdefault(fw.name, fw)
        _LOADED = True
    return _REGISTRY


def register(fw: Framework) -> Framework:
    """Add a framework (a module outside this package, or a test's); its name must be new."""
    registry = _load()
    if fw.name in registry and registry[fw.name] is not fw:
        raise ValueError(f"framework {fw.name!r} is already registered")
    registry[fw.name] = fw
    return fw


def unregister(name: str) -> None:
    _load().pop(name, None)


def all_frameworks() -> tuple[Framework, ...]:
    """Every registered framework, in registry order (module name order, then registration order)."""
    return tuple(_load().values())


def names() -> tuple[str, ...]:
    """The names `--framework` and the spec's `framework:` accept."""
    return tuple(_load())


def get(name: str, file: str = "ftgen", key: str = "framework") -> Framework:
    """The framework called `name`; an FtgenError naming the supported ones otherwise."""
    registry = _load()
    fw = registry.get(name) if isinstance(name, str) else None
    if fw is None:
        from ..errors import FtgenError, Problem

        raise FtgenError([Problem(file, key, "unsupported framework", name, ", ".join(registry))])
    return fw


def label(name: str) -> str:
    """How people write a framework's name (the name itself when unknown)."""
    fw = _load().get(name)
    return fw.label if fw else str(name)


# Prompt formats are named once, neutrally ("qwen2.5", "phi3", ...); each framework module's TEMPLATES maps them to
# its own template names. A template that names the same format in two frameworks translates through them.


def translate_template(value: Mapping[str, str] | str, target: str) -> str | None:
    """The prompt template `target` calls the format in `value` ({framework: its name}), or None. A value that
    names `target` (even as None: no template for this data) is taken as it is."""
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        return None
    if target in value:
        return value[target]
    registry = _load()
    to = getattr(registry.get(target), "templates", {})
    for source, name in value.items():
        frm = getattr(registry.get(source), "templates", {})
        fmt = next((f for f, n in frm.items() if n == name), None)
        if fmt is not None and fmt in to:
            return to[fmt]
    return None


def describe_template(value: Mapping[str, str] | str) -> str:
    """How a template value reads in a message: "Axolotl chat_template 'tokenizer_default'"."""
    if isinstance(value, Mapping):
        return ", ".join(f"{label(fw)} template {name!r}" for fw, name in value.items() if name) or "no template"
    return f"template {value!r}"

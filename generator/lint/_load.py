"""Fast safe YAML for lint: libyaml's composer with the same limits as generator._yaml, else generator._yaml itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .. import _yaml
from .._yaml import Loaded, join_key

_CLoader = getattr(yaml, "CSafeLoader", None)
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
# plain scalar types: PyYAML's own SafeConstructor functions build them (they return, they do not yield)
_SCALARS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "timestamp", "binary")}


class _Refused(Exception):
    """The fast path cannot vouch for this document; generator._yaml decides (and words the error)."""


class _Builder:
    """Builds the Python data and the key lines in one pass, within generator._yaml's limits."""

    def __init__(self, constructor: yaml.constructor.SafeConstructor):
        self.constructor = constructor
        self.scalars = {tag: constructor.yaml_constructors[tag] for tag in _SCALARS}
        self.lines: dict[str, int] = {}
        self.seen: set[int] = set()
        self.nodes = 0

    def build(self, node: yaml.Node, path: str, depth: int) -> Any:
        if id(node) in self.seen:  # an alias: generator._yaml counts and bounds these
            raise _Refused
        self.seen.add(id(node))
        self.nodes += 1
        if depth > _yaml.MAX_DEPTH or self.nodes > _yaml.MAX_NODES:
            raise _Refused
        if isinstance(node, yaml.ScalarNode):
            make = self.scalars.get(node.tag)
            if make is None:
                raise _Refused
            return make(self.constructor, node)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise _Refused
            out: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Refused
                key = self.build(key_node, path, depth + 1)
                try:
                    if key in out:
                        raise _Refused  # duplicate key
                except TypeError:
                    raise _Refused from None
                child = join_key(path, key_node.value)
                self.lines.setdefault(child, key_node.start_mark.line + 1)
                out[key] = self.build(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Refused
            items = []
            for i, item in enumerate(node.value):
                child = join_key(path, i)
                self.lines.setdefault(child, item.start_mark.line + 1)
                items.append(self.build(item, child, depth + 1))
            return items
        raise _Refused


def load_text(text: str, file: str) -> Loaded:
    """Parse like generator._yaml.load_text (same limits, same errors), using libyaml when it is there."""
    if _CLoader is None or len(text) > _yaml.MAX_BYTES:
        return _yaml.load_text(text, file)
    try:
        loader = _CLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return Loaded(None, {})
            builder = _Builder(loader)
            data = builder.build(node, "", 1)
        finally:
            loader.dispose()
    except (_Refused, yaml.YAMLError, RecursionError, ValueError, TypeError):
        return _yaml.load_text(text, file)
    return Loaded(data, builder.lines)


def load_file(path: Path | str, file: str | None = None) -> Loaded:
    """Read and parse a config file; problems come back as FtgenError, as generator._yaml.load_file raises them."""
    path = Path(path)
    file = file or str(path)
    try:
        if path.stat().st_size > _yaml.MAX_BYTES:
            return _yaml.load_file(path, file)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return _yaml.load_file(path, file)  # words the error the same way as everywhere else
    return load_text(text, file)

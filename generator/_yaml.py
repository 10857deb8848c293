"""Safe YAML loading with size, depth and alias limits, duplicate-key errors and key line numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import FtgenError, Problem

MAX_BYTES = 4 * 1024 * 1024  # a spec or config is a few KB; refuse anything absurd
MAX_DEPTH = 64
MAX_ALIASES = 64
MAX_NODES = 200_000


class _LimitError(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


@dataclass
class Loaded:
    """A parsed document and the line (1-based) of every key path in it."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        """Line of `key`, or of its nearest parent that has one."""
        while key:
            if key in self.lines:
                return self.lines[key]
            cut = max(key.rfind("."), key.rfind("["))
            key = key[:cut] if cut > 0 else ""
        return None


def join_key(parent: str, child: Any) -> str:
    """Dotted key path: a.b[0].c"""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else str(child)


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds depth, aliases and node count and rejects duplicate keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._nodes = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _LimitError(f"more than {MAX_ALIASES} YAML aliases (alias bomb?)", mark.line + 1)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _LimitError(f"more than {MAX_NODES} YAML nodes", None)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _LimitError(f"nesting deeper than {MAX_DEPTH} levels", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise _LimitError(f"unhashable mapping key {key!r}", key_node.start_mark.line + 1) from None
        if key in seen:
            raise _LimitError(
                f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark.line + 1
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _collect_lines(node: yaml.Node, path: str, out: dict[str, int], seen: set[int]) -> None:
    if id(node) in seen:  # aliases share nodes; visit each once
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = join_key(path, key_node.value)
                out.setdefault(child, key_node.start_mark.line + 1)
                _collect_lines(value_node, child, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = join_key(path, i)
            out.setdefault(child, item.start_mark.line + 1)
            _collect_lines(item, child, out, seen)


def load_text(text: str, file: str) -> Loaded:
    """Parse YAML text safely; raise FtgenError (exit 2) naming the file and line on any problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise FtgenError([Problem(file, "", f"file is larger than {MAX_BYTES // 1024 // 1024} MiB")])
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return Loaded(None, {})
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except _LimitError as exc:
        raise FtgenError([Problem(file, "", f"refused: {exc}", line=exc.line)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise FtgenError([Problem(file, "", f"not valid YAML: {msg}", line=line)]) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise FtgenError([Problem(file, "", f"not valid YAML: {exc}")]) from None
    lines: dict[str, int] = {}
    _collect_lines(node, "", lines, set())
    return Loaded(data, lines)


_FAST_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_trusted(text: str):
    """Parse YAML that ships with ftgen or that ftgen rendered (catalogs, re-parse checks): libyaml's safe loader."""
    return yaml.load(text, Loader=_FAST_SAFE)  # noqa: S506 - CSafeLoader is the safe loader in C


def load_file(path: Path | str, file: str | None = None) -> Loaded:
    """Read and parse a YAML file; a missing or unreadable file is a Problem, not a traceback."""
    path = Path(path)
    file = file or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FtgenError([Problem(file, "", f"file is larger than {MAX_BYTES // 1024 // 1024} MiB", found=size)])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FtgenError([Problem(file, "", "file not found")]) from None
    except IsADirectoryError:
        raise FtgenError([Problem(file, "", "is a directory, expected a YAML file")]) from None
    except UnicodeDecodeError as exc:
        raise FtgenError([Problem(file, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except OSError as exc:
        raise FtgenError([Problem(file, "", f"cannot read: {exc.strerror}")]) from None
    return load_text(text, file)

"""The one YAML module: safe loading with size, depth, node and alias limits, duplicate-key errors, key lines.

Everything ftgen parses goes through here: a user's file or text (specs, configs, pull-request files) through
load_file / load_text (limits, errors naming file and line, never a traceback), YAML that ships with ftgen or that
ftgen rendered through load_trusted. Two dialects: "yaml" (YAML 1.1 as PyYAML's safe loader and Axolotl read it)
and "omegaconf" (LLaMA-Factory's CLI reads its config through OmegaConf: `1e-4` is a float, no timestamps).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import _io
from .errors import FtgenError, Problem

MAX_BYTES = 4 * 1024 * 1024  # a spec or config is a few KB; refuse anything absurd
MAX_DEPTH = 64
MAX_ALIASES = 64
MAX_NODES = 200_000  # also bounds the size a document expands to through aliases


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
        return line_of(self.lines, key)


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """Line of dotted key path `key` in `lines`, or of its nearest parent that has one."""
    while key:
        if key in lines:
            return lines[key]
        cut = max(key.rfind("."), key.rfind("["))
        key = key[:cut] if cut > 0 else ""
    return None


def join_key(parent: str, child: Any) -> str:
    """Dotted key path: a.b[0].c"""
    if isinstance(child, int):
        return f"{parent}[{child}]"
    child = str(child) or "''"  # an empty key still gets a visible name
    return f"{parent}.{child}" if parent else child


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds depth, aliases and node count and rejects duplicate keys."""

    def __init__(self, stream, max_nodes: int = MAX_NODES):
        super().__init__(stream)
        self._max_nodes = max_nodes
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
        if self._nodes > self._max_nodes:
            raise _LimitError(f"more than {self._max_nodes} YAML nodes", None)
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
            raise _LimitError(f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

# OmegaConf's float resolver (omegaconf/_yaml.py): LLaMA-Factory's CLI reads YAML with it, so an
# unquoted 1e-4 is a float there while PyYAML (YAML 1.1) reads a string.
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


def _omegaconf_resolvers(cls: type) -> None:
    """Give a loader class OmegaConf's float resolver and drop timestamps (as LLaMA-Factory's CLI reads YAML)."""
    cls.add_implicit_resolver("tag:yaml.org,2002:float", OMEGACONF_FLOAT, list("-+0123456789."))
    cls.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in cls.yaml_implicit_resolvers.items()
    }


class OmegaConfLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading scalars as OmegaConf does (no limits: use load_text(dialect="omegaconf"))."""


_omegaconf_resolvers(OmegaConfLoader)


class _OmegaConfLimitLoader(_Loader):
    """_Loader (limits, duplicate keys) reading scalars as OmegaConf does."""


_omegaconf_resolvers(_OmegaConfLimitLoader)
DIALECTS = ("yaml", "omegaconf")


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


_EVENTS = getattr(yaml, "CSafeLoader", None)


def _prescan(text: str, max_nodes: int) -> None:
    """Bound depth, aliases, nodes and the size aliases expand to, from libyaml's event stream (fast, in C).

    The Python composer enforces the same limits, but only at its own (slow) pace; this pass refuses a huge
    or explosive document before it starts. A syntax error here is left to the Python parser to word.
    """
    if _EVENTS is None:
        return
    sizes: dict[str, int] = {}  # anchor -> expanded node count
    stack: list[list] = [[None, 0]]  # open collections: [anchor, expanded size so far]
    aliases = nodes = 0
    try:
        for event in yaml.parse(text, Loader=_EVENTS):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                nodes += 1
                stack.append([event.anchor, 1])
                if len(stack) - 1 > MAX_DEPTH:
                    raise _LimitError(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark.line + 1)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                anchor, size = stack.pop()
                if anchor is not None:
                    sizes[anchor] = size
                stack[-1][1] += size
            elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                if isinstance(event, yaml.AliasEvent):
                    aliases += 1
                    if aliases > MAX_ALIASES:
                        raise _LimitError(
                            f"more than {MAX_ALIASES} YAML aliases (alias bomb?)", event.start_mark.line + 1
                        )
                    size = sizes.get(event.anchor, 1)
                else:
                    nodes += 1
                    size = 1
                    if event.anchor is not None:
                        sizes[event.anchor] = 1
                stack[-1][1] += size
            else:
                continue
            if nodes > max_nodes:
                raise _LimitError(f"more than {max_nodes} YAML nodes", event.start_mark.line + 1)
            if stack[-1][1] > max_nodes:
                raise _LimitError(
                    f"aliases expand the document to more than {max_nodes} nodes (alias bomb?)",
                    event.start_mark.line + 1,
                )
    except yaml.YAMLError:
        return


def _check_expansion(root: yaml.Node, max_nodes: int) -> None:
    """Refuse a composed document that aliases expand past max_nodes, or that refers to itself."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > max_nodes:
                raise _LimitError(
                    f"aliases expand the document to more than {max_nodes} nodes (alias bomb?)",
                    node.start_mark.line + 1,
                )
            continue
        if key in sizes:
            continue
        if key in open_:
            raise _LimitError(
                "a YAML alias refers to a node that contains it (recursive data)", node.start_mark.line + 1
            )
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        open_.add(key)
        stack.append((node, True))
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
        stack.extend((c, False) for c in children)


# ---------------------------------------------------------------------------------------------- fast path

_CSafe = getattr(yaml, "CSafeLoader", None)
if _CSafe is not None:

    class _COmegaConf(_CSafe):  # type: ignore[misc, valid-type]
        """libyaml's safe loader with OmegaConf's scalar resolution."""

    _omegaconf_resolvers(_COmegaConf)
    _C_LOADERS = {"yaml": _CSafe, "omegaconf": _COmegaConf}
else:  # pragma: no cover - PyYAML built without libyaml
    _C_LOADERS = {}
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
# plain scalar types: PyYAML's own SafeConstructor functions build them (they return, they do not yield)
_SCALARS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "timestamp", "binary")}


class _Refused(Exception):
    """The fast path cannot vouch for this document; the Python loader decides (and words any error)."""


class _Builder:
    """Builds the data and the key lines from libyaml's composed nodes in one pass, within the same limits.

    Anything unusual (an alias, a merge key, a tag, a duplicate or complex key) is left to the Python loader.
    """

    def __init__(self, constructor: yaml.constructor.SafeConstructor, max_nodes: int):
        self.constructor = constructor
        self.scalars = {tag: constructor.yaml_constructors[tag] for tag in _SCALARS}
        self.lines: dict[str, int] = {}
        self.seen: set[int] = set()
        self.nodes = 0
        self.max_nodes = max_nodes

    def build(self, node: yaml.Node, path: str, depth: int) -> Any:
        if id(node) in self.seen:  # an alias: the Python loader counts and bounds these
            raise _Refused
        self.seen.add(id(node))
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > self.max_nodes:
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


def _fast_load(text: str, max_nodes: int, dialect: str) -> Loaded | None:
    """libyaml composes, _Builder constructs: the common document in a fraction of the Python loader's time.
    None when the fast path cannot vouch for the document (the caller then uses the Python loader)."""
    cls = _C_LOADERS.get(dialect)
    if cls is None:
        return None
    try:
        loader = cls(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return Loaded(None, {})
            builder = _Builder(loader, max_nodes)
            data = builder.build(node, "", 1)
        finally:
            loader.dispose()
    except (_Refused, yaml.YAMLError, RecursionError, ValueError, TypeError):
        return None
    return Loaded(data, builder.lines)


def _slow_load(text: str, file: str, max_nodes: int, dialect: str) -> Loaded:
    """The Python loader: bounds aliases and their expansion, words every error with its line."""
    loader_cls = _OmegaConfLimitLoader if dialect == "omegaconf" else _Loader
    try:
        loader = loader_cls(text, max_nodes)
        try:
            node = loader.get_single_node()
            if node is None:
                return Loaded(None, {})
            _check_expansion(node, max_nodes)
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


# ---------------------------------------------------------------------------------------------- API


def load_text(
    text: str, file: str, *, max_bytes: int = MAX_BYTES, max_nodes: int = MAX_NODES, dialect: str = "yaml"
) -> Loaded:
    """Parse YAML text safely; raise FtgenError (exit 2) naming the file and line on any problem."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown YAML dialect {dialect!r}")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise FtgenError(
            [
                Problem(
                    file,
                    "",
                    f"file is larger than {_size(max_bytes)}",
                    found=size,
                    allowed=f"at most {max_bytes} bytes",
                )
            ]
        )
    try:
        _prescan(text, max_nodes)
    except _LimitError as exc:
        raise FtgenError([Problem(file, "", f"refused: {exc}", line=exc.line)]) from None
    fast = _fast_load(text, max_nodes, dialect)
    if fast is not None:
        return fast
    return _slow_load(text, file, max_nodes, dialect)


def _size(n: int) -> str:
    return f"{n // 1024 // 1024} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n // 1024} KiB"


_FAST_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _OmegaConfFastLoader(_FAST_SAFE):  # type: ignore[misc,valid-type]
    """OmegaConfLoader's scalars over libyaml's parser: the resolvers and constructors are the same Python ones."""


_omegaconf_resolvers(_OmegaConfFastLoader)


def load_trusted(text: str, dialect: str = "yaml"):
    """Parse YAML that ships with ftgen or that ftgen rendered (catalogs, re-parse checks): libyaml's safe loader,
    or, for dialect "omegaconf", the safe loader reading scalars as LLaMA-Factory's CLI does.

    Never for a user's file: those go through load_file / load_text.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown YAML dialect {dialect!r}")
    loader = _OmegaConfFastLoader if dialect == "omegaconf" else _FAST_SAFE  # SafeLoader's resolvers, libyaml's parser
    return yaml.load(text, Loader=loader)


def load_trusted_file(path: Path | str):
    """A YAML file that ships with ftgen (catalog/, lint data), parsed with load_trusted (once: a copy of the data
    is kept in the user's private data cache while the file's text stays the same, generator/_datacache.py)."""
    from ._datacache import load_data

    return load_data(path, load_trusted)


def read_text(
    path: Path | str, file: str | None = None, max_bytes: int = MAX_BYTES, kind: str = ""
) -> tuple[str, bytes]:
    """Read a UTF-8 text file of at most max_bytes through the one safe reader (generator._io); FtgenError otherwise.

    Returns the text and the raw bytes (for hashing). `kind` words the errors ("spec " -> "spec file not found").
    """
    return _io.read_text(path, file, max_bytes, kind=kind)


def load_file(
    path: Path | str,
    file: str | None = None,
    *,
    max_bytes: int = MAX_BYTES,
    max_nodes: int = MAX_NODES,
    dialect: str = "yaml",
) -> Loaded:
    """Read and parse a YAML file; a missing, unreadable or oversized file is a Problem, not a traceback."""
    file = file or str(path)
    text, _ = read_text(path, file, max_bytes)
    return load_text(text, file, max_bytes=max_bytes, max_nodes=max_nodes, dialect=dialect)

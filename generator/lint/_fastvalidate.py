"""validate_config, memoised for lint: a key's value (or a dataset entry) is validated once per run, not per file."""

from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from typing import Any

from ..configschema import load_schema, validate_config
from ..errors import Problem

_ITEM_LISTS = ("datasets", "test_datasets")
_TOP = re.compile(r"^[^.\[]+")
_INDEX = re.compile(r"^([^.\[]+)\[(\d+)\]")
_MAX_ENTRIES = 50_000

# (framework, key, value) -> problems; (framework, list, rl, item) -> problems of item [0]
_values: dict[tuple, tuple[Problem, ...]] = {}
_items: dict[tuple, tuple[Problem, ...]] = {}


@cache
def _shape(framework: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(known top-level keys, keys that other keys' rules depend on or constrain, required keys)."""
    schema = load_schema(framework)
    props = frozenset(schema.get("properties", {}))
    cross: set[str] = set(schema.get("dependentSchemas", {})) | {"plugins"}
    for branch in schema.get("allOf", []):
        for part in ("if", "then", "else"):
            cross |= set(branch.get(part, {}).get("properties", {}))
    return props, frozenset(cross), frozenset(schema.get("required", []))


_PLAIN = (str, int, float, bool, type(None))


def _key(value: Any) -> Any:
    """A cache key that tells 1 from 1.0 from true, keeps mapping order, and tells a date from its text."""
    if type(value) in _PLAIN:
        return type(value), value
    return json.dumps(value, default=lambda o: f"<{type(o).__name__}:{o!r}>")


def _json_safe(value: Any) -> bool:
    return (
        isinstance(value, (str, int, float, bool, type(None)))
        or (isinstance(value, list) and all(_json_safe(v) for v in value))
        or (isinstance(value, dict) and all(isinstance(k, str) and _json_safe(v) for k, v in value.items()))
    )


@cache
def _bigrams(framework: str) -> dict[str, frozenset[str]]:
    props, _, _ = _shape(framework)
    return {k: frozenset(k[i : i + 2] for i in range(len(k) - 1)) for k in sorted(props)}


@lru_cache(maxsize=4096)
def close_matches(framework: str, key: str) -> tuple[str, ...]:
    """difflib's close matches (cutoff 0.75), among the known keys that share enough letter pairs to qualify."""
    mine = frozenset(key[i : i + 2] for i in range(len(key) - 1))
    grams = _bigrams(framework)
    pool = (
        list(grams)
        if len(key) <= 8
        else [  # short words: too few letter pairs to filter on
            k for k, theirs in grams.items() if 2 * len(mine & theirs) >= 0.3 * (len(mine) + len(theirs))
        ]
    )
    import difflib  # for a suggestion only: a clean run never needs it

    return tuple(difflib.get_close_matches(key, pool, n=3, cutoff=0.75))


def clear_caches() -> None:
    """Forget memoised results (benchmarks time cold runs)."""
    _values.clear()
    _items.clear()
    close_matches.cache_clear()


def _moved(p: Problem, file: str, key: str | None = None) -> Problem:
    return Problem(file, p.key if key is None else key, p.message, p.found, p.allowed, p.severity, p.rule, p.line)


def validate(framework: str, cfg: dict, file: str) -> list[Problem]:
    """Exactly the Problems validate_config(framework, cfg, file) reports, in its order, from memoised pieces.

    Keys no other key's rule depends on (everything but the schema's allOf / dependentSchemas keys) are
    validated once per distinct value; dataset entries once per distinct entry and `rl`; required keys are
    checked for presence here. What is not in the memo goes to one validate_config call per file, often none.
    """
    if len(_values) + len(_items) > _MAX_ENTRIES:
        clear_caches()
    props, cross, required = _shape(framework)
    problems: list[Problem] = []
    batch: dict = {}
    misses: dict[str, tuple] = {}  # top-level key -> memo key
    for key, value in cfg.items():
        if isinstance(key, str) and key not in props:
            close = close_matches(framework, key)  # worded as validate_config words it
            problems.append(
                Problem(file, key, "unknown key", None, ("did you mean " + ", ".join(close) + "?") if close else None)
            )
        elif not isinstance(key, str) or key in cross or not _json_safe(value):
            batch[key] = value
        else:
            memo = (framework, key, _key(value))
            if memo in _values:
                problems.extend(_moved(p, file) for p in _values[memo])
            else:
                batch[key] = value
                misses[key] = memo
    for name in sorted(required):
        if name not in cfg:  # worded as validate_config words a missing required key
            problems.append(Problem(file, name, "missing required key", None, None))
    rl_key = _key(cfg.get("rl"))
    remap: dict[str, dict[int, tuple[int, tuple]]] = {}
    for parent in _ITEM_LISTS:
        items = batch.get(parent)
        if not (isinstance(items, list) and items and all(isinstance(i, dict) and _json_safe(i) for i in items)):
            continue
        todo, index = [], {}
        for i, item in enumerate(items):
            memo = (framework, parent, rl_key, _key(item))
            if memo in _items:
                problems.extend(_moved(p, file, f"{parent}[{i}]" + p.key[len(parent) + 3 :]) for p in _items[memo])
            else:
                index[len(todo)] = (i, memo)
                todo.append(item)
        if todo:
            batch[parent] = todo
            remap[parent] = index
        else:
            del batch[parent]
    found = [p for p in validate_config(framework, batch, file) if p.message != "missing required key"] if batch else []
    if any(p.key in remap for p in found):  # a finding about a whole (partly memoised) list: no shortcuts
        return validate_config(framework, cfg, file)
    fresh_values: dict[tuple, list[Problem]] = {memo: [] for memo in misses.values()}
    fresh_items: dict[tuple, list[Problem]] = {i[1]: [] for idx in remap.values() for i in idx.values()}
    for p in found:
        top = _TOP.match(p.key).group(0) if p.key else ""
        m = _INDEX.match(p.key)
        if top in misses:
            fresh_values[misses[top]].append(p)
            problems.append(p)
        elif m and m.group(1) in remap and int(m.group(2)) in remap[m.group(1)]:
            parent, j = m.group(1), int(m.group(2))
            i, memo = remap[parent][j]
            rest = p.key[m.end() :]
            fresh_items[memo].append(_moved(p, "", f"{parent}[0]{rest}"))
            problems.append(_moved(p, file, f"{parent}[{i}]{rest}"))
        else:
            problems.append(p)
    _values.update({k: tuple(v) for k, v in fresh_values.items()})
    _items.update({k: tuple(v) for k, v in fresh_items.items()})
    seen, out = set(), []
    for p in sorted(problems, key=lambda p: (p.key, p.message)):
        ident = (p.key, p.message, repr(p.found), p.allowed)
        if ident not in seen:
            seen.add(ident)
            out.append(p)
    return out

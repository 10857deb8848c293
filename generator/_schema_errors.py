"""The one translator of jsonschema errors into Problems: key path, found value, what is allowed, and the line.

Every schema ftgen checks words its errors here: framework configs (validate, lint, build, convert), specs,
run records and SkyPilot tasks. jsonschema itself is imported by the callers, and only when something is wrong
(generator._fastschema answers "valid" first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ._yaml import join_key
from .errors import Problem

if TYPE_CHECKING:
    from jsonschema import Validator
    from jsonschema.exceptions import ValidationError

_LIST_LIMIT = 20  # enum lists longer than this are shown as close matches + a count


def schema_problems(
    validator: Validator, data: Any, file: str, line_of: Callable[[str], int | None] | None = None
) -> list[Problem]:
    """Every schema violation in `data` as Problems, one per finding, sorted by key path; `line_of(key)` (the
    source file's line of a key path, or of its nearest parent) fills in where each is."""
    problems: list[Problem] = []
    for error in validator.iter_errors(data):
        problems.extend(_problems(error, file))
    out = sorted(_dedupe(problems), key=_sort_key)
    if line_of is not None:
        out = [p if p.line is not None else replace(p, line=line_of(p.key)) for p in out]
    return out


def key_path(parts: Iterable[Any]) -> str:
    """["datasets", 0, "type"] -> "datasets[0].type" (an empty key shows as '', so no problem lacks a key)."""
    out = ""
    for part in parts:
        out = join_key(out, part)
    return out


def _join(prefix: str, name: Any) -> str:
    return join_key(prefix, str(name))  # a key, even when YAML read it as a number


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(map(str, value))
    return str(value)


def _format_choices(values: list, found: Any = None) -> str:
    shown = [("null" if v is None else str(v)) for v in values]
    if len(shown) <= _LIST_LIMIT:
        return ", ".join(shown)
    import difflib  # for a suggestion only: a clean run never needs it

    close = difflib.get_close_matches(str(found), [s for s in shown if s != "null"], n=5, cutoff=0.6) if found else []
    head = f"did you mean {', '.join(close)}? " if close else ""
    return f"{head}one of {len(shown)} values: " + ", ".join(shown[:_LIST_LIMIT]) + ", ..."


def _describe_branch(schema: dict) -> list[str]:
    """Short words for what one anyOf branch accepts."""
    if "enum" in schema:
        return [("null" if v is None else str(v)) for v in schema["enum"]]
    if "const" in schema:
        return [str(schema["const"])]
    if "pattern" in schema and schema.get("type") == "string":
        return [f"a string matching {schema['pattern']}"]
    if "type" in schema:
        t = schema["type"]
        return [_type_name(t)] if not isinstance(t, list) else [str(x) for x in t]
    if "$ref" in schema:
        return [schema["$ref"].rsplit("/", 1)[-1]]
    return []


def _enum_values(schema: dict) -> list:
    """Every enum value reachable through anyOf/oneOf branches (for close matches)."""
    out: list = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        out.extend(branch.get("enum", []))
        if "const" in branch:
            out.append(branch["const"])
    out.extend(schema.get("enum", []))
    return out


def _problems(error: ValidationError, file: str) -> list[Problem]:
    path = list(error.absolute_path)
    key = key_path(path)
    kind = error.validator
    found = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    spath = list(error.absolute_schema_path)

    if spath and spath[0] == "dependentSchemas":
        trigger = spath[1]
        if error.validator == "contains":
            plugins = error.validator_value.get("enum", [])
        else:
            plugins = schema.get("properties", {}).get("plugins", {}).get("contains", {}).get("enum", [])
        return [
            Problem(
                file,
                trigger,
                "key only works with its plugin listed under `plugins` (ignored otherwise)",
                trigger,
                "add to plugins: " + ", ".join(p for p in plugins if p.count(".") == 3) if plugins else None,
            )
        ]
    if kind == "additionalProperties" and isinstance(found, dict):
        known = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        out = []
        for name in found:
            if name in known or any(p.search(name) for p in patterns):
                continue
            import difflib  # for a suggestion only: a clean run never needs it

            close = difflib.get_close_matches(str(name), sorted(known), n=3, cutoff=0.75)
            out.append(
                Problem(
                    file,
                    _join(key, str(name)),
                    "unknown key",
                    None,
                    ("did you mean " + ", ".join(close) + "?") if close else None,
                )
            )
        return out
    if kind == "required":
        missing = [m for m in error.validator_value if isinstance(found, dict) and m not in found]
        return [Problem(file, _join(key, m), "missing required key", None, None) for m in missing]
    if kind == "enum":
        return [Problem(file, key, "value not allowed", found, _format_choices(list(error.validator_value), found))]
    if kind == "const":
        return [Problem(file, key, "value not allowed", found, str(error.validator_value))]
    if kind == "type":
        return [Problem(file, key, "wrong type", found, _type_name(error.validator_value))]
    if kind in ("anyOf", "oneOf"):
        return _problems_any_of(error, file)
    if kind in ("minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern"):
        words = {
            "minItems": "at least {} items",
            "maxItems": "at most {} items",
            "minimum": ">= {}",
            "maximum": "<= {}",
            "exclusiveMinimum": "> {}",
            "exclusiveMaximum": "< {}",
            "pattern": "a string matching {}",
        }
        return [
            Problem(
                file,
                key,
                "value out of range" if "imum" in kind else "invalid value",
                found,
                words[kind].format(error.validator_value),
            )
        ]
    return [Problem(file, key, error.message, found, None)]


def _problems_any_of(error: ValidationError, file: str) -> list[Problem]:
    key = key_path(error.absolute_path)
    found = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # A branch whose errors lie deeper than the value itself matched its shape (e.g. the object
    # branch of a dataset entry): report those errors, not the branch alternatives.
    deep = {i: errs for i, errs in branches.items() if any(len(e.relative_path) > 0 for e in errs)}
    shallow_only = {i: errs for i, errs in branches.items() if i not in deep}
    if deep and not any(_type_matches(errs, found) for errs in shallow_only.values()):
        best = min(deep.values(), key=len)
        out: list[Problem] = []
        for sub in best:
            out.extend(_problems(sub, file))
        return _dedupe(out)
    # nested anyOf / typed branch where the type matched: descend into that branch only
    typed = [errs for errs in branches.values() if _type_matches(errs, found)]
    if len(typed) == 1 and all(e.validator in ("anyOf", "oneOf", "additionalProperties", "required") for e in typed[0]):
        out = []
        for sub in typed[0]:
            out.extend(_problems(sub, file))
        return _dedupe(out)
    allowed_text = schema.get("x-ftgen-allowed")
    choices: list[str] = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        for word in _describe_branch(branch):
            if word not in choices:
                choices.append(word)
    enum_values = _enum_values(schema)
    for sub in error.context or []:  # enums behind a $ref (e.g. RLType) surface as the branch's enum error
        if sub.validator == "enum" and len(sub.relative_path) == 0:
            enum_values.extend(v for v in sub.validator_value if v not in enum_values)
    if allowed_text:
        import difflib  # for a suggestion only: a clean run never needs it

        close = difflib.get_close_matches(str(found), [str(v) for v in enum_values if v is not None], n=3, cutoff=0.6)
        allowed = (f"did you mean {', '.join(close)}? " if close else "") + allowed_text
        return [Problem(file, key, "value not allowed", found, allowed)]
    if enum_values and (isinstance(found, str) or found is None):
        allowed = _format_choices(list(dict.fromkeys(enum_values)), found)
        return [Problem(file, key, "value not allowed", found, allowed)]
    only_types = all(
        all(e.validator == "type" and len(e.relative_path) == 0 for e in errs) for errs in branches.values()
    )
    return [
        Problem(file, key, "wrong type" if only_types else "wrong type or value", found, ", ".join(choices) or None)
    ]


def _type_matches(errors: list[ValidationError], instance: Any) -> bool:
    """True when none of a branch's errors is about the value's own type."""
    return not any(e.validator == "type" and len(e.relative_path) == 0 for e in errors)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        ident = (p.key, p.message, repr(p.found), p.allowed)
        if ident not in seen:
            seen.add(ident)
            out.append(p)
    return out


def _sort_key(p: Problem) -> tuple:
    return (p.key, p.message)

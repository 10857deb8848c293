"""Turn jsonschema validation errors into Problems with key paths, found values and allowed values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._yaml import join_key
from .errors import Problem

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _path(parts: Iterable[Any]) -> str:
    key = ""
    for part in parts:
        key = join_key(key, part)
    return key


def _allowed_types(t: Any) -> str:
    types = t if isinstance(t, list) else [t]
    return " or ".join(_TYPE_NAMES.get(x, x) for x in types)


def _bound(error: ValidationError) -> str:
    v, op = error.validator, {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    if v in op:
        return f"a value {op[v]} {error.validator_value}"
    if v in ("minLength", "maxLength"):
        return f"{'at least' if v == 'minLength' else 'at most'} {error.validator_value} characters"
    if v in ("minItems", "maxItems"):
        return f"{'at least' if v == 'minItems' else 'at most'} {error.validator_value} items"
    if v == "pattern":
        return f"text matching {error.validator_value}"
    return str(error.validator_value)


def _one(error: ValidationError, file: str, line_of) -> list[Problem]:
    key = _path(error.absolute_path)
    v = error.validator
    if v == "additionalProperties":
        props = sorted((error.schema.get("properties") or {}).keys())
        extras = [k for k in error.instance if k not in props] if isinstance(error.instance, dict) else []
        out = []
        for extra in extras:
            child = join_key(key, str(extra))  # a key, even when YAML read it as a number
            close = difflib.get_close_matches(str(extra), props, n=3, cutoff=0.6)
            allowed = (
                f"did you mean {', '.join(close)}?"
                if close
                else f"one of {', '.join(props)}"
                if len(props) <= 12
                else f"one of the {len(props)} known keys"
            )
            out.append(Problem(file, child, "unknown key", found=extra, allowed=allowed, line=line_of(child)))
        return out
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        child = join_key(key, missing)
        return [
            Problem(
                file,
                child,
                "required key is missing",
                allowed=error.schema.get("properties", {}).get(missing, {}).get("description"),
                line=line_of(key),
            )
        ]
    if v == "enum":
        allowed = ", ".join(str(x) for x in error.validator_value)
        return [Problem(file, key, "value not allowed", found=error.instance, allowed=allowed, line=line_of(key))]
    if v == "const":
        return [
            Problem(
                file,
                key,
                "value not allowed",
                found=error.instance,
                allowed=repr(error.validator_value),
                line=line_of(key),
            )
        ]
    if v == "type":
        return [
            Problem(
                file,
                key,
                "wrong type",
                found=error.instance,
                allowed=_allowed_types(error.validator_value),
                line=line_of(key),
            )
        ]
    if v in ("anyOf", "oneOf"):
        # Prefer the most specific sub-error when the branches are all of one kind.
        kinds = []
        for sub in error.context or []:
            if sub.validator == "type":
                kinds.append(_allowed_types(sub.validator_value))
            elif sub.validator == "enum":
                kinds.append("one of " + ", ".join(str(x) for x in sub.validator_value))
        allowed = "; or ".join(dict.fromkeys(kinds)) if kinds else None
        return [
            Problem(
                file,
                key,
                "value does not match any allowed form",
                found=error.instance,
                allowed=allowed,
                line=line_of(key),
            )
        ]
    return [
        Problem(
            file,
            key,
            "value out of range" if v != "pattern" else "value has the wrong form",
            found=error.instance,
            allowed=_bound(error),
            line=line_of(key),
        )
    ]


def schema_problems(validator: Draft202012Validator, data: Any, file: str, line_of=lambda key: None) -> list[Problem]:
    """Every schema violation in `data`, sorted by key path, as Problems."""
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.extend(_one(error, file, line_of))
    return problems

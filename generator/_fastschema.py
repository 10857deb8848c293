"""Whether a value is valid against a JSON Schema (draft 2020-12), without importing jsonschema.

jsonschema costs ~70 ms to import, more than `ftgen lint` may take in all. Most configs and specs are valid, so
callers ask this module first and import jsonschema only to word the errors of an invalid value: `is_valid` says
True only when jsonschema would report no error, False when it would (or when this module cannot tell), and
raises Unsupported for a schema keyword it does not implement (the caller then asks jsonschema). A wrong True
would hide an error, so every doubt answers False; tests compare it with jsonschema on every shipped schema.

The keywords are those the vendored framework schemas and the spec schema use, with jsonschema's semantics
(its `equal` for enum / const: true is not 1; `pattern` is re.search; assertions apply only to their own type).
Two variations that validate.py and spec.py make to jsonschema's validator are options here:
`numbers` (the numeric-string policy of a framework schema, configschema._numeric_string_policy) and
`strict_pattern` (spec.py: a pattern's final `$` means end of text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

_INT_STRING = re.compile(r"^\s*[-+]?[0-9]+(?:_[0-9]+)*\s*$")
_ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
        "title",
        "description",
        "default",
        "deprecated",
        "examples",
        "help",
        "readOnly",
        "writeOnly",
    }
)
_PLAIN = (dict, list, str, int, float, bool, type(None))


class Unsupported(Exception):
    """The schema uses a keyword this module does not implement: ask jsonschema."""


def _is_type(value: Any, name: str, numbers: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        return numbers != "none" and (_number_string(value, numbers) or (numbers == "lax" and isinstance(value, bool)))
    if name == "integer":
        if isinstance(value, bool):
            return numbers == "lax"
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return numbers == "lax" and isinstance(value, str) and bool(_INT_STRING.match(value))
    raise Unsupported(f"type {name}")


def _number_string(value: Any, numbers: str) -> bool:
    if not isinstance(value, str):
        return False
    if numbers == "omegaconf":
        from .frameworks._dialect import OMEGACONF_FLOAT

        return bool(OMEGACONF_FLOAT.match(value))
    try:
        float(value.replace("_", ""))
    except ValueError:
        return False
    return True


def _as_number(value: Any) -> Any:
    """configschema._as_number: what a bound compares when the schema accepts numeric strings."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            text = value.strip().replace("_", "")
            return int(text) if _INT_STRING.match(value) else float(text)
        except ValueError:
            return value
    return value


def equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: true is not 1, lists and mappings compare item by item."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(equal(v, two[k]) for k, v in one.items())
    if isinstance(one, (list, dict)) or isinstance(two, (list, dict)):
        return False
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one == two
    return one == two


@lru_cache(maxsize=256)
def _regex(pattern: str, strict: bool) -> re.Pattern:
    if strict and pattern.endswith("$") and not pattern.endswith(r"\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


class _Checker:
    def __init__(self, root: Mapping, numbers: str, strict_pattern: bool, ignore: frozenset[str] = frozenset()):
        self.root, self.numbers, self.strict, self.ignore = root, numbers, strict_pattern, ignore

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise Unsupported(f"$ref {ref}")
        node: Any = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(part)]
            elif isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                raise Unsupported(f"$ref {ref}")
        return node

    def valid(self, schema: Any, value: Any) -> bool:
        if schema is True:
            return True
        if schema is False:
            return False
        if not isinstance(schema, Mapping):
            raise Unsupported("schema is not an object")
        if type(value) not in _PLAIN:
            return False  # a date, a set...: jsonschema words it
        is_type = _is_type
        for key, arg in schema.items():
            if key in _ANNOTATIONS or key.startswith("x-") or key in self.ignore:
                continue
            if key == "type":
                names = arg if isinstance(arg, list) else [arg]
                if not any(is_type(value, n, self.numbers) for n in names):
                    return False
            elif key == "enum":
                if not any(equal(value, e) for e in arg):
                    return False
            elif key == "const":
                if not equal(value, arg):
                    return False
            elif key == "$ref":
                if not self.valid(self.resolve(arg), value):
                    return False
            elif key == "anyOf":
                if not any(self.valid(s, value) for s in arg):
                    return False
            elif key == "allOf":
                if not all(self.valid(s, value) for s in arg):
                    return False
            elif key == "oneOf":
                if sum(1 for s in arg if self.valid(s, value)) != 1:
                    return False
            elif key == "not":
                if self.valid(arg, value):
                    return False
            elif key == "if":
                branch = schema.get("then") if self.valid(arg, value) else schema.get("else")
                if branch is not None and not self.valid(branch, value):
                    return False
            elif key in ("then", "else"):
                continue  # read with "if"; alone they do nothing
            elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if not self._bound(key, arg, value):
                    return False
            elif key in ("pattern", "minLength", "maxLength"):
                if isinstance(value, str) and not self._string(key, arg, value):
                    return False
            elif key in ("properties", "additionalProperties", "required", "dependentSchemas") or key in (
                "minProperties",
                "maxProperties",
                "patternProperties",
                "propertyNames",
            ):
                if isinstance(value, dict) and not self._object(key, arg, schema, value):
                    return False
            elif key in ("items", "prefixItems", "contains", "minItems", "maxItems", "uniqueItems"):
                if isinstance(value, list) and not self._array(key, arg, schema, value):
                    return False
            else:
                raise Unsupported(key)
        return True

    def _bound(self, key: str, bound: Any, value: Any) -> bool:
        if self.numbers != "none":
            value = _as_number(value)
        if not _is_type(value, "number", self.numbers):
            return True
        if not isinstance(value, (int, float)):
            raise Unsupported(f"{key} on {value!r}")  # a numeric string that did not convert
        if key == "minimum":
            return value >= bound
        if key == "maximum":
            return value <= bound
        if key == "exclusiveMinimum":
            return value > bound
        return value < bound

    def _string(self, key: str, arg: Any, value: str) -> bool:
        if key == "pattern":
            return _regex(arg, self.strict).search(value) is not None
        return len(value) >= arg if key == "minLength" else len(value) <= arg

    def _object(self, key: str, arg: Any, schema: Mapping, value: dict) -> bool:
        if not all(isinstance(k, str) for k in value):
            raise Unsupported("a key that is not text")
        if key == "properties":
            return all(self.valid(sub, value[name]) for name, sub in arg.items() if name in value)
        if key == "patternProperties":
            return all(
                self.valid(sub, v) for pattern, sub in arg.items() for k, v in value.items() if re.search(pattern, k)
            )
        if key == "additionalProperties":
            props = schema.get("properties", {})
            patterns = list(schema.get("patternProperties", {}))
            extras = [k for k in value if k not in props and not any(re.search(p, k) for p in patterns)]
            return all(self.valid(arg, value[k]) for k in extras)
        if key == "required":
            return all(name in value for name in arg)
        if key == "dependentSchemas":
            return all(self.valid(sub, value) for name, sub in arg.items() if name in value)
        if key == "propertyNames":
            return all(self.valid(arg, k) for k in value)
        if key == "minProperties":
            return len(value) >= arg
        return len(value) <= arg  # maxProperties

    def _array(self, key: str, arg: Any, schema: Mapping, value: list) -> bool:
        if key == "items":
            start = len(schema.get("prefixItems", ()))
            return all(self.valid(arg, v) for v in value[start:])
        if key == "prefixItems":
            return all(self.valid(sub, v) for sub, v in zip(arg, value))
        if key == "contains":
            if "minContains" in schema or "maxContains" in schema:
                raise Unsupported("minContains")
            return any(self.valid(arg, v) for v in value)
        if key == "minItems":
            return len(value) >= arg
        if key == "maxItems":
            return len(value) <= arg
        if not arg:  # uniqueItems: false
            return True
        return not any(equal(a, b) for i, a in enumerate(value) for b in value[i + 1 :])


def is_valid(
    schema: Any,
    value: Any,
    *,
    numbers: str = "none",
    strict_pattern: bool = False,
    root: Mapping | None = None,
    ignore: tuple[str, ...] = (),
) -> bool:
    """Whether jsonschema (Draft 2020-12) finds no error in value; False also when this module cannot tell.

    numbers: "none", "lax" or "omegaconf", the framework schema's numeric-string policy. root: the document a
    `$ref` points into, when schema is a part of it. ignore: keywords of another dialect that jsonschema's
    validator ignores too (SkyPilot's case_insensitive_enum). Raises Unsupported for a keyword not implemented
    here."""
    checker = _Checker(schema if root is None else root, numbers, strict_pattern, frozenset(ignore))
    return checker.valid(schema, value)


def quick_valid(schema: Mapping, value: Any, **options: Any) -> bool:
    """is_valid, with an unsupported keyword answering False (the caller asks jsonschema)."""
    try:
        return is_valid(schema, value, **options)
    except (Unsupported, RecursionError, TypeError, ValueError, re.error):
        return False

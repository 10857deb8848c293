"""Framework configs against the vendored JSON Schemas: the schema files, and validate_config.

Small on purpose: `ftgen lint`, build and convert need only this part of validation (validate.py re-exports it
beside the framework's own validator, which runs in its env). jsonschema is imported only to word the errors
of an invalid config (generator._fastschema says "valid" first); generator._schema_errors words them.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import frameworks
from ._datacache import load_json_file
from ._fastschema import quick_valid
from ._resources import schemas_dir
from .errors import FtgenError, Problem
from .frameworks._dialect import OMEGACONF_FLOAT

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = ["default_version", "load_schema", "schema_path", "validate_config"]

_INT_STRING = re.compile(r"^\s*[-+]?[0-9]+(?:_[0-9]+)*\s*$")


def default_version(framework: str) -> str:
    """The pinned framework version whose schema ftgen ships."""
    return frameworks.get(framework).version


def _check_framework(framework: str) -> None:
    frameworks.get(framework)


def schema_path(framework: str, version: str | None = None) -> Path:
    """The vendored schema file of a framework version (in schemas/, or the framework's own schema_dir)."""
    fw = frameworks.get(framework)
    return (fw.schema_dir or schemas_dir()) / f"{framework}-{version or fw.version}.schema.json"


@cache
def load_schema(framework: str, version: str | None = None) -> dict:
    """The vendored JSON Schema of a framework version (cached)."""
    _check_framework(framework)
    path = schema_path(framework, version)
    if not path.is_file():
        have = sorted(p.name.removesuffix(".schema.json") for p in path.parent.glob(f"{framework}-*.schema.json"))
        raise FtgenError(
            [Problem(str(path), "", "no schema for this framework version", version, ", ".join(have) or None)]
        )
    return load_json_file(path)  # through the data cache (generator/_datacache.py)


# ----------------------------------------------------------------------------------------------
# numeric strings: the schema's x-ftgen.numeric_strings says whether the framework converts them


def _numeric_string_policy(schema: dict) -> str:
    policy = schema.get("x-ftgen", {}).get("numeric_strings", {})
    if not policy.get("accepted"):
        return "none"
    return policy.get("mode", "lax")


def _is_number_string(instance: Any, policy: str) -> bool:
    if not isinstance(instance, str) or policy == "none":
        return False
    if policy == "omegaconf":
        return bool(OMEGACONF_FLOAT.match(instance))
    try:
        float(instance.replace("_", ""))
    except ValueError:
        return False
    return True


def _as_number(instance: Any) -> Any:
    if isinstance(instance, bool):
        return int(instance)
    if isinstance(instance, str):
        try:
            text = instance.strip().replace("_", "")
            return int(text) if _INT_STRING.match(instance) else float(text)
        except ValueError:
            return instance
    return instance


@cache
def _validator_for(framework: str, version: str | None) -> Draft202012Validator:
    from jsonschema import Draft202012Validator, validators  # only to word errors: _fastschema says valid first

    schema = load_schema(framework, version)
    policy = _numeric_string_policy(schema)
    base = Draft202012Validator
    if policy == "none":
        return base(schema)

    lax = policy == "lax"  # pydantic lax mode: numeric strings and booleans convert to numbers

    def is_number(checker, instance):
        if base.TYPE_CHECKER.is_type(instance, "number") or _is_number_string(instance, policy):
            return True
        return lax and isinstance(instance, bool)

    def is_integer(checker, instance):
        if base.TYPE_CHECKER.is_type(instance, "integer"):
            return True
        return lax and (isinstance(instance, bool) or (isinstance(instance, str) and bool(_INT_STRING.match(instance))))

    checker = base.TYPE_CHECKER.redefine_many({"number": is_number, "integer": is_integer})

    def numeric(keyword):
        original = base.VALIDATORS[keyword]

        def check(validator, value, instance, schema_):
            yield from original(validator, value, _as_number(instance), schema_)

        return check

    cls = validators.extend(
        base,
        validators={
            k: numeric(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
        },
        type_checker=checker,
    )
    return cls(schema)


def validate_config(framework: str, cfg: dict, file: str, version: str | None = None) -> list[Problem]:
    """Every problem of a parsed config against the vendored schema, one Problem per finding."""
    if not isinstance(cfg, dict):
        return [Problem(file, "", "config must be a mapping of keys to values", type(cfg).__name__, "mapping")]
    schema = load_schema(framework, version)
    if quick_valid(schema, cfg, numbers=_numeric_string_policy(schema)):
        return []  # no jsonschema import for a valid config
    from ._schema_errors import schema_problems

    return schema_problems(_validator_for(framework, version), cfg, file)

"""Inside a LLaMA-Factory env: print the JSON Schema of its train config, derived from its argument dataclasses."""

# Runs as `python llamafactory_schema.py` with the LLaMA-Factory env's interpreter; prints one JSON
# object on stdout. Must not import `generator`. `llamafactory-cli train cfg.yaml` reads the YAML
# with OmegaConf and hands the dict to HfArgumentParser.parse_dict over llamafactory.hparams.parser.
# _TRAIN_ARGS: every init field of those dataclasses is a key, any other key is an error.
# Type hints -> JSON types (Optional -> also null, Literal -> enum, Enum -> enum values,
# Union[Enum, str] -> the enum: transformers converts it with Enum(value)), metadata help ->
# description, metadata choices -> enum; fields the dataclass splits with split_arg() also take a
# list; `template` is closed to the registered templates.
import ast
import contextlib
import dataclasses
import enum
import importlib.metadata
import inspect
import json
import os
import pathlib
import sys
import textwrap
import types
import typing

SCRIPT = "generator/_env_scripts/llamafactory_schema.py"

# The float resolver of OmegaConf (omegaconf/_yaml.py), which LLaMA-Factory's CLI uses.
OMEGACONF_FLOAT = (
    r"^(?:[-+]?[0-9]+(?:_[0-9]+)*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+)"
    r"|\.[0-9]+(?:_[0-9]+)*(?:[eE][-+][0-9]+)?"
    r"|[-+]?[0-9]+(?:_[0-9]+)*(?::[0-5]?[0-9])+\.[0-9_]*"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$"
)


def _json_default(value):
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, pathlib.PurePath):
        value = str(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None, False
    return value, True


def _type_schema(tp):
    """JSON Schema for a type hint; returns (schema, nullable)."""
    origin = typing.get_origin(tp)
    if tp is type(None):
        return {"type": "null"}, True
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        nullable = type(None) in args
        rest = [a for a in args if a is not type(None)]
        enums = [a for a in rest if inspect.isclass(a) and issubclass(a, enum.Enum)]
        if enums and all(a is str or a in enums for a in rest):
            values = []
            for e in enums:
                values.extend(m.value for m in e)
            return {"enum": sorted(dict.fromkeys(values), key=str)}, nullable
        branches, unconstrained = [], False
        for a in rest:
            sub, n = _type_schema(a)
            nullable = nullable or n
            if not sub:
                unconstrained = True
            elif sub not in branches:
                branches.append(sub)
        if unconstrained:
            return {}, nullable
        if len(branches) == 1:
            return branches[0], nullable
        return {"anyOf": branches}, nullable
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        nullable = None in values
        return {"enum": [v for v in values if v is not None]}, nullable
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}, False
    if tp is bool:
        return {"type": "boolean"}, False
    if tp is int:
        return {"type": "integer"}, False
    if tp is float:
        return {"type": "number"}, False
    if tp is str:
        return {"type": "string"}, False
    if inspect.isclass(tp) and issubclass(tp, pathlib.PurePath):
        return {"type": "string"}, False
    if tp is dict or origin is dict:
        return {"type": "object"}, False
    if tp is list or origin in (list, tuple, set):
        args = typing.get_args(tp)
        out = {"type": "array"}
        if args and origin is not tuple:
            item, _ = _type_schema(args[0])
            if item:
                out["items"] = item
        return out, False
    if tp is typing.Any:
        return {}, True
    # a class ftgen cannot express (ParallelismConfig, GenerationConfig): no type constraint
    return {}, False


def _split_arg_fields(dc):
    """Fields a dataclass __post_init__ passes through split_arg() (so a list works as well as 'a,b')."""
    found = set()
    for klass in dc.__mro__:
        post = klass.__dict__.get("__post_init__")
        if post is None:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(post)))
        except (OSError, TypeError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "split_arg"
                and node.args
                and isinstance(node.args[0], ast.Attribute)
                and isinstance(node.args[0].value, ast.Name)
                and node.args[0].value.id == "self"
            ):
                found.add(node.args[0].attr)
    return found


def build():
    version = importlib.metadata.version("llamafactory")
    no_desc = f"(no description in llamafactory {version})"
    from llamafactory.data.template import TEMPLATES
    from llamafactory.hparams.parser import _TRAIN_ARGS

    properties, owners = {}, {}
    split_fields = {}
    for dc in _TRAIN_ARGS:
        hints = typing.get_type_hints(dc)
        splits = _split_arg_fields(dc)
        for field in dataclasses.fields(dc):
            if not field.init or field.name in properties:
                continue
            schema, nullable = _type_schema(hints.get(field.name, typing.Any))
            meta = dict(field.metadata or {})
            choices = meta.get("choices")
            if choices:
                schema = {"enum": [c.value if isinstance(c, enum.Enum) else c for c in choices]}
            if field.name in splits and schema.get("type") == "string":
                schema = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
                split_fields[field.name] = dc.__name__
            if field.name == "template":
                schema = {"enum": sorted(TEMPLATES)}
                schema["x-ftgen-enum-source"] = "llamafactory.data.template.TEMPLATES"
            if nullable and schema:
                if "enum" in schema:
                    schema["enum"] = schema["enum"] + [None]
                elif "type" in schema and isinstance(schema["type"], str):
                    schema["type"] = [schema["type"], "null"]
                elif "anyOf" in schema:
                    schema["anyOf"] = schema["anyOf"] + [{"type": "null"}]
            help_text = meta.get("help")
            schema["description"] = " ".join(str(help_text).split()) if help_text else no_desc
            default = field.default
            if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
                with contextlib.suppress(Exception):
                    default = field.default_factory()
            if default is not dataclasses.MISSING:
                value, ok = _json_default(default)
                if ok:
                    schema["default"] = value
            else:
                schema["x-ftgen-required-by-dataclass"] = True
            schema["x-ftgen-group"] = dc.__name__
            properties[field.name] = schema
            owners[field.name] = dc.__name__

    deps = {}
    for dist in ("llamafactory", "transformers", "peft", "trl", "omegaconf"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            deps[dist] = importlib.metadata.version(dist)
    groups = {}
    for owner in owners.values():
        groups[owner] = groups.get(owner, 0) + 1
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://ftgen.invalid/schemas/llamafactory-{version}.schema.json",
        "description": f"LLaMA-Factory {version} train config (YAML for `llamafactory-cli train`): the init "
        "fields of ModelArguments, DataArguments, TrainingArguments (Seq2Seq), FinetuningArguments and "
        "GeneratingArguments. Any other key makes HfArgumentParser fail ('Some keys are not used').",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "x-ftgen": {
            "framework": "llamafactory",
            "version": version,
            "generator": SCRIPT,
            "source": "dataclasses.fields() of llamafactory.hparams.parser._TRAIN_ARGS with typing.get_type_hints",
            "packages": deps,
            "groups": dict(sorted(groups.items())),
            "split_arg_fields": dict(sorted(split_fields.items())),
            "numeric_strings": {
                "accepted": True,
                "mode": "omegaconf",
                "pattern": OMEGACONF_FLOAT,
                "why": "llamafactory-cli reads YAML with OmegaConf, whose float resolver reads an unquoted 1e-4 "
                "as a float while PyYAML reads a string; HfArgumentParser.parse_dict does not convert types, so "
                "only strings OmegaConf would have read as floats are accepted for number fields (a quoted "
                "'1e-4' stays a string in LLaMA-Factory and is indistinguishable here once parsed by PyYAML)",
            },
        },
    }


def main():
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        schema = build()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    sys.stdout.write(json.dumps(schema, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

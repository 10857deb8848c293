"""What ftgen knows of keys across framework versions: renamed, deprecated, removed, or from another version."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .. import frameworks
from .._datacache import load_json_file
from .._yaml import load_trusted_file
from ..configschema import default_version, load_schema

_DATA = Path(__file__).resolve().parent / "_data"
_INDEX = re.compile(r"\[\d+\]")
_SCHEMA_DEPRECATED = re.compile(r"^\s*(\[DEPRECATED\]|deprecated\b|This argument is deprecated)", re.IGNORECASE)
_USE = re.compile(r"[Uu]se `([A-Za-z_][A-Za-z0-9_.]*)(?::[^`]*)?`")


@dataclass(frozen=True)
class Fact:
    """One thing known about a key: what happens to it in the pinned version, and where that is written."""

    kind: str  # renamed | deprecated | other_version | note | format
    message: str
    source: str
    action: str = "warn"  # warn: still works; raise: the pinned framework refuses the config
    replacement: str | None = None
    version: str | None = None


def pattern(key: str) -> str:
    """datasets[0].type -> datasets[].type"""
    return _INDEX.sub("[]", key)


@cache
def _facts() -> dict:
    return load_json_file(_DATA / "facts.json")


@cache
def _curated() -> dict:
    return load_trusted_file(_DATA / "curated.yaml")


def pinned(framework: str) -> str:
    return default_version(framework)


def label(framework: str, version: str | None = None) -> str:
    """'Axolotl 0.19.0'"""
    return f"{frameworks.label(framework)} {version or pinned(framework)}"


# ---------------------------------------------------------------------------------------------- unknown keys


def other_version(framework: str, key: str) -> Fact | None:
    """Evidence that an unknown key belongs to another version of the framework, or None."""
    pat = pattern(key)
    cur = _curated().get(framework, {})
    here = label(framework)
    entry = cur.get("other_versions", {}).get(pat)
    if entry:
        return Fact(
            "other_version", f"belongs to {entry['version']}, not {here}", entry["source"], version=entry["version"]
        )
    removed = _facts().get(framework, {}).get("removed", {})
    section, name = _section(pat)
    found = removed.get(section, {}).get(name)
    if found:
        version = f"{frameworks.label(framework)} {found['last']}"
        span = f"{found['first']}-{found['last']}" if found["first"] != found["last"] else found["last"]
        return Fact(
            "other_version",
            f"belongs to {version} and earlier (in the releases read: {span}), not {here}",
            found["source"],
            version=version,
        )
    for mapping, info in _facts().get(framework, {}).get("free_mappings", {}).items():
        if pat.startswith(mapping + "."):
            version = f"{frameworks.label(framework)} {info['last']}"
            return Fact(
                "other_version",
                f"belongs to {version} and earlier, where {mapping} was a free mapping passed on to accelerate; "
                f"{here} validates {mapping} and drops this key",
                info["source"],
                version=version,
            )
    return None


def _section(pat: str) -> tuple[str, str]:
    for prefix in ("datasets[].", "test_datasets[].", "fsdp_config."):
        if pat.startswith(prefix):
            return ("datasets[]" if "datasets" in prefix else "fsdp_config"), pat[len(prefix) :]
    return "top", pat


def note(framework: str, key: str) -> str | None:
    return _curated().get(framework, {}).get("notes", {}).get(pattern(key))


def other_value(framework: str, key: str, value: Any) -> Fact | None:
    """Evidence that an enum value belongs to another version, or None."""
    values = _curated().get(framework, {}).get("other_values", {}).get(pattern(key), {})
    entry = values.get(value) if isinstance(value, str) else None
    if not entry:
        return None
    return Fact(
        "other_version",
        f"value {value!r} belongs to {entry['version']}, not {label(framework)}",
        entry["source"],
        version=entry["version"],
    )


def file_format(framework: str, cfg: dict) -> tuple[str, Fact] | None:
    """A whole-file format of another version (LLaMA-Factory v1), recognised by its marker keys."""
    for name, fmt in _curated().get(framework, {}).get("formats", {}).items():
        markers = [k for k in fmt["markers"] if k in cfg]
        if len(markers) >= 2 and not any(k in cfg for k in fmt.get("without", [])):
            return name, Fact("format", fmt["message"], fmt["source"])
    return None


# ---------------------------------------------------------------------------------------------- deprecations


def _active(value: Any, when: str) -> bool:
    return bool(value) if when == "truthy" else value is not None


@cache
def _schema_deprecations(framework: str) -> dict[str, Fact]:
    """Deprecations the vendored schema carries (`deprecated: true`, or a description that says so)."""
    out: dict[str, Fact] = {}
    schema = load_schema(framework)
    still_used = _curated().get(framework, {}).get("still_used", {})
    for key, prop in schema.get("properties", {}).items():
        if key in still_used:
            continue
        desc = prop.get("description", "") or ""
        if prop.get("deprecated") or _SCHEMA_DEPRECATED.search(desc):
            m = _USE.search(desc)
            text = desc if "no description" not in desc else "deprecated"
            out[key] = Fact(
                "deprecated",
                text.strip(),
                f"schemas/{framework}-{pinned(framework)}.schema.json (properties.{key})",
                replacement=m.group(1) if m else None,
            )
    return out


def deprecations(framework: str, cfg: dict) -> Iterator[tuple[str, Fact]]:
    """(key path, fact) for every deprecated or renamed key or value used in `cfg`."""
    if not isinstance(cfg, dict):
        return
    cur = _curated().get(framework, {})
    renamed = cur.get("renamed", {})
    extracted = _facts().get(framework, {}).get("deprecated", {})
    schema_dep = _schema_deprecations(framework)
    for key, value in cfg.items():
        if not isinstance(key, str):
            continue
        entry = renamed.get(key) or extracted.get(key)
        if entry and _active(value, entry.get("when", "set")):
            yield key, _fact_of(entry)
        elif key in schema_dep and value is not None:
            yield key, schema_dep[key]
    # nested: dataset entries and fsdp_config prefixes
    for pat, entry in renamed.items():
        if pat.endswith("_") and entry.get("when") == "prefix":
            parent, prefix = pat.rsplit(".", 1)
            sub = cfg.get(parent)
            if isinstance(sub, dict):
                for k in sub:
                    if isinstance(k, str) and k.startswith(prefix) and k not in entry.get("keep", []):
                        new = k[len(prefix) :]
                        yield f"{parent}.{k}", _fact_of(entry, replacement=f"{parent}.{new}")
        elif "[]." in pat:
            parent, child = pat.split("[].", 1)
            items = cfg.get(parent)
            if isinstance(items, list):
                for i, item in enumerate(items):
                    if isinstance(item, dict) and _active(item.get(child), entry.get("when", "set")):
                        yield f"{parent}[{i}].{child}", _fact_of(entry)
    for pat, entry in cur.get("values", {}).items():
        for key, value in _values_at(cfg, pat):
            if not isinstance(value, str):
                continue
            hit = value.startswith(entry["prefix"]) if "prefix" in entry else value in entry.get("equals", [])
            if hit:
                yield key, _fact_of(entry)


def _values_at(cfg: dict, pat: str) -> Iterator[tuple[str, Any]]:
    if "[]." in pat:
        parent, child = pat.split("[].", 1)
        items = cfg.get(parent)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict) and child in item:
                    yield f"{parent}[{i}].{child}", item[child]
    elif pat in cfg:
        yield pat, cfg[pat]


def _fact_of(entry: dict, replacement: str | None = None) -> Fact:
    return Fact(
        "renamed" if entry.get("to") else "deprecated",
        " ".join(str(entry["message"]).split()),
        entry["source"],
        action=entry.get("action", "warn"),
        replacement=replacement or entry.get("to") or entry.get("replacement"),
    )

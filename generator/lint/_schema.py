"""The schema and version pass of lint: schema violations, deprecated and renamed keys, other versions' keys."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from .. import frameworks
from ..configschema import load_schema
from . import _versions as V
from ._fastvalidate import validate as validate_config
from ._model import Finding
from ._registry import schema_rule

schema_rule(
    "FTL001",
    "unknown-key",
    "error",
    """
    What: a key the pinned framework version does not know, and no known version of it knew either.
    Why: Axolotl drops unknown keys silently (a misspelt `learning_rat` trains with the default rate);
      LLaMA-Factory refuses the whole config ("Some keys are not used by the HfArgumentParser").
    Example: `context_parapllel_size: 2` -> unknown key; did you mean context_parallel_size?
    References: the vendored schemas (schemas/<framework>-<version>.schema.json), derived from the framework's
      own pydantic models / dataclasses.
    """,
)
schema_rule(
    "FTL002",
    "wrong-type",
    "error",
    """
    What: a value of the wrong type (a mapping where a list is expected, a fraction where an integer is).
    Why: Axolotl's pydantic validation refuses it; LLaMA-Factory's argument parser does not check types and
      fails later, once training starts.
    Example: `warmup_steps: 0.1` -> wrong type; allowed: integer (use warmup_ratio for a fraction).
    References: the vendored schemas; pydantic lax mode (bool is read as 0/1 for integers: a warning only).
    """,
)
schema_rule(
    "FTL003",
    "value-not-allowed",
    "error",
    """
    What: a value outside a closed set of choices; the finding lists the allowed ones.
    Why: a misspelt optimizer, scheduler, stage or template passes the frameworks' own validation and fails
      tens of seconds into training (or never, for choices pydantic checks itself).
    Example: `lr_scheduler_type: cosin` -> value not allowed; did you mean cosine?
    References: the schemas' enums, derived from the framework's Literal types, enums and registries.
    """,
)
schema_rule(
    "FTL004",
    "deprecated-key",
    "warning",
    """
    What: a key or value the pinned version deprecates, renames or no longer supports, with its replacement.
    Why: deprecated keys still work until they do not; keys the framework "no longer supports" make it
      refuse the config (then the finding is an error).
    Example: `flash_attention: true` -> deprecated; use attn_implementation: flash_attention_2.
    References: Axolotl's DeprecatedParameters (utils/schemas/deprecated.py), Field(deprecated=...) and its
      renaming validators; the schemas' deprecation notes; each finding names its source.
    """,
)
schema_rule(
    "FTL005",
    "other-version-key",
    "warning",
    """
    What: a key the pinned version does not know but another version of the framework did (or does);
      the finding says which version.
    Why: configs copied from older or newer examples carry such keys. Axolotl drops them silently (a
      warning: the setting has no effect); LLaMA-Factory refuses the config (an error).
    Example: `fsdp_config: {fsdp_sharding_strategy: FULL_SHARD}` -> belongs to Axolotl 0.12.2 and earlier.
    References: generator/lint/_data/facts.json (keys of older releases, scripts/extract_lint_facts.py) and
      _data/curated.yaml (newer versions, each entry with its source).
    """,
)
schema_rule(
    "FTL006",
    "other-version-value",
    "error",
    """
    What: a choice (a template name, for instance) that only another version of the framework has.
    Why: the pinned version accepts the config and fails when it looks the choice up.
    Example: `template: moss_vl` -> belongs to LLaMA-Factory 0.9.6.dev0, not 0.9.5.
    References: generator/lint/_data/curated.yaml (other_values), each entry with its source.
    """,
)
schema_rule(
    "FTL007",
    "missing-required-key",
    "error",
    """
    What: a key the framework needs is missing (Axolotl's base_model, LLaMA-Factory's model_name_or_path).
    Why: the framework refuses the config.
    Example: no `model_name_or_path` -> "Please provide `model_name_or_path`."
    References: the schemas' required lists; LLaMA-Factory ModelArguments.__post_init__.
    """,
)
schema_rule(
    "FTL008",
    "plugin-key-without-plugin",
    "warning",
    """
    What: an Axolotl plugin's key used without that plugin listed under `plugins`.
    Why: without the plugin, Axolotl ignores the key silently.
    Example: `liger_rope: true` without axolotl.integrations.liger.LigerPlugin in plugins.
    References: the plugin args models of axolotl.integrations (schema dependentSchemas).
    """,
)
schema_rule(
    "FTL009",
    "invalid-value",
    "error",
    """
    What: a value out of range or of the wrong form (a negative count, a string not matching its pattern).
    Why: the framework refuses it, or fails with it once training starts.
    Example: `fsdp_config: {min_num_params: 0}` -> value out of range; allowed: >= 1.
    References: the schemas' minimum/maximum/pattern constraints.
    """,
)
schema_rule(
    "FTL010",
    "not-a-config",
    "error",
    """
    What: the file is not a training config ftgen can read: not YAML, not a mapping, or no key says which
      framework it is for.
    Why: nothing else can be checked; pass --framework when the keys are ambiguous.
    Example: a token-description file (`<|start_of_text|>: ...`) given to lint.
    References: generator/lint/_detect.py.
    """,
)
schema_rule(
    "FTL011",
    "other-version-format",
    "error",
    """
    What: the whole file is in another version's config format (LLaMA-Factory v1's `model:`,
      `train_dataset:`, `dist_config:` layout).
    Why: the pinned version cannot read it at all.
    Example: a llamafactory.v1 config linted against LLaMA-Factory 0.9.5.
    References: generator/lint/_data/curated.yaml (formats), with the v1 source files.
    """,
)


@cache
def _derived_enum_keys(framework: str) -> frozenset[str]:
    """Keys whose closed choices the schema derived although the framework types them as plain strings."""
    derived = load_schema(framework).get("x-ftgen", {}).get("derived_enums", {})
    return frozenset(k.split(" ")[0] for k in derived)


def _is_union_key(framework: str, key: str) -> bool:
    """A key of one branch of a union the framework validates entry by entry (Axolotl's dataset models)."""
    return frameworks.get(framework).accepts_union_key(V.pattern(key))


def schema_findings(framework: str, cfg: dict, file: str, line_of: Callable[[str], int | None]) -> list[Finding]:
    """Findings of the schema and version pass for one parsed config."""
    out: list[Finding] = []
    here = V.label(framework)
    fw = frameworks.get(framework)
    traits = fw.traits
    fmt = V.file_format(framework, cfg)
    if fmt:
        _, fact = fmt
        out.append(Finding(file, "", fact.message, "FTL011", "error", line=1, when="validate", source=fact.source))
    unknown: set[str] = set()
    for p in validate_config(framework, cfg, file):
        key = p.key
        line = line_of(key) if key else None
        msg = p.message
        if msg == "unknown key":
            if _is_union_key(framework, key):
                continue  # validated entry by entry against the union of its models
            unknown.add(key)
            out.append(_unknown(framework, key, p.allowed, file, line, _value_at(cfg, key)))
        elif msg in ("wrong type", "wrong type or value"):
            if traits.bool_as_int and isinstance(p.found, bool) and p.allowed and "integer" in p.allowed:
                out.append(
                    Finding(
                        file,
                        key,
                        f"{here} reads {str(p.found).lower()} as {int(p.found)} here "
                        "(pydantic lax mode); write the number",
                        "FTL002",
                        "warning",
                        p.found,
                        p.allowed,
                        line,
                        "never",
                    )
                )
            else:
                out.append(
                    Finding(
                        file,
                        key,
                        "wrong type",
                        "FTL002",
                        "error",
                        p.found,
                        p.allowed,
                        line,
                        traits.type_errors,
                    )
                )
        elif msg == "value not allowed":
            fact = V.other_value(framework, key, p.found)
            if fact:
                out.append(
                    Finding(
                        file,
                        key,
                        f"{fact.message}: {here} fails when it looks it up",
                        "FTL006",
                        "error",
                        p.found,
                        p.allowed,
                        line,
                        "train",
                        fact.source,
                    )
                )
            else:
                derived = V.pattern(key).replace("[]", "[]") in _derived_enum_keys(framework) or V.pattern(key) in {
                    "datasets[].type",
                    "test_datasets[].type",
                }
                when = "train" if (traits.type_errors == "train" or derived) else "validate"
                out.append(Finding(file, key, "value not allowed", "FTL003", "error", p.found, p.allowed, line, when))
        elif msg in ("missing required key",):
            out.append(
                Finding(
                    file,
                    key,
                    f"missing required key: {here} refuses the config",
                    "FTL007",
                    "error",
                    None,
                    p.allowed,
                    line_of(key.rsplit(".", 1)[0]) if "." in key else 1,
                    "validate",
                )
            )
        elif "only works with its plugin" in msg:
            out.append(Finding(file, key, msg, "FTL008", "warning", p.found, p.allowed, line, "silent"))
        else:
            out.append(Finding(file, key, msg, "FTL009", "error", p.found, p.allowed, line, traits.type_errors))
    model_key = fw.key_of("base_model")
    if traits.missing_model and model_key not in cfg and not any(f.rule == "FTL007" for f in out):
        out.append(
            Finding(
                file,
                model_key,
                f"missing required key: {fw.label} refuses the config ({traits.missing_model})",
                "FTL007",
                "error",
                None,
                "a hub id or a local model folder",
                1,
                "validate",
                traits.missing_model_source,
            )
        )
    for key, fact in V.deprecations(framework, cfg):
        if key in unknown:
            continue
        error = fact.action == "raise"
        words = fact.message
        if fact.replacement and fact.replacement not in words:
            words += f"; use {fact.replacement}"
        if error:
            words = f"{words} ({here} refuses the config)"
        out.append(
            Finding(
                file,
                key,
                words,
                "FTL004",
                "error" if error else "warning",
                _value_at(cfg, key),
                fact.replacement,
                line_of(key),
                "validate" if error else "never",
                fact.source,
            )
        )
    return out


def _unknown(framework: str, key: str, allowed: str | None, file: str, line: int | None, value: Any) -> Finding:
    here = V.label(framework)
    dropped = frameworks.get(framework).traits.unknown_keys == "dropped"
    refusal = frameworks.get(framework).traits.unknown_refusal
    fact = V.other_version(framework, key)
    if fact:
        consequence = f"{here} drops it silently" if dropped else f"{here} refuses the config"
        return Finding(
            file,
            key,
            f"{fact.message}; {consequence}",
            "FTL005",
            "warning" if dropped else "error",
            value if _scalar(value) else None,
            None,
            line,
            "silent" if dropped else "validate",
            fact.source,
        )
    renamed = _renamed(framework, key)
    if renamed:
        return renamed.__class__(
            **{**renamed.__dict__, "file": file, "line": line, "found": value if _scalar(value) else None}
        )
    note = V.note(framework, key)
    consequence = (
        f"{here} drops it silently" if dropped else f"{here} refuses the config" + (f" ({refusal})" if refusal else "")
    )
    text = f"unknown key: {consequence}" + (f"; {note}" if note else "")
    return Finding(
        file,
        key,
        text,
        "FTL001",
        "error",
        value if _scalar(value) else None,
        allowed,
        line,
        "silent" if dropped else "validate",
    )


def _renamed(framework: str, key: str) -> Finding | None:
    entry = V._curated().get(framework, {}).get("renamed", {}).get(V.pattern(key))
    if not entry:
        return None
    fact = V._fact_of(entry)
    error = fact.action == "raise"
    return Finding(
        "",
        key,
        " ".join(fact.message.split()),
        "FTL004",
        "error" if error else "warning",
        None,
        f"use {fact.replacement}" if fact.replacement else None,
        None,
        "validate" if error else "never",
        fact.source,
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _value_at(cfg: Any, key: str) -> Any:
    """The value at a dotted key path (datasets[0].type), or None."""
    import re

    node = cfg
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            idx = int(part[1:-1])
            if not isinstance(node, list) or idx >= len(node):
                return None
            node = node[idx]
        else:
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
    return node

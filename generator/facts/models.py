"""Model cards: resolve base_model from a local directory, the catalog, the spec's lock, the HF cache or the hub.

The order (first that answers wins): a local directory holding config.json (relative to the spec, as transformers
resolves it); the spec's `model_config` standing in for a hub id; the catalog (catalog/models.yaml, ids and
aliases); the spec's lock file; the Hugging Face cache (refs/main's snapshot); the hub (config.json and the
tokenizer's chat template). What the cache or the hub answered becomes a lock entry and the card is read from that
entry, so the build that writes the lock and every later build from it give the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from .._io import read_text
from ..errors import FtgenError, Problem
from . import hub
from ._arch import ARCHS as _ARCHS
from ._arch import (
    DENSE_TARGETS,
    ArchError,
    Dims,
    Layout,
    _Config,
    decoder_params,
    lf_template_for_tokenizer,
    parse,
    templates,
)
from .catalog import _catalog, canonical_id, catalog_aliases, load_catalog
from .lock import LockEntry, lock_path
from .lock import read as read_lock
from .types import ModelCard

_MAX_CONFIG_BYTES = hub.MAX_CONFIG_BYTES


def params_from_shapes(card: ModelCard) -> float:
    """Parameter count in billions of a card's language model, from its shapes and its architecture's layout.

    The layout (biases, norms per layer, q/k norms, MLP matrices) is the architecture table's row for the card's
    model_type with transformers' defaults; vision towers are not counted (a card's vision_params_b holds them).
    """
    model_type = "gemma3_text" if card.model_type == "gemma3" else card.model_type
    arch = _ARCHS.get(model_type)
    layout = arch.layout_for(_Config({}, model_type)) if arch else Layout()
    layout = replace(layout, mlp_gated=card.mlp_gated)
    experts = int(card.num_experts or 0)
    dims = Dims(
        hidden=card.hidden,
        layers=card.layers,
        heads=card.heads,
        kv_heads=card.kv_heads,
        head_dim=card.dim_head,
        intermediate=card.intermediate,
        vocab=card.vocab,
        max_context=card.max_context,
        tie=card.tie_embeddings,
        experts=experts,
        top_k=int(card.experts_per_token or 0),
        moe_intermediate=int(card.moe_intermediate or card.intermediate) if experts else 0,
    )
    return decoder_params(dims, layout) / 1e9


# ----------------------------------------------------------------------------------------------- the catalog


# ----------------------------------------------------------------------------------------------- resolving


@dataclass(frozen=True)
class Resolved:
    """A model card and, when the cache or the hub answered, the lock entry a build writes beside the spec."""

    card: ModelCard
    entry: LockEntry | None = None  # the entry the card was read from (source lock)
    fresh: bool = False  # True: read from the cache or the hub now, not yet in the lock file
    lock_file: Path | None = None


def lookup_model(ref: str, base_dir: Path, file: str, key: str = "base_model") -> ModelCard:
    """Resolve `ref` without a spec's lock (local directory, catalog, HF cache, hub); see resolve_model."""
    return resolve_model(ref, base_dir, file, key).card


def resolve_model(
    ref: str,
    base_dir: Path,
    file: str,
    key: str = "base_model",
    *,
    model_config: str | None = None,
    lock: Path | None = None,
    frozen: bool = False,
    refresh: bool = False,
    line: int | None = None,
) -> Resolved:
    """Resolve base_model in ftgen's order; FtgenError naming the spec key and every place that was tried.

    `lock`: the spec's lock file (read unless `refresh`). `frozen` (ftgen check, review): the answer must come
    from the spec, the catalog or the lock, never from this machine's cache or the network.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise FtgenError(
            [Problem(file, key, "no model given", found=ref, allowed="a catalog id, a hub id or a local directory")]
        )
    local = Path(ref).expanduser()
    local = local if local.is_absolute() else Path(base_dir) / local
    if local.is_dir():
        if model_config:
            raise FtgenError(
                [
                    Problem(
                        file,
                        "model_config",
                        "base_model is a local directory: its own config.json is used",
                        found=model_config,
                        allowed="remove model_config, or name a hub id in base_model",
                        line=line,
                    )
                ]
            )
        return Resolved(_from_local(ref, local, file, key))
    canonical = canonical_id(ref)
    if model_config:
        return Resolved(_from_model_config(ref, canonical, model_config, base_dir, file, line))
    if canonical:
        return Resolved(_catalog()[0][canonical])
    if not hub.is_repo_id(ref):
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    "no such local directory, and not a hub model id",
                    found=ref,
                    allowed=f"a directory holding config.json (looked for {local}), a catalog id or org/name",
                    line=line,
                )
            ]
        )
    tried: list[str] = []
    if lock is not None and not refresh:
        entries = read_lock(lock)
        if entries and ref in entries:
            return Resolved(_from_entry(entries[ref], lock), entries[ref], False, lock)
        tried.append(f"no entry in the lock {lock.name}" if entries is not None else f"no lock file {lock.name}")
    if frozen:
        raise FtgenError([_unknown(ref, file, key, line, tried, frozen=True, lock=lock)])
    for source in (hub.from_cache, hub.from_hub):
        try:
            found = source(ref)
        except hub.Miss as exc:
            tried.append(str(exc))
            continue
        entry = LockEntry(ref, found.id, found.revision, found.source, found.config, found.gated, found.chat_format)
        try:
            card = _from_entry(entry, lock)
        except FtgenError as exc:  # name where the config came from
            raise FtgenError([replace(p, file=found.where) for p in exc.problems]) from None
        return Resolved(card, entry, True, lock)
    raise FtgenError([_unknown(ref, file, key, line, tried, frozen=False, lock=lock)])


def _unknown(ref: str, file: str, key: str, line, tried: list[str], *, frozen: bool, lock: Path | None) -> Problem:
    _, index = _catalog()
    import difflib  # for a suggestion only: a clean run never needs it

    close = difflib.get_close_matches(ref.lower(), list(index), n=6, cutoff=0.5)
    names = ", ".join(list(dict.fromkeys(index[c] for c in close))[:3]) or "none"
    if frozen:
        spec = file  # the spec's path as the user gave it
        return Problem(
            file,
            key,
            "not in the catalog and not locked: this command reads only the spec, the catalog and the lock "
            f"({'; '.join(tried) or 'no lock'}), never this machine's Hugging Face cache or the hub",
            found=ref,
            allowed=f"run `ftgen build {spec}` where the model is in the Hugging Face cache or the hub is reachable "
            f"(HF_TOKEN for a gated model), then commit {lock.name if lock else 'the lock file'}; "
            f"or name a catalog id (closest: {names}) or a local directory",
            line=line,
        )
    return Problem(
        file,
        key,
        "unknown model: " + "; ".join(["not in the catalog", *tried]),
        found=ref,
        allowed=f"a catalog id (closest: {names}), a hub id the cache or the hub holds, "
        "a local directory with config.json, or model_config: a local config.json for this hub id",
        line=line,
    )


# ----------------------------------------------------------------------------------------------- cards from configs


def _card(
    ref_id: str, config: dict, file: str, key: str, *, source: str, name: str, chat_format: str | None
) -> ModelCard:
    """A ModelCard from a config.json dict; FtgenError naming `file` and the config key at fault. chat_format: what
    the tokenizer's own chat template writes (_arch.chat_format; "none": it ships none; None: not known)."""
    try:
        p = parse(config)
    except ArchError as exc:
        raise FtgenError(
            [Problem(file, f"{key}.{e.key}" if e.key else key, str(e), e.found, e.allowed) for e in exc.all]
        ) from None
    d = p.dims
    ax, lf = templates(p.model_type, d.vocab, name)
    notes = p.notes
    # chat_format not known (an old lock, a cache holding config.json only): the tokenizer's, else ftgen's pick
    if chat_format is None:
        ax = f"tokenizer_default_fallback_{ax}"
    elif chat_format != "none":
        ax = "tokenizer_default"
        lf, note = lf_template_for_tokenizer(lf, chat_format)
        notes += (note,) if note else ()
    return ModelCard(
        id=ref_id,
        family=p.family,
        model_type=p.model_type,
        params_b=p.params / 1e9,
        layers=d.layers,
        hidden=d.hidden,
        intermediate=d.intermediate,
        heads=d.heads,
        kv_heads=d.kv_heads,
        vocab=d.vocab,
        max_context=d.max_context,
        tie_embeddings=d.tie,
        head_dim=d.head_dim if d.head_dim != d.hidden // d.heads else None,
        kind="instruct" if _looks_instruct(name) else "base",
        num_experts=d.experts or None,
        experts_per_token=d.top_k or None,
        moe_intermediate=d.moe_intermediate or None,
        axolotl_chat_template=ax,
        llamafactory_template=lf,
        lora_targets=tuple(p.lora_targets) or DENSE_TARGETS,
        trust_remote_code=p.trust_remote_code,
        source=source,
        mlp_gated=p.mlp_gated,
        vision_params_b=p.vision_params / 1e9,
        notes=notes,
    )


def _read_config(path: Path, file: str, key: str, found: str) -> dict:
    text = read_text(path, file, _MAX_CONFIG_BYTES, key=key)[0]
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise FtgenError([Problem(file, key, f"{path} is not valid JSON: {exc.msg}", found, line=exc.lineno)]) from None
    if not isinstance(config, dict):
        raise FtgenError([Problem(file, key, f"{path} is not a JSON object", type(config).__name__)])
    return config


def _from_local(ref: str, path: Path, file: str, key: str) -> ModelCard:
    """Read a local model directory's config.json into a ModelCard (errors point at the spec's key)."""
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    f"local model directory has no config.json: {cfg_path}",
                    found=ref,
                    allowed="a directory holding a Hugging Face config.json",
                )
            ]
        )
    config = _read_config(cfg_path, file, key, ref)
    try:
        card = _card(ref, config, file, "", source="local", name=path.name, chat_format=_local_chat_format(path))
    except FtgenError as exc:
        raise FtgenError([_in_config(p, cfg_path, key) for p in exc.problems]) from None
    return replace(card, local_dir=str(path.resolve()))


def _in_config(p: Problem, path: Path, key: str) -> Problem:
    """A problem inside a config.json the spec points at: keyed to the spec's key, the config key in the message."""
    return replace(p, key=key, message=f"{path}" + (f": {p.key}" if p.key else "") + f": {p.message}")


def _from_model_config(
    ref: str, canonical: str | None, model_config: str, base_dir: Path, file: str, line
) -> ModelCard:
    """base_model names a hub id; model_config is a local config.json standing in for the hub's."""
    model_id = canonical or ref
    if not canonical and not hub.is_repo_id(ref):
        raise FtgenError(
            [
                Problem(
                    file,
                    "base_model",
                    "with model_config, base_model must be the hub id the config describes",
                    found=ref,
                    allowed="org/name, e.g. mistralai/Mistral-7B-v0.1",
                    line=line,
                )
            ]
        )
    path = Path(model_config).expanduser()
    path = path if path.is_absolute() else Path(base_dir) / path
    if path.is_dir():
        path = path / "config.json"
    config = _read_config(path, file, "model_config", model_config)
    try:
        return _card(model_id, config, file, "", source="model_config", name=model_id, chat_format=None)
    except FtgenError as exc:
        raise FtgenError([_in_config(p, path, "model_config") for p in exc.problems]) from None


def _from_entry(entry: LockEntry, lock: Path | None) -> ModelCard:
    """The card a lock entry describes (the same whether the entry was just read from the hub or from the file)."""
    file = str(lock) if lock else entry.id
    card = _card(
        entry.id,
        entry.config,
        file,
        f"models.{entry.requested}.config",
        source="lock",
        name=entry.id.split("/")[-1],
        chat_format=entry.chat_format,
    )
    return replace(
        card,
        gated=bool(entry.gated),
        revision=entry.revision,
        lock_file=lock.name if lock else None,
        locked_from=entry.resolved_from,
    )


def _local_chat_format(path: Path) -> str:
    """What the chat template a local model's tokenizer ships writes ("none" when it ships none or has no
    tokenizer files)."""
    return hub.folder_chat_format(path) or "none"


def _looks_instruct(name: str) -> bool:
    lowered = name.lower()
    return any(tag in lowered for tag in ("instruct", "-it", "chat"))


def config_model_problems(value, config_file: Path, key: str, planned: dict | None = None) -> list[Problem]:
    """What is wrong with the model a framework config names (Axolotl base_model, LLaMA-Factory
    model_name_or_path), as `ftgen validate` and `ftgen run` check it before anything starts.

    Allowed: a local directory holding config.json (relative to the config's folder, as `ftgen run` resolves
    it), or a hub id; never a catalog alias (the hub does not know ftgen's aliases: the download would fail),
    and, in a build folder, the model plan.json was planned for (`planned`: plan.json's facts.model).
    """
    file = str(config_file)
    if not isinstance(value, str) or not value.strip():
        return [Problem(file, key, "no model named", value, "a hub id such as org/name, or a local directory")]
    local = Path(value).expanduser()
    local = local if local.is_absolute() else Path(config_file).parent / local
    if local.is_dir():
        if not (local / "config.json").is_file():
            return [Problem(file, key, f"local model directory has no config.json: {local}", value)]
        return []
    canonical = canonical_id(value)
    if canonical and canonical != value:
        return [
            Problem(
                file,
                key,
                "an ftgen catalog alias, not a hub id: the framework's download would fail",
                value,
                canonical,
            )
        ]
    if not hub.is_repo_id(value):
        return [
            Problem(
                file,
                key,
                "neither a local directory (relative to the config's folder) nor a hub model id",
                value,
                "org/name as on the hub, or an existing directory holding config.json",
            )
        ]
    planned = planned or {}
    if planned.get("id") and planned.get("source") != "local" and value != planned["id"]:
        return [
            Problem(
                file,
                key,
                "not the model this build was planned for (memory, batch size, templates and LoRA targets follow "
                "plan.json's model)",
                value,
                f"{planned['id']}, or change base_model in the spec and run `ftgen build`",
            )
        ]
    return []


__all__ = [
    "config_model_problems",
    "Resolved",
    "canonical_id",
    "catalog_aliases",
    "load_catalog",
    "lock_path",
    "lookup_model",
    "params_from_shapes",
    "resolve_model",
]

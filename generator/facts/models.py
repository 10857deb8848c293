"""Model cards: the built-in catalog (catalog/models.yaml) or a local directory's config.json."""

from __future__ import annotations

import difflib
import json
from dataclasses import fields, replace
from functools import cache
from pathlib import Path

from generator._resources import catalog_dir
from generator._yaml import load_trusted
from generator.errors import FtgenError, Problem
from generator.facts.types import ModelCard

_CARD_FIELDS = {f.name for f in fields(ModelCard)}
_CATALOG_ONLY = {"aliases"}

# config.json model_type -> family (when they differ)
_FAMILY = {"gemma3_text": "gemma3", "qwen3_moe": "qwen3", "qwen2_moe": "qwen2", "mixtral": "mistral"}
# model types whose q/k/v projections carry a bias (counted by params_from_shapes)
_QKV_BIAS = {"qwen2", "qwen2_moe"}
# model types whose config defaults tie_word_embeddings to true when the key is absent
_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text"}
# config.json model_type -> (axolotl chat_template when the tokenizer has none, llamafactory template)
_TEMPLATES = {
    "qwen2": ("qwen_25", "qwen"),
    "qwen3": ("qwen3", "qwen3"),
    "qwen3_moe": ("qwen3", "qwen3"),
    "gemma": ("gemma", "gemma"),
    "gemma2": ("gemma", "gemma2"),
    "gemma3": ("gemma3", "gemma3"),
    "gemma3_text": ("gemma3", "gemma2"),
    "mistral": ("mistral_v2v3", "mistral"),
    "phi3": ("phi_3", "phi"),
    "olmo2": ("chatml", "olmo"),
    "internlm3": ("chatml", "intern2"),
}
_LLAMA3_VOCABS = {128256, 128512}

# config.json key (first found wins) -> ModelCard field
_REQUIRED = {
    "model_type": ("model_type",),
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "heads": ("num_attention_heads", "n_head"),
    "intermediate": ("intermediate_size", "n_inner", "ffn_hidden_size"),
    "vocab": ("vocab_size",),
    "max_context": ("max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"),
}
_OPTIONAL = {
    "kv_heads": ("num_key_value_heads", "num_kv_heads"),
    "head_dim": ("head_dim",),
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts"),
    "experts_per_token": ("num_experts_per_tok", "moe_top_k"),
    "moe_intermediate": ("moe_intermediate_size",),
    "tie_embeddings": ("tie_word_embeddings",),
}


def params_from_shapes(card: ModelCard) -> float:
    """Parameter count in billions derived from the architecture shapes.

    embeddings + per layer (q, k, v, o with kv heads; MLP gate/up/down, or for MoE
    experts x 3 matrices + router; two norms) + final norm + lm_head unless tied.
    Vision towers and small extras (q/k norms, post-norms) are not counted.
    """
    hd = card.dim_head
    q_dim, kv_dim = card.heads * hd, card.kv_heads * hd
    attn = card.hidden * q_dim * 2 + card.hidden * kv_dim * 2
    if card.model_type in _QKV_BIAS:
        attn += q_dim + 2 * kv_dim
    if card.num_experts:
        moe_inter = card.moe_intermediate or card.intermediate
        mlp = card.num_experts * 3 * card.hidden * moe_inter + card.hidden * card.num_experts
    else:
        mlp = 3 * card.hidden * card.intermediate
    per_layer = attn + mlp + 2 * card.hidden
    embed = card.vocab * card.hidden
    head = 0 if card.tie_embeddings else card.vocab * card.hidden
    return (embed + card.layers * per_layer + card.hidden + head) / 1e9


@cache
def _catalog() -> tuple[dict[str, ModelCard], dict[str, str]]:
    """Load the catalog once: cards by id, and lower-cased ids and aliases -> id."""
    data = load_trusted((catalog_dir() / "models.yaml").read_text(encoding="utf-8"))
    if data.get("schema_version") != 1:
        raise ValueError(f"models.yaml: unsupported schema_version {data.get('schema_version')!r}")
    cards: dict[str, ModelCard] = {}
    index: dict[str, str] = {}
    for entry in data["models"]:
        unknown = set(entry) - _CARD_FIELDS - _CATALOG_ONLY
        if unknown:
            raise ValueError(f"models.yaml: {entry.get('id')}: unknown keys {sorted(unknown)}")
        values = {k: v for k, v in entry.items() if k in _CARD_FIELDS}
        values["lora_targets"] = tuple(values.get("lora_targets", ModelCard.lora_targets))
        card = ModelCard(**values)
        if card.id in cards:
            raise ValueError(f"models.yaml: duplicate id {card.id}")
        cards[card.id] = card
        names = [card.id, card.id.split("/")[-1], *entry.get("aliases", ())]
        for name in dict.fromkeys(n.lower() for n in names):
            if index.get(name, card.id) != card.id:
                raise ValueError(f"models.yaml: alias {name!r} names both {index[name]} and {card.id}")
            index[name] = card.id
    return cards, index


def load_catalog() -> dict[str, ModelCard]:
    """Every catalog model card, by hub id (loaded once; a fresh dict per call)."""
    return dict(_catalog()[0])


def catalog_aliases() -> dict[str, str]:
    """Lower-cased ids and aliases -> catalog id."""
    return dict(_catalog()[1])


def lookup_model(ref: str, base_dir: Path, file: str, key: str = "base_model") -> ModelCard:
    """Resolve `ref`: a local directory with config.json (as transformers would), else a catalog id or alias."""
    if not isinstance(ref, str) or not ref.strip():
        raise FtgenError([Problem(file, key, "no model given", found=ref, allowed="a catalog id or a local directory")])
    local = Path(ref).expanduser()
    local = local if local.is_absolute() else Path(base_dir) / local
    if local.is_dir():
        return _from_local(ref, local, file, key)
    cards, index = _catalog()
    if ref.lower() in index:
        return cards[index[ref.lower()]]
    close = difflib.get_close_matches(ref.lower(), list(index), n=6, cutoff=0.5)
    names = ", ".join(list(dict.fromkeys(index[c] for c in close))[:3]) or "none"
    raise FtgenError(
        [
            Problem(
                file,
                key,
                "unknown model",
                found=ref,
                allowed=f"a catalog id (closest: {names}) or a local directory with config.json",
            )
        ]
    )


def _first(config: dict, names: tuple[str, ...]):
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return None


def _from_local(ref: str, path: Path, file: str, key: str) -> ModelCard:
    """Read a local model directory's config.json into a ModelCard."""
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
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FtgenError([Problem(file, key, f"cannot read {cfg_path}: {exc}", found=ref)]) from None
    if not isinstance(config, dict):
        raise FtgenError([Problem(file, key, f"{cfg_path} is not a JSON object", found=type(config).__name__)])
    if isinstance(config.get("text_config"), dict):  # image-text checkpoints keep the LM shapes here
        config = {**config, **config["text_config"], "model_type": config.get("model_type")}
    values: dict = {}
    problems = []
    for name, keys in _REQUIRED.items():
        value = _first(config, keys)
        if value is None:
            problems.append(
                Problem(file, key, f"{cfg_path} lacks a required field", found=None, allowed=" or ".join(keys))
            )
        values[name] = value
    if problems:
        raise FtgenError(problems)
    for name, keys in _OPTIONAL.items():
        values[name] = _first(config, keys)
    model_type = values["model_type"]
    if values["tie_embeddings"] is None:
        values["tie_embeddings"] = model_type in _TIED_BY_DEFAULT
    values["kv_heads"] = values["kv_heads"] or values["heads"]
    has_template = _has_chat_template(path)
    ax_default, lf_template = _TEMPLATES.get(model_type, ("chatml", "default"))
    if model_type == "llama" and values["vocab"] in _LLAMA3_VOCABS:
        ax_default, lf_template = "llama3", "llama3"
    card = ModelCard(
        id=ref,
        family=_FAMILY.get(model_type, model_type),
        params_b=0.0,
        kind="instruct" if _looks_instruct(path.name) else "base",
        axolotl_chat_template="tokenizer_default" if has_template else ax_default,
        llamafactory_template=lf_template,
        lora_targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj")
        if model_type == "phi3"
        else ModelCard.lora_targets,
        trust_remote_code="auto_map" in config,
        local_dir=str(path.resolve()),
        source="local",
        **values,
    )
    return _with_params(card)


def _with_params(card: ModelCard) -> ModelCard:
    return replace(card, params_b=params_from_shapes(card))


def _has_chat_template(path: Path) -> bool:
    """True when the tokenizer ships a chat template (tokenizer_config.json or a template file)."""
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    tok = path / "tokenizer_config.json"
    if not tok.is_file():
        return False
    try:
        return bool(json.loads(tok.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError, AttributeError):
        return False


def _looks_instruct(name: str) -> bool:
    lowered = name.lower()
    return any(tag in lowered for tag in ("instruct", "-it", "chat"))

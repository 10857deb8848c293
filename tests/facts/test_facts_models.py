"""Tests for generator.facts.models: the catalog, shape-derived params, local config.json, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator.errors import FtgenError
from generator.facts.models import catalog_aliases, load_catalog, lookup_model, params_from_shapes

DATA = Path(__file__).parent / "data"
CATALOG = load_catalog()
TEMPLATES = yaml.safe_load((DATA / "framework_templates.yaml").read_text())

REQUIRED = [
    "meta-llama/Llama-3.1-8B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.1-70B",
    "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Llama-3.2-1B",
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B",
    "meta-llama/Llama-3.2-3B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "mistralai/Mistral-7B-v0.3",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "mistralai/Mistral-Small-24B-Base-2501",
    "mistralai/Mistral-Small-24B-Instruct-2501",
    *(f"Qwen/Qwen2.5-{s}" for s in ("0.5B", "1.5B", "3B", "7B", "14B", "32B", "72B")),
    "Qwen/Qwen2.5-7B-Instruct",
    *(f"Qwen/Qwen3-{s}" for s in ("0.6B", "1.7B", "4B", "8B", "14B", "32B", "30B-A3B")),
    "google/gemma-2-2b",
    "google/gemma-2-9b",
    "google/gemma-2-27b",
    "google/gemma-3-1b-pt",
    "google/gemma-3-4b-pt",
    "google/gemma-3-12b-pt",
    "google/gemma-3-27b-pt",
    "microsoft/phi-4",
    "allenai/OLMo-2-1124-7B",
    "allenai/OLMo-2-1124-13B",
    "internlm/internlm3-8b-instruct",
]

# Checkpoints whose params_b deliberately exceeds the text-model shapes: Gemma 3 4B/12B/27B
# ship a SigLIP vision tower (~0.42B) that is loaded with the language model.
VISION_TOWER_B = {i: 0.42 for i in CATALOG if i.startswith("google/gemma-3-") and "-1b-" not in i}


def test_catalog_holds_required_models():
    assert len(CATALOG) >= 24
    assert [m for m in REQUIRED if m not in CATALOG] == []


@pytest.mark.parametrize("card", list(CATALOG.values()), ids=lambda c: c.id)
def test_catalog_card_is_consistent(card):
    assert card.source == "catalog" and card.kind in ("base", "instruct")
    assert card.heads % card.kv_heads == 0
    assert card.lora_targets and card.max_context >= 4096
    assert bool(card.num_experts) == bool(card.experts_per_token) == bool(card.moe_intermediate)
    ax = card.axolotl_chat_template.removeprefix("tokenizer_default_fallback_")
    assert ax in TEMPLATES["axolotl_0_19_0"]
    assert card.llamafactory_template in TEMPLATES["llamafactory_0_9_5"]


@pytest.mark.parametrize("card", list(CATALOG.values()), ids=lambda c: c.id)
def test_params_match_shapes(card):
    derived = params_from_shapes(card) + VISION_TOWER_B.get(card.id, 0.0)
    assert card.params_b == pytest.approx(derived, rel=0.03)


def test_params_from_shapes_llama_8b_exact():
    # 8,030,261,248 parameters in meta-llama/Llama-3.1-8B's safetensors
    assert params_from_shapes(CATALOG["meta-llama/Llama-3.1-8B"]) * 1e9 == 8_030_261_248


@pytest.mark.parametrize(
    ("model", "dim_head", "explicit"),
    [
        ("meta-llama/Llama-3.1-8B", 128, None),  # hidden / heads
        ("Qwen/Qwen3-4B", 128, 128),  # 2560 / 32 would be 80
        ("google/gemma-2-9b", 256, 256),  # 3584 / 16 would be 224
        ("google/gemma-3-27b-pt", 128, 128),  # 5376 / 32 would be 168
        ("Qwen/Qwen2.5-7B", 128, None),
    ],
)
def test_head_dim(model, dim_head, explicit):
    card = CATALOG[model]
    assert card.dim_head == dim_head and card.head_dim == explicit


def test_moe_card():
    card = CATALOG["Qwen/Qwen3-30B-A3B"]
    assert (card.num_experts, card.experts_per_token, card.moe_intermediate) == (128, 8, 768)
    assert card.family == "qwen3" and card.model_type == "qwen3_moe"


def test_gated_and_remote_code():
    assert CATALOG["meta-llama/Llama-3.1-8B"].gated and CATALOG["google/gemma-3-1b-pt"].gated
    assert not CATALOG["Qwen/Qwen3-8B"].gated
    assert CATALOG["internlm/internlm3-8b-instruct"].trust_remote_code
    assert not any(c.trust_remote_code for i, c in CATALOG.items() if not i.startswith("internlm/"))


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-8B"),
        ("META-LLAMA/llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("llama-3.1-8b", "meta-llama/Llama-3.1-8B"),
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"),
        ("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B"),
        ("phi-4", "microsoft/phi-4"),
        ("olmo-2-7b", "allenai/OLMo-2-1124-7B"),
    ],
)
def test_lookup_catalog_id_or_alias(ref, expected, tmp_path):
    assert lookup_model(ref, tmp_path, "spec.yaml").id == expected


def test_every_alias_points_at_a_card():
    assert set(catalog_aliases().values()) == set(CATALOG)


def test_unknown_model_lists_close_names(tmp_path):
    with pytest.raises(FtgenError) as err:
        lookup_model("Qwen/Qwen2.5-8B-Instruct", tmp_path, "spec.yaml", "model.base")
    (problem,) = err.value.problems
    assert (problem.file, problem.key, problem.found) == ("spec.yaml", "model.base", "Qwen/Qwen2.5-8B-Instruct")
    # every place that was asked says why it did not answer
    assert problem.message.startswith("unknown model: not in the catalog; not in the Hugging Face cache (")
    assert problem.message.endswith("not asked: HF_HUB_OFFLINE=1 turns the hub off")
    assert problem.allowed.startswith("a catalog id (closest: ")
    assert "Qwen/Qwen2.5-7B-Instruct" in problem.allowed
    assert "a local directory with config.json" in problem.allowed


# ------------------------------------------------------------------ local config.json

TINY_LLAMA = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 1000,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}


def _model_dir(root: Path, name: str, config: dict | None, tokenizer: dict | None = None) -> Path:
    path = root / name
    path.mkdir(parents=True)
    if config is not None:
        (path / "config.json").write_text(json.dumps(config))
    if tokenizer is not None:
        (path / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return path


def test_local_llama_config(tmp_path):
    _model_dir(tmp_path, "models/tiny-llama", TINY_LLAMA)
    card = lookup_model("models/tiny-llama", tmp_path, "spec.yaml")
    assert card.source == "local" and card.id == "models/tiny-llama"
    assert card.local_dir == str((tmp_path / "models/tiny-llama").resolve())
    assert (card.family, card.model_type, card.layers, card.hidden, card.kv_heads) == ("llama", "llama", 2, 64, 2)
    # embed 64k + lm_head 64k + 2 layers x (q 4096 + k 2048 + v 2048 + o 4096, mlp 3 x 8192, norms 128) + final norm
    assert card.params_b * 1e9 == pytest.approx(64_000 * 2 + 2 * (12_288 + 24_576 + 128) + 64, abs=1)
    assert card.axolotl_chat_template == "chatml"  # no tokenizer template; not a Llama 3 vocab
    assert card.llamafactory_template == "default"
    assert card.kind == "base" and not card.trust_remote_code


def test_local_chat_template_and_llama3_vocab(tmp_path):
    config = {**TINY_LLAMA, "vocab_size": 128256, "auto_map": {"AutoModelForCausalLM": "m.M"}}
    path = _model_dir(tmp_path, "my-Instruct", config, {"chat_template": "{{ messages }}"})
    card = lookup_model(str(path), Path("/nonexistent"), "spec.yaml")  # absolute path ignores base_dir
    assert card.axolotl_chat_template == "tokenizer_default"
    assert card.llamafactory_template == "llama3"
    assert card.kind == "instruct" and card.trust_remote_code


# A local tokenizer's own template (Axolotl: tokenizer_default) decides LLaMA-Factory's template when it writes a
# format ftgen recognises: e.g. a Llama-3-vocabulary fine-tune that chats in ChatML (as Hermes 3 does).
TEMPLATE_CASES = [
    # (vocab, model_type, where the template is, its text, LLaMA-Factory template, noted)
    (128256, "llama", "tokenizer_config", "{{'<|im_start|>' + m['role'] + '\\n'}}", "chatml", True),
    (128256, "llama", "tokenizer_config", "{{'<|start_header_id|>' + m['role']}}", "llama3", False),
    (1000, "llama", "jinja", "<|start_header_id|>{{ m }}<|eot_id|>", "llama3", True),
    (1000, "llama", "chat_template_json", "[INST] {{ m }} [/INST]", "mistral", True),
    (1000, "llama", "named", "[INST] <<SYS>>{{ s }}<</SYS>> {{ m }} [/INST]", "llama2", True),
    (1000, "qwen2", "tokenizer_config", "<|im_start|>{{ m }}<|im_end|>", "qwen", False),
    (1000, "gemma2", "tokenizer_config", "<|user|>{{ m }}<|end|>\n<|assistant|>", "phi", True),
    (1000, "llama", "tokenizer_config", "User: {{ m }}\nAssistant:", "default", False),  # not recognised
]


@pytest.mark.parametrize(("vocab", "model_type", "where", "text", "lf", "noted"), TEMPLATE_CASES)
def test_local_tokenizer_template_decides_llamafactory_template(tmp_path, vocab, model_type, where, text, lf, noted):
    config = {**TINY_LLAMA, "vocab_size": vocab, "model_type": model_type}
    path = _model_dir(tmp_path, "m", config)
    if where == "jinja":
        (path / "chat_template.jinja").write_text(text)
    elif where == "chat_template_json":
        (path / "chat_template.json").write_text(json.dumps({"chat_template": text}))
    elif where == "named":
        named = [{"name": "default", "template": text}, {"name": "tool_use", "template": "{{ tools }}"}]
        (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": named}))
    else:
        (path / "tokenizer_config.json").write_text(json.dumps({"chat_template": text}))
    card = lookup_model(str(path), tmp_path, "spec.yaml")
    assert card.axolotl_chat_template == "tokenizer_default" and card.chat
    assert card.llamafactory_template == lf
    notes = [n for n in card.notes if "chat template" in n]
    assert bool(notes) == noted
    if noted:
        assert f"`{lf}`" in notes[0]


def test_local_tokenizer_without_template_keeps_the_family_pick(tmp_path):
    path = _model_dir(tmp_path, "m", {**TINY_LLAMA, "vocab_size": 128256}, {"bos_token": "<s>"})
    card = lookup_model(str(path), tmp_path, "spec.yaml")
    assert (card.axolotl_chat_template, card.llamafactory_template, card.notes) == ("llama3", "llama3", ())


def test_local_multimodal_text_config(tmp_path):
    text = {k: v for k, v in TINY_LLAMA.items() if k != "model_type"} | {"head_dim": 32, "model_type": "gemma3_text"}
    _model_dir(tmp_path, "g3", {"model_type": "gemma3", "text_config": text})
    card = lookup_model("g3", tmp_path, "spec.yaml")
    assert (card.model_type, card.family, card.head_dim, card.dim_head) == ("gemma3", "gemma3", 32, 32)
    assert card.llamafactory_template == "gemma3"


def test_local_moe_config(tmp_path):
    config = {
        **TINY_LLAMA,
        "model_type": "qwen3_moe",
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
    }
    card = lookup_model(str(_model_dir(tmp_path, "moe", config)), tmp_path, "spec.yaml")
    assert (card.num_experts, card.experts_per_token, card.moe_intermediate, card.family) == (4, 2, 32, "qwen3")


def test_local_directory_wins_over_catalog_id(tmp_path):
    _model_dir(tmp_path, "Qwen/Qwen3-8B", TINY_LLAMA)
    assert lookup_model("Qwen/Qwen3-8B", tmp_path, "spec.yaml").source == "local"


def test_local_directory_without_config(tmp_path):
    _model_dir(tmp_path, "empty", None)
    with pytest.raises(FtgenError) as err:
        lookup_model("empty", tmp_path, "spec.yaml", "model.base")
    (problem,) = err.value.problems
    assert problem.key == "model.base" and "no config.json" in problem.message and problem.found == "empty"


def test_local_config_missing_fields_lists_each(tmp_path):
    # a model type ftgen has no row for: no transformers defaults stand in for missing keys
    config = {k: v for k, v in TINY_LLAMA.items() if k not in ("hidden_size", "vocab_size")} | {"model_type": "x"}
    _model_dir(tmp_path, "partial", config)
    with pytest.raises(FtgenError) as err:
        lookup_model("partial", tmp_path, "spec.yaml", "model.base")
    problems = err.value.problems
    assert [p.key for p in problems] == ["model.base", "model.base"]
    assert [p.allowed.split(" or ")[0] for p in problems] == ["hidden_size", "vocab_size"]
    assert all("config.json: " in p.message and "a required field is missing" in p.message for p in problems)


def test_local_llama_config_missing_fields_take_transformers_defaults(tmp_path):
    # transformers' LlamaConfig fills what config.json leaves out; ftgen sizes the model it would load
    config = {k: v for k, v in TINY_LLAMA.items() if k not in ("intermediate_size", "vocab_size")}
    _model_dir(tmp_path, "partial", config)
    card = lookup_model("partial", tmp_path, "spec.yaml")
    assert (card.intermediate, card.vocab) == (11008, 32000)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_local_config_unreadable(tmp_path, text):
    path = _model_dir(tmp_path, "broken", None)
    (path / "config.json").write_text(text)
    with pytest.raises(FtgenError) as err:
        lookup_model("broken", tmp_path, "spec.yaml")
    assert err.value.problems[0].key == "base_model"


@pytest.mark.parametrize("ref", ["", "  ", None])
def test_empty_reference(tmp_path, ref):
    with pytest.raises(FtgenError) as err:
        lookup_model(ref, tmp_path, "spec.yaml")
    assert err.value.problems[0].message == "no model given"

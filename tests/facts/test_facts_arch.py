"""Tests for generator.facts._arch: real configs of each architecture against published sizes; refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.facts._arch import ARCHS, CONFIG_KEYS, DEFAULTS, SUPPORTED, ArchError, lock_subset, parse
from generator.facts.models import params_from_shapes

DATA = yaml.safe_load((Path(__file__).parent / "data" / "published_models.yaml").read_text())
MODELS = DATA["models"]
TOL = DATA["tolerance"]
TEMPLATES = yaml.safe_load((Path(__file__).parent / "data" / "framework_templates.yaml").read_text())


def test_every_architecture_of_the_issue_is_covered_by_a_published_model():
    wanted = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2"}
    wanted |= {"gemma3", "phi", "phi3", "olmo2", "falcon", "gpt_neox"}
    assert {m["config"]["model_type"] for m in MODELS.values()} == wanted
    assert wanted <= set(SUPPORTED)


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.split("/")[-1])
def test_parameter_count_matches_the_published_size(model):
    row = MODELS[model]
    parsed = parse(row["config"])
    assert parsed.params == pytest.approx(row["published"], rel=TOL), (
        f"{model}: ftgen counts {parsed.params / 1e9:.3f}B, {row['published_source']} says "
        f"{row['published'] / 1e9:.3f}B"
    )


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.split("/")[-1])
def test_family_targets_and_templates(model):
    row = MODELS[model]
    parsed = parse(row["config"])
    assert parsed.family == row["family"]
    assert list(parsed.lora_targets) == row["targets"]
    from generator.facts._arch import templates

    ax, lf = templates(parsed.model_type, parsed.dims.vocab, model)
    assert [ax, lf] == row["templates"]
    assert ax in TEMPLATES["axolotl_0_19_0"] and lf in TEMPLATES["llamafactory_0_9_5"]
    assert parsed.notes == ()


@pytest.mark.parametrize(
    ("model", "exact"),
    [  # counts derivable by hand from the module printouts named in the data file
        ("meta-llama/Llama-2-7b-hf", 6_738_415_616),
        ("tiiuae/falcon-7b", 6_921_720_704),
        ("EleutherAI/pythia-6.9b", 6_857_302_016),
        ("microsoft/phi-2", 2_779_683_840),
        ("google/gemma-3-4b-it", 4_300_079_472),
    ],
)
def test_exact_counts(model, exact):
    assert parse(MODELS[model]["config"]).params == exact


def test_shapes_of_the_special_architectures():
    falcon = parse(MODELS["tiiuae/falcon-7b"]["config"])
    assert (falcon.dims.kv_heads, falcon.dims.intermediate, falcon.mlp_gated) == (1, 4 * 4544, False)  # MQA
    assert falcon.dims.tie and not parse(MODELS["EleutherAI/pythia-6.9b"]["config"]).dims.tie
    phi = parse(MODELS["microsoft/phi-2"]["config"])
    assert not phi.mlp_gated and phi.dims.kv_heads == 32
    gemma3 = parse(MODELS["google/gemma-3-4b-it"]["config"])
    # the text model of the image-text checkpoint, its omitted keys from Gemma3TextConfig; the tower counted apart
    assert (gemma3.dims.heads, gemma3.dims.kv_heads, gemma3.dims.head_dim, gemma3.dims.vocab) == (8, 4, 256, 262208)
    assert gemma3.vision_params == pytest.approx(MODELS["google/gemma-3-4b-it"]["vision"], rel=0.02)
    moe = parse(MODELS["Qwen/Qwen1.5-MoE-A2.7B"]["config"])
    assert (moe.dims.experts, moe.dims.top_k, moe.dims.moe_intermediate, moe.dims.shared_intermediate) == (
        60,
        4,
        1408,
        5632,
    )
    mixtral = parse(MODELS["mistralai/Mixtral-8x7B-v0.1"]["config"])
    assert (mixtral.dims.experts, mixtral.dims.moe_intermediate) == (8, 14336)  # experts as wide as intermediate


def test_falcon_new_decoder_architecture_has_kv_groups_and_two_norms():
    config = {
        "model_type": "falcon",
        "hidden_size": 8192,
        "num_attention_heads": 128,
        "num_hidden_layers": 60,
        "num_kv_heads": 8,
        "new_decoder_architecture": True,
        "vocab_size": 65024,
    }
    parsed = parse(config)
    assert parsed.dims.kv_heads == 8
    per_layer = 8192 * (8192 + 2 * 8 * 64) + 8192 * 8192 + 2 * 8192 * 32768 + 2 * 2 * 8192
    assert parsed.params == 65024 * 8192 + 60 * per_layer + 2 * 8192  # tied embeddings, ln_f with bias


def test_moe_dense_layers_are_counted_as_dense():
    base = dict(MODELS["Qwen/Qwen3-30B-A3B"]["config"])
    every = parse(base).params
    some_dense = parse({**base, "mlp_only_layers": [0, 1]}).params
    moe_mlp = 128 * 3 * 2048 * 768 + 2048 * 128
    dense_mlp = 3 * 2048 * 6144
    assert every - some_dense == 2 * (moe_mlp - dense_mlp)


@pytest.mark.parametrize("model", list(DATA["refused"]), ids=lambda m: m.split("/")[-1])
def test_refused_with_the_reason(model):
    row = DATA["refused"][model]
    with pytest.raises(ArchError) as err:
        parse(row["config"])
    assert row["reason"] in str(err.value)
    assert err.value.allowed and "llama" in err.value.allowed


def test_unknown_causal_model_type_is_sized_as_llama_with_a_note():
    config = {
        "model_type": "starcoder2x",
        "architectures": ["Starcoder2xForCausalLM"],
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 100,
        "max_position_embeddings": 512,
    }
    parsed = parse(config)
    assert parsed.family == "starcoder2x" and parsed.notes and "Llama-style" in parsed.notes[0]
    assert parsed.params == 100 * 64 * 2 + 2 * (4 * 64 * 64 + 3 * 64 * 128 + 2 * 64) + 64


@pytest.mark.parametrize(
    ("config", "key", "message"),
    [
        ({"model_type": "llama", "hidden_size": "4096"}, "hidden_size", "positive whole number"),
        ({"model_type": "llama", "num_key_value_heads": 5}, "num_key_value_heads", "multiple of key/value heads"),
        ({"model_type": "llama", "tie_word_embeddings": "no"}, "tie_word_embeddings", "true or false"),
        ({"model_type": "gemma3", "text_config": {"hidden_size": 0}}, "text_config.hidden_size", "positive"),
        ({"hidden_size": 8}, "model_type", "no model_type"),
    ],
)
def test_bad_values_name_the_key(config, key, message):
    with pytest.raises(ArchError) as err:
        parse(config)
    assert err.value.key == key and message in str(err.value)


def test_defaults_rows_are_for_known_types_and_read_keys_are_kept_by_the_lock():
    assert set(ARCHS) <= set(DEFAULTS) | {"mistral"}
    for defaults in DEFAULTS.values():
        assert set(defaults) <= CONFIG_KEYS
    config = {**MODELS["google/gemma-3-4b-it"]["config"], "auto_map": {"AutoModel": "x.Y"}, "torch_dtype": "bf16"}
    kept = lock_subset(config)
    assert "torch_dtype" not in kept and "mm_tokens_per_image" not in kept and kept["auto_map"] == {}
    assert kept["text_config"] == {k: v for k, v in config["text_config"].items() if k != "sliding_window"}
    assert parse(kept).params == parse(config).params  # a lock keeps every fact the count reads


def test_catalog_count_uses_the_same_layouts():
    from generator.facts.models import load_catalog

    qwen = load_catalog()["Qwen/Qwen2.5-7B"]
    assert params_from_shapes(qwen) * 1e9 == parse(MODELS["Qwen/Qwen2.5-7B"]["config"]).params


def test_the_vision_tower_is_in_the_card_and_in_memory(tmp_path):
    import json

    from generator.facts.models import lookup_model
    from generator.memory import TrainSetup, estimate, total_params

    folder = tmp_path / "gemma-3-4b-it"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(MODELS["google/gemma-3-4b-it"]["config"]))
    card = lookup_model(str(folder), tmp_path, "spec.yaml")
    assert card.params_b == pytest.approx(4.30, rel=0.001) and card.vision_params_b == pytest.approx(0.42, rel=0.02)
    assert total_params(card) == pytest.approx(4.30e9, rel=0.001)  # memory counts the tower with the weights
    text_only = card.__class__(**{**card.__dict__, "params_b": card.params_b - card.vision_params_b})
    setup = TrainSetup(method="lora", micro_batch_size=1, sequence_len=512)
    weights = estimate(card, setup).components["weights"] - estimate(text_only, setup).components["weights"]
    assert weights == pytest.approx(card.vision_params_b * 1e9 * 2 / 2**30, rel=0.01)  # bf16 tower


def test_recognised_tokenizer_formats_name_llamafactory_templates():
    """Every template a local tokenizer's format maps to, and every family pick it is checked against, is one
    LLaMA-Factory 0.9.5 registers; each recognised format writes its own marks (data/template.py format_user)."""
    from generator.facts._arch import _LF_TURN_MARK, _RECOGNISED

    registered = set(TEMPLATES["llamafactory_0_9_5"])
    assert set(_LF_TURN_MARK) <= registered
    for marks, name in _RECOGNISED:
        assert name in registered
        assert _LF_TURN_MARK[name] in marks

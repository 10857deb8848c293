"""Specs typed the way people type them: enum values in other cases and separators, GPU counts in the GPU name,
and the keys people reach for by another name (generator/spec.py canonical_spellings, KEY_HINTS)."""

from __future__ import annotations

import pytest

from generator import spec as spec_mod
from generator.errors import FtgenError

BASE = {
    "name": "typed",
    "base_model": "Qwen/Qwen2.5-1.5B-Instruct",
    "data": {"train": [{"path": "org/ds", "format": "alpaca"}], "examples": 5000},
    "hardware": {"gpu": "A100-80GB"},
}


def _spec(**changes):
    data = {**BASE, **changes}
    return spec_mod.from_dict(data, "s.yaml")


@pytest.mark.parametrize(
    "key,typed,canonical",
    [
        ("framework", "LLaMA-Factory", "llamafactory"),
        ("framework", "llama_factory", "llamafactory"),
        ("framework", "LlamaFactory", "llamafactory"),
        ("framework", "Axolotl", "axolotl"),
        ("framework", "Both", "both"),
        ("method", "QLoRA", "qlora"),
        ("method", "LoRA", "lora"),
        ("method", "Full", "full"),
        ("task", "SFT", "sft"),
    ],
)
def test_enum_values_in_other_spellings_are_read_as_the_schema_spells_them(key, typed, canonical):
    assert getattr(_spec(**{key: typed}), key) == canonical


def test_task_spellings():
    preference = {"train": [{"path": "org/ds", "format": "Preference"}], "examples": 5000}
    assert _spec(task="DPO", data=preference).task == "dpo"
    text = {"train": [{"path": "org/ds", "format": "TEXT"}], "examples": 5000}
    assert _spec(task="Pre-Train", data=text).task == "pretrain"


def test_nested_enum_values_too():
    s = _spec(
        data={"train": [{"path": "org/ds", "format": "ShareGPT"}], "examples": 5000, "distribution_shift": "High"}
    )
    assert s.data.train[0].format == "sharegpt" and s.data.distribution_shift == "high"
    s = _spec(overrides={"optimizer": "AdamW-Torch", "precision": "BF16"})
    assert s.overrides == {"optimizer": "adamw_torch", "precision": "bf16"}


def test_a_value_that_folds_to_nothing_is_still_refused_with_the_choices():
    with pytest.raises(FtgenError) as e:
        _spec(method="qlora4")
    (p,) = e.value.problems
    assert p.key == "method" and p.found == "qlora4" and "qlora" in p.allowed


def test_the_input_mapping_is_not_changed():
    data = {**BASE, "method": "QLoRA"}
    spec_mod.from_dict(data, "s.yaml")
    assert data["method"] == "QLoRA"


@pytest.mark.parametrize(
    "gpu,name,count",
    [
        ("4x A100 80GB", "A100 80GB", 4),
        ("8 x NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", 8),
        ("2X RTX 4090", "RTX 4090", 2),
        ("2×L40S", "L40S", 2),
    ],
)
def test_a_gpu_count_in_the_gpu_name_is_gpus_per_node(gpu, name, count):
    s = _spec(hardware={"gpu": gpu})
    assert (s.hardware.gpu, s.hardware.gpus_per_node) == (name, count)
    assert _spec(hardware={"gpu": gpu, "gpus_per_node": count}).hardware.gpus_per_node == count


def test_a_gpu_count_that_disagrees_with_gpus_per_node_is_an_error():
    with pytest.raises(FtgenError) as e:
        _spec(hardware={"gpu": "2x A100 80GB", "gpus_per_node": 4})
    (p,) = e.value.problems
    assert p.key == "hardware.gpu" and "says 2 GPUs" in p.message and "says 4" in p.message


@pytest.mark.parametrize(
    "where,key,meant",
    [
        ("hardware", "gpus", "hardware.gpus_per_node"),
        ("hardware", "count", "hardware.gpus_per_node"),
        ("hardware", "num_gpus", "hardware.gpus_per_node"),
        ("hardware", "num_nodes", "hardware.nodes"),
        ("hardware", "vram", "hardware.vram_gb"),
        ("", "model", "base_model"),
        ("", "dataset", "data"),
    ],
)
def test_keys_people_reach_for_name_the_key_they_mean(where, key, meant):
    data = {**BASE, "hardware": dict(BASE["hardware"])}
    (data["hardware"] if where else data)[key] = 8
    with pytest.raises(FtgenError) as e:
        spec_mod.from_dict(data, "s.yaml")
    p = next(p for p in e.value.problems if p.key == (f"{where}.{key}" if where else key))
    assert p.message == "unknown key" and p.allowed == f"did you mean {meant}?"

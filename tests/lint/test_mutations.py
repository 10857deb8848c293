"""Every corpus config, mutated four ways (typo key, wrong type, bad enum, renamed key), is caught at the right key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from _lintdata import corpus_files, needs_corpus

from generator._yaml import load_file
from generator.lint import lint_file
from generator.lint._detect import detect
from generator.lint._versions import file_format
from generator.validate import load_schema

pytestmark = needs_corpus

INT_KEYS = {
    "axolotl": ("micro_batch_size", "gradient_accumulation_steps", "sequence_len", "lora_r", "logging_steps"),
    "llamafactory": (
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "cutoff_len",
        "lora_rank",
        "logging_steps",
    ),
}
ENUM_KEY = {"axolotl": "lr_scheduler", "llamafactory": "lr_scheduler_type"}
# key -> (its predecessor, what lint must name as the replacement)
RENAMES = {
    "axolotl": [
        ("eval_strategy", "evaluation_strategy"),
        ("rl_beta", "dpo_beta"),
        ("neftune_noise_alpha", "noisy_embedding_alpha"),
        ("dataset_num_proc", "dataset_processes"),
        ("context_parallel_size", "sequence_parallel_degree"),
    ],
    "llamafactory": [],
}


def _configs() -> list[tuple[str, Path]]:
    out = []
    for fw, path in corpus_files():
        cfg = load_file(path).data
        if isinstance(cfg, dict) and detect(cfg)[0] == fw and not file_format(fw, cfg):
            out.append((fw, path))
    return out


CONFIGS = _configs()


def _typo(key: str) -> str:
    """learning_rate -> laerning_rate (two letters swapped)."""
    i = 1 if key[1] != key[2] else 2
    return key[:i] + key[i + 1] + key[i] + key[i + 2 :]


def _write(tmp_path: Path, cfg: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def _find(path: Path, key: str, rules: tuple[str, ...]):
    result = lint_file(path)
    hits = [f for f in result.findings if f.key == key and f.rule in rules]
    assert hits, f"{key} not reported as {rules} in {path.name}: {[f.render() for f in result.findings]}"
    line = load_file(path).line_of(key)
    assert hits[0].line == line, f"{key}: line {hits[0].line}, expected {line}"
    return hits[0]


def test_every_corpus_config_is_mutated():
    assert len(CONFIGS) >= 220


@pytest.mark.parametrize("fw,path", CONFIGS, ids=lambda x: x if isinstance(x, str) else x.name)
def test_mutations_are_caught_at_their_key_path(fw, path, tmp_path):
    cfg = load_file(path).data
    props = set(load_schema(fw)["properties"])

    # 1. a misspelt key (the first known key long enough to misspell)
    key = next(k for k in cfg if isinstance(k, str) and k in props and len(k) >= 6 and _typo(k) not in props)
    typo = copy.deepcopy(cfg)
    typo = {(_typo(k) if k == key else k): v for k, v in typo.items()}
    f = _find(_write(tmp_path, typo, "typo.yaml"), _typo(key), ("FTL001", "FTL005"))
    assert f.severity == "error" and f.rule == "FTL001"

    # 2. a value of the wrong type on an integer key (one the config has, else a new one)
    int_key = next((k for k in INT_KEYS[fw] if k in cfg), INT_KEYS[fw][0])
    wrong = copy.deepcopy(cfg)
    wrong[int_key] = "two"
    f = _find(_write(tmp_path, wrong, "type.yaml"), int_key, ("FTL002",))
    assert f.severity == "error" and f.found == "two"

    # 3. a choice that does not exist; the finding lists what does
    enum = copy.deepcopy(cfg)
    enum[ENUM_KEY[fw]] = "cosin"
    f = _find(_write(tmp_path, enum, "enum.yaml"), ENUM_KEY[fw], ("FTL003",))
    assert f.severity == "error" and "cosine" in (f.allowed or "")

    # 4. a renamed key: the config's own key under its old name, else an old name added
    old = copy.deepcopy(cfg)
    if fw == "axolotl":
        new, prev = next(((n, p) for n, p in RENAMES[fw] if n in cfg), ("dataset_num_proc", "dataset_processes"))
        value = old.pop(new, 4)
        old[prev] = value if value is not None else 4
        f = _find(_write(tmp_path, old, "renamed.yaml"), prev, ("FTL004",))
        assert f.severity == "warning" and new in (f.allowed or "") + f.message
    else:
        old["fsdp_transformer_layer_cls_to_wrap"] = "LlamaDecoderLayer"
        f = _find(_write(tmp_path, old, "renamed.yaml"), "fsdp_transformer_layer_cls_to_wrap", ("FTL004",))
        assert f.severity == "error" and "fsdp_config" in (f.allowed or "")

    # 5. a misspelt key inside the first dataset entry (Axolotl's nested key paths)
    if (
        fw == "axolotl"
        and isinstance(cfg.get("datasets"), list)
        and cfg["datasets"]
        and isinstance(cfg["datasets"][0], dict)
        and "path" in cfg["datasets"][0]
    ):
        nested = copy.deepcopy(cfg)
        entry = nested["datasets"][0]
        nested["datasets"][0] = {("pathh" if k == "path" else k): v for k, v in entry.items()}
        f = _find(_write(tmp_path, nested, "nested.yaml"), "datasets[0].pathh", ("FTL001",))
        assert f.severity == "error"


@pytest.mark.parametrize("fw", ["axolotl", "llamafactory"])
def test_an_older_versions_key_is_named_with_its_version(fw, tmp_path):
    base = {
        "axolotl": {
            "base_model": "m",
            "datasets": [{"path": "d", "type": "alpaca"}],
            "learning_rate": 1e-4,
            "micro_batch_size": 1,
            "relora_steps": 100,
        },
        "llamafactory": {"model_name_or_path": "m", "stage": "sft", "visual_inputs": True},
    }[fw]
    key = "relora_steps" if fw == "axolotl" else "visual_inputs"
    f = _find(_write(tmp_path, base, "old.yaml"), key, ("FTL005",))
    version = "Axolotl 0.10.0" if fw == "axolotl" else "LLaMA-Factory 0.8.3"
    assert f"belongs to {version}" in f.message
    assert ("not Axolotl 0.19.0" if fw == "axolotl" else "not LLaMA-Factory 0.9.5") in f.message

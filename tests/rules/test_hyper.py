"""Hyperparameter rules a fine-tuning expert signs: adapter learning rates for preference stages, an exact global
batch, GRPO counted as TRL counts it with generation in the time, Liger by GPU and plan, honest checkpoint
wording, integer warmup for LLaMA-Factory (issue 17, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator import rules
from generator.build import build_file

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "tests" / "cases" / "good"
SPECS = sorted(GOOD.glob("*.yaml")) + sorted((REPO / "examples").glob("*.yaml"))


def _plan(spec: Path, tmp_path: Path):
    return build_file(spec, tmp_path)


@pytest.mark.parametrize(
    ("spec", "lr", "source"),
    [
        ("orpo-llamafactory.yaml", 5e-5, "adapter rate for ORPO"),
        ("dpo-llamafactory-lora.yaml", 5e-6, "adapter rate for DPO/KTO"),
        ("grpo-axolotl.yaml", 1e-5, "adapter rate for GRPO"),
    ],
)
def test_preference_and_rl_adapters_get_an_adapter_rate(spec, lr, source, tmp_path):
    b = _plan(GOOD / spec, tmp_path)
    d = b.plan.decision("learning_rate")
    assert d.value == pytest.approx(lr) and source in d.because


def test_learning_rate_doc_names_where_the_frameworks_disagree():
    doc = rules.get("FT142").doc
    for fact in ("Axolotl", "LLaMA-Factory", "1e-4-2e-4", "5e-6", "llama-3_instruct-dpo-lora-8b.yml"):
        assert fact in doc


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_micro_batch_times_gpus_times_accumulation_is_the_global_batch(spec, tmp_path):
    b = _plan(spec, tmp_path)
    v = b.plan.values()
    world = b.plan.facts["gpu"]["count"]
    product = v["micro_batch_size"] * world * v["gradient_accumulation_steps"]
    mismatch = [f for f in b.plan.findings if f.rule == "FT145" and "not the global batch" in f.message]
    assert product == v["global_batch_size"] or mismatch, f"{product} != {v['global_batch_size']} and no finding"


@pytest.mark.parametrize(("name", "batch"), [("legal-qa", 16), ("code-assistant", 32)])
def test_examples_that_overshot_the_global_batch_now_hit_it(name, batch, tmp_path):
    v = _plan(REPO / "examples" / f"{name}.yaml", tmp_path).plan.values()
    assert v["global_batch_size"] == batch
    world = 2 if name == "code-assistant" else 1
    assert v["micro_batch_size"] * world * v["gradient_accumulation_steps"] == batch


def test_a_spec_micro_batch_that_does_not_divide_says_so(tmp_path):
    spec = tmp_path / "s.yaml"
    text = (GOOD / "qlora-5k-axolotl.yaml").read_text()
    data = yaml.safe_load(text)
    data.setdefault("overrides", {})["micro_batch_size"] = 5
    spec.write_text(yaml.safe_dump(data))
    for f in (GOOD / "qlora-5k-axolotl.yaml").parent.glob("*.jsonl"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    b = build_file(spec, tmp_path / "out")
    found = [f for f in b.plan.findings if f.rule == "FT145" and "not the global batch" in f.message]
    assert found and "20" in found[0].message and "micro_batch_size" in found[0].message


def test_grpo_counts_completions_and_times_generation(tmp_path):
    b = _plan(REPO / "examples" / "math-grpo.yaml", tmp_path)
    v = b.plan.values()
    gens = 8
    assert v["global_batch_size"] % gens == 0
    train_prompts = round(7500 * (1 - v["val_set_size"]))
    assert v["total_steps"] >= train_prompts * gens * v["num_epochs"] // v["global_batch_size"]
    assert b.plan.decision("use_vllm").rule == "FT176" and v["use_vllm"] is False
    tc = b.plan.time_cost
    assert any("GRPO generation" in a for a in tc.assumptions)
    assert tc.hours > 10  # 7,126 steps x 512 decode steps: far more than the 0.2 h of training alone
    assert b.plan.decision("tree_branch").value == "RL (GRPO)"
    assert "full fine-tune" in b.plan.decision("tree_branch").because
    assert v["method"] == "lora"


@pytest.mark.parametrize(
    ("spec", "on"),
    [
        (REPO / "examples" / "legal-qa.yaml", True),
        (REPO / "examples" / "tiny-cpu.yaml", False),
        (REPO / "examples" / "math-grpo.yaml", False),
        (REPO / "examples" / "support-dpo.yaml", False),
        (GOOD / "t4-fp16-sdpa.yaml", False),
    ],
    ids=lambda p: getattr(p, "stem", str(p)),
)
def test_fused_cross_entropy_follows_gpu_task_and_logits(spec, on, tmp_path):
    b = _plan(spec, tmp_path)
    d = b.plan.decision("liger_kernel")
    assert d.value is on and d.rule == "FT177"
    if on:
        assert "logits are" in d.because


def test_checkpoint_wording_does_not_claim_the_best_is_kept(tmp_path):
    b = _plan(REPO / "examples" / "legal-qa.yaml", tmp_path)
    for key in ("save_steps", "save_total_limit"):
        assert "best checkpoint is kept" not in b.plan.decision(key).because
    assert "load_best_model_at_end is off" in b.plan.decision("save_total_limit").because


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_llamafactory_warmup_is_a_whole_number_of_steps(spec, tmp_path):
    b = _plan(spec, tmp_path)
    if "llamafactory.yaml" not in b.files:
        pytest.skip("no LLaMA-Factory config")
    cfg = yaml.safe_load(b.files["llamafactory.yaml"])
    assert isinstance(cfg["warmup_steps"], int) and cfg["warmup_steps"] >= 1
    if "axolotl.yaml" in b.files:
        ax = yaml.safe_load(b.files["axolotl.yaml"])
        assert "warmup_steps" not in ax and ax["warmup_ratio"] == 0.03


def test_framework_overrides_that_own_the_plugins_keep_liger_off(tmp_path):
    spec = tmp_path / "s.yaml"
    data = yaml.safe_load((REPO / "examples" / "legal-qa.yaml").read_text())
    data["framework_overrides"] = {"axolotl": {"plugins": ["axolotl.integrations.kd.KDPlugin"]}}
    data["allow_imports"] = []
    spec.write_text(yaml.safe_dump(data))
    d = build_file(spec, tmp_path / "out").plan.decision("liger_kernel")
    assert d.value is False and "framework_overrides" in d.because

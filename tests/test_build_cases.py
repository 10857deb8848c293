"""Data-driven build cases: each spec in tests/cases/good compiles to exactly the files in expected/<name>/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.build import build_file
from generator.check import compare

CASES_DIR = Path(__file__).parent / "cases" / "good"
CASES = sorted(CASES_DIR.glob("*.yaml"))
EXPECTED = CASES_DIR / "expected"


def test_matrix_has_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("spec", CASES, ids=lambda p: p.stem)
def test_case_matches_expected_files(spec):
    b = build_file(spec, EXPECTED)
    drift = compare(b)
    assert drift.clean, (
        f"{spec.name} differs from its expected files "
        f"(run `python scripts/regen_cases.py` if intended):\n{drift.diff[:4000]}"
    )
    folder = EXPECTED / b.spec.name
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(b.files), "expected/ holds files the build no longer writes"


def _plan(name: str) -> dict:
    return json.loads((EXPECTED / name / "plan.json").read_text())


def _decision(plan: dict, key: str) -> dict:
    return next(d for d in plan["decisions"] if d["key"] == key)


def test_matrix_covers_methods_tasks_frameworks_and_hardware():
    plans = [_plan(p.stem) for p in CASES]
    assert {p["method"] for p in plans} == {"qlora", "lora", "full"}
    assert {p["task"] for p in plans} == {"sft", "dpo", "kto", "orpo", "pretrain", "grpo"}
    assert {fw for p in plans for fw in p["framework"]} == {"axolotl", "llamafactory"}
    assert {_decision(p, "distributed")["value"] for p in plans} >= {"single", "ddp", "zero3", "fsdp"}
    assert {_decision(p, "precision")["value"] for p in plans} == {"bf16", "fp16", "fp32"}


@pytest.mark.parametrize(
    "case,method,rule",
    [
        ("qlora-5k-axolotl", "qlora", "FT102"),  # 1K-10K -> QLoRA
        ("qlora-40k-unique-domain", "qlora", "FT102"),  # 10K-100K -> QLoRA (+ multi-turn note)
        ("lora-150k-low-shift", "lora", "FT102"),  # 100K+ -> LoRA
        ("full-high-shift-1xh200", "full", "FT102"),  # 100K+ high shift, fits -> full
        ("high-shift-cost-priority", "lora", "FT102"),  # ... but priority cost -> LoRA
        ("downgrade-70b-to-qlora", "qlora", "FT130"),  # does not fit -> downgraded with numbers
        ("many-adapters-qlora-to-lora", "lora", "FT103"),  # many adapters -> LoRA
    ],
)
def test_decision_tree_branches(case, method, rule):
    plan = _plan(case)
    d = _decision(plan, "method")
    assert (plan["method"], d["rule"]) == (method, rule), d


def test_multi_turn_note_for_unique_domain():
    plan = _plan("qlora-40k-unique-domain")
    assert any(w["rule"] == "FT102" and "multi-turn" in w["message"] for w in plan["warnings"])


def test_preference_and_rl_stages_pick_their_framework():
    assert _plan("dpo-llamafactory-lora")["framework"] == ["llamafactory"]
    assert _plan("grpo-axolotl")["framework"] == ["axolotl"]


def test_spec_overrides_are_decisions_whose_source_is_the_spec():
    plan = _plan("spec-overrides")
    lr = _decision(plan, "learning_rate")
    assert lr["value"] == 1.0e-4 and lr["source"] == "spec" and "FT142 would choose" in lr["because"]


def test_no_eval_set_warns_with_the_seed_reason():
    plan = _plan("qlora-5k-axolotl")
    assert any(w["rule"] == "FT170" and "build an eval set first" in w["message"] for w in plan["warnings"])
    assert not any(w["rule"] == "FT170" for w in _plan("forced-few-examples")["warnings"])


def test_budget_downgrades_a_rule_chosen_full_fine_tune():
    d = _decision(_plan("budget-downgrade-full-to-lora"), "method")
    assert (d["value"], d["rule"]) == ("lora", "FT160") and "max_usd 45" in d["because"]


def test_sharding_when_weights_do_not_fit_one_gpu():
    plan = _plan("zero3-full-70b-4-nodes")
    assert plan["method"] == "full" and _decision(plan, "distributed")["value"] == "zero3"
    assert (EXPECTED / "zero3-full-70b-4-nodes" / "deepspeed_zero3.json").is_file()

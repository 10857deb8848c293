"""Sweeps: each spec in tests/cases/sweep compiles to exactly its expected sweep.json, one complete build per trial,
trials dropped with their reason (memory, budget), and `check` sees drift in a trial or in sweep.json.

FTGEN_UPDATE_EXPECTED=1 rewrites tests/cases/sweep/expected/<name>.sweep.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from generator import sweep
from generator.build import build_file, write_build
from generator.check import compare
from generator.spec import SweepSpec

CASES_DIR = Path(__file__).parent / "cases" / "sweep"
CASES = sorted(CASES_DIR.glob("*.yaml"))
EXPECTED = CASES_DIR / "expected"
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"


@pytest.mark.parametrize("spec", CASES, ids=lambda p: p.stem)
def test_sweep_json_matches_expected(spec, tmp_path):
    b = build_file(spec, tmp_path)
    text = b.files[sweep.SWEEP_FILE]
    expected = EXPECTED / f"{spec.stem}.sweep.json"
    if UPDATE:
        expected.parent.mkdir(exist_ok=True)
        expected.write_text(text)
    assert text == expected.read_text(), f"{spec.name}: sweep.json differs (FTGEN_UPDATE_EXPECTED=1 if intended)"
    data = json.loads(text)
    for t in data["trials"]:  # every kept trial is a complete build: its config, plan, launch files
        names = {n.split("/", 2)[2] for n in b.files if n.startswith(f"{t['dir']}/")}
        assert {"plan.json", "PLAN.md", "launch.sh", "slurm.sbatch"} <= names
        sbatch = b.files[f"{t['dir']}/slurm.sbatch"]
        assert f"cd outputs/{data['name']}/trials/{t['id']} && sbatch" in sbatch  # where it is, not <name>-<id>
        plan = json.loads(b.files[f"{t['dir']}/plan.json"])
        for key, value in t["parameters"].items():
            decision = next(d for d in plan["decisions"] if d["key"] == key.split(".", 1)[1])
            assert decision["value"] == value
    for d in data["dropped"]:
        assert not any(n.startswith(f"trials/{d['id']}/") for n in b.files)


def test_memory_and_budget_drop_trials_with_the_reason(tmp_path):
    mem = json.loads(build_file(CASES_DIR / "memory-drop.yaml", tmp_path).files["sweep.json"])
    assert [d["id"] for d in mem["dropped"]] == ["t01-mbs64"]
    assert "GB per GPU" in mem["dropped"][0]["reason"]
    cap = json.loads(build_file(CASES_DIR / "budget-cap.yaml", tmp_path).files["sweep.json"])
    assert [d["id"] for d in cap["dropped"]] == ["t02-ep3"]
    assert "budget.max_usd 15" in cap["dropped"][0]["reason"]
    assert cap["total"]["usd"] <= 15


def test_check_sees_drift_in_a_trial_and_in_sweep_json(tmp_path):
    b = build_file(CASES_DIR / "grid-lr-rank.yaml", tmp_path)
    write_build(b)
    assert compare(b).clean
    trial = b.out_path / "trials" / "t00-lr1e-4-r8" / "llamafactory.yaml"
    trial.write_text(trial.read_text().replace("lora_rank: 8", "lora_rank: 9"))
    (b.out_path / "sweep.json").write_text("{}\n")
    changed = compare(b).changed
    assert "trials/t00-lr1e-4-r8/llamafactory.yaml" in changed and "sweep.json" in changed


def test_a_trial_no_longer_in_the_sweep_is_removed(tmp_path):
    spec = tmp_path / "s.yaml"
    text = (CASES_DIR / "grid-lr-rank.yaml").read_text().replace("../", str(CASES_DIR.parent) + "/")
    spec.write_text(text)
    write_build(build_file(spec, tmp_path / "out"))
    spec.write_text(text.replace("[8, 16]", "[8]"))
    _, removed = write_build(build_file(spec, tmp_path / "out"))
    assert any("t01-lr1e-4-r16" in str(r) for r in removed)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-4, "1e-4"),
        (2.5e-4, "2p5e-4"),
        (0.05, "0p05"),
        (16, "16"),
        (True, "on"),
        (["q_proj", "v_proj"], "q-proj-v-proj"),
    ],
)
def test_trial_ids_are_short_and_safe(value, text):
    assert sweep._value_text(value) == text


def test_random_draws_are_seeded():
    sw = SweepSpec(
        (("overrides.lora_r", (4, 8, 16, 32)), ("overrides.lora_alpha", (8, 16, 32))), "eval_loss", "random", 5
    )
    first = [t.id for t in sweep.trials(sw, 1)]
    assert first == [t.id for t in sweep.trials(sw, 1)] and len(first) == 5
    assert first != [t.id for t in sweep.trials(sw, 2)]


def test_estimate_prints_the_sweep(cli):
    spec = str(CASES_DIR / "budget-cap.yaml")
    text = cli("estimate", spec)
    assert text.exit_code == 0, text.output
    assert "sweep grid over overrides.num_epochs: 2 trial(s)" in text.output and "dropped t02-ep3" in text.output
    data = json.loads(cli("estimate", spec, "--json").output)
    assert data["sweep"]["total"]["trials"] == 2

"""Every shipped example spec builds, validates against the vendored schemas, and matches its committed outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.build import build_file
from generator.check import compare

REPO = Path(__file__).resolve().parents[1]

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def test_at_least_six_examples():
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_example_builds_and_committed_outputs_are_current(spec):
    b = build_file(spec, REPO / "outputs")
    drift = compare(b)
    assert drift.clean, (
        f"outputs/{b.spec.name} is stale (run `ftgen build {spec.relative_to(REPO)}`):\n{drift.diff[:3000]}"
    )


def test_examples_cover_every_branch_and_both_frameworks():
    plans = [build_file(s, REPO / "outputs").plan for s in EXAMPLES]
    assert {p.method for p in plans} == {"qlora", "lora", "full"}
    assert {"sft", "dpo", "grpo"} <= {p.task for p in plans}
    assert {fw for p in plans for fw in p.frameworks} == {"axolotl", "llamafactory"}
    local = [s for s in EXAMPLES if build_file(s, REPO / "outputs").facts.data.measured]
    assert local, "at least one example trains on local data files that ship with the repo"

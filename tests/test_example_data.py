"""The example data is what it claims: written by scripts/make_example_data.py (deterministic), every row unique,
no eval prompt in the training data, and the example plans count unique examples (issue 17, item 3)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from generator.build import build_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "data"


def _script():
    spec = importlib.util.spec_from_file_location("make_example_data", REPO / "scripts" / "make_example_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def test_committed_data_is_what_the_script_writes():
    mod = _script()
    assert mod.main(["--check"]) == 0, "examples/data is stale: run python scripts/make_example_data.py"
    assert mod.datasets() == _script().datasets(), "the script is not deterministic"


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.jsonl")))
def test_every_row_is_unique(name):
    rows = _rows(name)
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows)
    prompt = "prompt" if "prompt" in rows[0] else "instruction"
    mod = _script()
    assert len({mod.norm(r[prompt]) for r in rows}) == len(rows), f"{name}: two rows ask the same prompt"


@pytest.mark.parametrize(
    ("train", "evals"),
    [
        (["support-train.jsonl", "support-prefs.jsonl"], "support-eval.jsonl"),
        (["colours-train.jsonl"], "colours-eval.jsonl"),
    ],
)
def test_eval_prompts_are_not_training_prompts(train, evals):
    norm = _script().norm
    seen = {norm(r.get("instruction") or r["prompt"]) for name in train for r in _rows(name)}
    assert not seen & {norm(r["prompt"]) for r in _rows(evals)}


@pytest.mark.parametrize(("spec", "rows"), [("support-bot", 1296), ("support-dpo", 300), ("tiny-cpu", 80)])
def test_example_plans_count_unique_examples_without_overlap(spec, rows, tmp_path):
    b = build_file(REPO / "examples" / f"{spec}.yaml", tmp_path)
    data = b.plan.facts["data"]
    assert data["examples"] == data["unique_examples"] == rows
    assert b.plan.facts["eval"]["in_train"] == 0
    assert not [f for f in b.plan.findings if f.rule in ("FT173", "FT174")]


def test_the_tree_counts_unique_examples(tmp_path):
    """A file of 1,500 rows with 531 unique ones is under the 1K gate (FT101 counts what FT174 counts)."""
    rows = _rows("support-train.jsonl")[:531]
    padded = (rows * 3)[:1500]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in padded))
    (tmp_path / "s.yaml").write_text(
        "name: dups\nbase_model: Qwen/Qwen2.5-1.5B-Instruct\ndata:\n  train:\n    - path: train.jsonl\n"
        "      format: alpaca\nhardware: {gpu: A10G}\n"
    )
    from generator.errors import FtgenError

    with pytest.raises(FtgenError, match=r"531 training examples is fewer than 1,000 \(1,500 rows, 531 unique\)"):
        build_file(tmp_path / "s.yaml", tmp_path / "out")

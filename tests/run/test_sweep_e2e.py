"""A real 4-trial CPU sweep on the tiny model with LLaMA-Factory: `ftgen build` writes the trials, `ftgen run`
trains and evaluates each on a tiny eval set, a rerun keeps them, `ftgen compare` ranks them.

Kept small for CI: 4 steps a trial, 4 eval prompts, 4 new tokens, the native validator skipped (its own e2e tests
cover it). Time it with `pytest --durations=0`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
pytestmark = pytest.mark.e2e


def test_a_four_trial_sweep_ends_with_a_ranked_comparison(lf_tiny_model, tmp_path, cli):
    model = lf_tiny_model
    evalset = tmp_path / "eval.jsonl"
    evalset.write_text("".join((DATA / "colours-eval.jsonl").read_text().splitlines(keepends=True)[:4]))
    spec = {
        "name": "e2e-sweep",
        "base_model": str(model),
        "method": "lora",
        "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
        "eval": {"path": str(evalset), "max_new_tokens": 4},
        "hardware": {"gpu": "CPU"},
        "framework": "llamafactory",
        "sequence_len": 64,
        "overrides": {"max_steps": 4, "packing": False, "micro_batch_size": 4, "save_steps": 4, "eval_steps": 4},
        "sweep": {
            "parameters": {"overrides.learning_rate": [1.0e-3, 5.0e-3], "overrides.lora_r": [4, 8]},
            "metric": "eval.token_f1",
        },
    }
    path = tmp_path / "e2e-sweep.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = cli("build", str(path), "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 0, result.output
    assert "4 trial(s)" in result.output
    out = tmp_path / "outputs" / "e2e-sweep"
    result = cli("run", str(out), "--quiet", "--skip-native-validation")
    assert result.exit_code == 0, result.output[-4000:]
    trials = json.loads((out / "sweep.json").read_text())["trials"]
    for t in trials:
        runs = [p for p in (out / t["dir"] / "runs").iterdir() if p.is_dir()]
        assert len(runs) == 1
        rec = json.loads((runs[0] / "run.json").read_text())
        assert rec["status"] == "succeeded", rec
        assert "token_f1" in rec["eval"]["summary"]["fine-tuned"], rec["eval"]
        print(f"{t['id']}: training {rec['wall_seconds']} s, eval {rec['eval'].get('seconds')} s")
    again = cli("run", str(out), "--quiet", "--skip-native-validation")
    assert again.exit_code == 0 and again.output.count("finished earlier: kept") == 4, again.output
    result = cli("compare", str(out), "--json")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.output)
    assert [t["rank"] for t in ranking["trials"]] == [1, 2, 3, 4]
    scores = [t["score"] for t in ranking["trials"]]
    assert scores == sorted(scores, reverse=True)
    assert ranking["best"] == ranking["trials"][0]["id"] and ranking["trials"][0]["vs_base"] is not None
    assert (out / "sweep.png").is_file() and (out / "sweep.md").is_file()

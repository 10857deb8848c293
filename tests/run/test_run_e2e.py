"""Real training through `ftgen build` + `ftgen run` on a tiny local model, for each framework and method.

Needs the framework envs (`ftgen env install axolotl llamafactory`, which the README test command does);
each case trains a few dozen CPU steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator import envs

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
pytestmark = pytest.mark.e2e


def _need(framework: str):
    env = envs.get_env(framework)
    if env is None:
        pytest.skip(f"no {framework} env (run `ftgen env install {framework}`)")
    return env


def _spec(tmp: Path, model: Path, framework: str, method: str, task: str = "sft") -> Path:
    train = DATA / ("support-prefs.jsonl" if task == "dpo" else "colours-train.jsonl")
    spec = {
        "name": f"e2e-{framework}-{method}-{task}",
        "base_model": str(model),
        "task": task,
        "method": method,
        "data": {"train": [{"path": str(train), "format": "preference" if task == "dpo" else "alpaca"}]},
        "eval": {"path": str(DATA / "colours-eval.jsonl")},
        "hardware": {"gpu": "CPU"},
        "framework": framework,
        "sequence_len": 128,
        "overrides": {
            "max_steps": 24,
            "learning_rate": 1.0e-3 if method == "full" else 5.0e-3,
            "packing": False,
            "micro_batch_size": 4,
        },
    }
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


CASES = [
    ("axolotl", "lora", "sft"),
    ("axolotl", "qlora", "sft"),
    ("axolotl", "full", "sft"),
    ("llamafactory", "lora", "sft"),
    ("llamafactory", "qlora", "sft"),
    ("llamafactory", "full", "sft"),
    ("llamafactory", "lora", "dpo"),
]


@pytest.mark.parametrize("framework,method,task", CASES, ids=["-".join(c) for c in CASES])
def test_build_and_run(framework, method, task, tiny_model_prefs, tmp_path, cli):
    _need(framework)
    spec = _spec(tmp_path, tiny_model_prefs, framework, method, task)
    result = cli("build", str(spec), "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 0, result.output
    out_dir = tmp_path / "outputs" / spec.stem
    result = cli("run", str(out_dir), "--quiet", "--json", "--no-eval")  # eval has its own e2e tests
    run_dir = next(p for p in (out_dir / "runs").iterdir() if p.is_dir())
    log = (run_dir / "train.log").read_text(errors="replace")
    assert result.exit_code == 0, result.output[-3000:] + log[-5000:]
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "succeeded" and rec["exit_code"] == 0
    assert rec["metrics"]["validated"]["native"] is True, "the framework's own validator accepted the config"
    assert rec["checkpoints"] and Path(rec["last_checkpoint"]).is_dir()
    assert rec["metrics"]["global_step"] == 24
    assert "eval_loss" in rec["metrics"], rec["metrics"]
    losses = [h["loss"] for h in rec["history"] if "loss" in h]
    losses = [float(x) for x in losses]
    assert len(losses) >= 6
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3, f"training loss did not go down: {losses}"
    for key in ("versions", "env_python", "config_sha256", "spec_sha256", "datasets", "started_at", "finished_at"):
        assert rec[key], key
    # the measured peak beside the plan's estimate (on CPU: the trainer's peak RSS; on GPU the hook's per-rank peaks)
    plan = json.loads((out_dir / "plan.json").read_text())
    memory = rec["memory"]
    assert memory["source"] == "cpu_rss" and memory["measured_gb"] == memory["peak_rss_gb"] > 0.1, memory
    assert memory["estimate_gb"] == plan["memory"]["total_gb"]
    assert memory["ratio"] == round(memory["measured_gb"] / memory["estimate_gb"], 3)
    assert (run_dir / "loss.png").is_file()
    model_dir = run_dir / "model"
    weights = "adapter_model.safetensors" if method != "full" else "model.safetensors"
    assert (model_dir / weights).is_file(), sorted(p.name for p in model_dir.iterdir())

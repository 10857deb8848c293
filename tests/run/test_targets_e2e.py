"""Every (framework, task) cell ftgen claims trains for real: `ftgen build` + `ftgen run` on a tiny local Llama.

A few CPU steps per cell (tiny model, sequence 64, max_steps 2): the point is that the framework accepts the
config, formats the data, trains and writes a checkpoint, not that the loss falls (tests/run/test_run_e2e.py does
that for SFT). generator/targets.py PROVEN lists these cells; a test checks the two agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator import envs, frameworks, targets

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"

REWARDS = '''\
"""Reward functions for the GRPO e2e cell: short completions score higher."""


def short(prompts, completions, **kwargs):
    return [-len(c if isinstance(c, str) else c[-1]["content"]) / 100.0 for c in completions]


def mentions_answer(prompts, completions, answer=None, **kwargs):
    refs = answer or [""] * len(completions)
    return [float(str(r)[:3] in str(c)) for c, r in zip(completions, refs)]
'''


def _need(framework: str):
    env = envs.get_env(framework)
    if env is None:
        pytest.skip(f"no {framework} env (run `ftgen env install {framework}`)")
    return env


def _rows(path: Path, n: int) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[:n]]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def train_data(tmp: Path, task: str) -> tuple[Path, str]:
    """(a small training file for `task`, its spec format)."""
    if task in ("sft", "grpo"):
        return _write_jsonl(tmp / "alpaca.jsonl", _rows(DATA / "colours-train.jsonl", 64)), "alpaca"
    if task == "pretrain":
        rows = [{"text": f"{r['instruction']} {r['output']}"} for r in _rows(DATA / "colours-train.jsonl", 64)]
        return _write_jsonl(tmp / "text.jsonl", rows), "text"
    prefs = _rows(DATA / "support-prefs.jsonl", 64)
    if task == "kto":
        rows = [
            {"prompt": r["prompt"], "completion": r["chosen" if i % 2 == 0 else "rejected"], "label": i % 2 == 0}
            for i, r in enumerate(prefs)
        ]
        return _write_jsonl(tmp / "kto.jsonl", rows), "kto"
    return _write_jsonl(tmp / "prefs.jsonl", prefs), "preference"


def cell_spec(tmp: Path, model: Path, framework: str, task: str, method: str, steps: int = 2) -> Path:
    """A spec that trains one cell for `steps` optimizer steps on the CPU."""
    train, fmt = train_data(tmp, task)
    spec: dict = {
        "name": f"cell-{framework}-{task}-{method}",
        "base_model": str(model),
        "task": task,
        "method": method,
        "data": {"train": [{"path": train.name, "format": fmt}]},
        "hardware": {"gpu": "CPU"},
        "framework": framework,
        "sequence_len": 64,
        "overrides": {
            "max_steps": steps,
            "micro_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "packing": False,
            "eval_steps": steps,
            "save_steps": steps,
            "learning_rate": 1.0e-4,
        },
    }
    if task == "grpo":
        (tmp / "rewards.py").write_text(REWARDS)
        spec["rl"] = {
            "reward_funcs": ["rewards.short", "rewards.mentions_answer"],
            "num_generations": 2,
            "max_completion_length": 8,
        }
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


CELLS = list(targets.CELLS)


@pytest.mark.e2e
@pytest.mark.parametrize("framework,task,method", CELLS, ids=["-".join(c) for c in CELLS])
def test_cell_trains(framework, task, method, tiny_model_prefs, tmp_path, cli):
    _need(framework)
    spec = cell_spec(tmp_path, tiny_model_prefs, framework, task, method)
    result = cli("build", str(spec), "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 0, result.output
    out_dir = tmp_path / "outputs" / spec.stem
    tmp_path.joinpath("rewards.py").unlink(missing_ok=True)  # GRPO: the run imports the copy beside the config
    result = cli("run", str(out_dir), "--quiet", "--json", "--no-eval", "--without-eval-set")
    assert (out_dir / "runs").is_dir(), result.output[-3000:]
    run_dir = next(p for p in (out_dir / "runs").iterdir() if p.is_dir())
    log = (run_dir / "train.log").read_text(errors="replace")
    assert result.exit_code == 0, result.output[-3000:] + log[-6000:]
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "succeeded" and rec["exit_code"] == 0, log[-4000:]
    assert rec["metrics"]["validated"]["native"] is True, "the framework's own validator accepted the config"
    assert rec["checkpoints"] and Path(rec["last_checkpoint"]).is_dir()
    assert rec["metrics"]["global_step"] == 2
    model_dir = run_dir / "model"
    weights = "adapter_model.safetensors" if method != "full" else "model.safetensors"
    assert (model_dir / weights).is_file(), sorted(p.name for p in model_dir.iterdir())


def test_proven_table_matches_the_e2e_parametrisation():
    """`ftgen targets` cites a test for every proven cell: the table and the e2e parametrisations are one list."""
    from tests.run import test_run_e2e

    sft = {(fw, task, method) for fw, method, task in test_run_e2e.CASES}
    assert {(fw, task, method) for fw, method, task in targets.SFT_RUNS} <= sft
    for cell, test in targets.PROVEN.items():
        fw, task, method = cell
        assert targets.supports(fw, task, method), f"{cell} is proven but not claimed"
        if cell in CELLS:
            assert test == f"tests/run/test_targets_e2e.py::test_cell_trains[{fw}-{task}-{method}]"
        else:
            assert cell in sft and test == f"tests/run/test_run_e2e.py::test_build_and_run[{fw}-{method}-{task}]"
    every = {(fw, task) for fw, task, _ in targets.PROVEN}
    claimed = {(name, task) for name in ("axolotl", "llamafactory") for task in frameworks.get(name).targets}
    assert every == claimed, "every claimed (framework, task) cell trains in an e2e test"

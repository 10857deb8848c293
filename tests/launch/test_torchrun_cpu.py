"""Data-parallel on CPU: 2 torchrun processes (gloo) of LLaMA-Factory through ftgen; Axolotl refused up front.

The e2e tests need the LLaMA-Factory env (`ftgen env install llamafactory`, or `ftgen env use llamafactory
PYTHON`); each trains a few steps of a tiny random Llama in two processes (~40 s on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import envs
from generator.build import build_file
from generator.errors import FtgenError
from generator.launch import launch_command

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"


def _spec(tmp: Path, model: Path | str, framework: str, gpus_per_node: int = 2) -> Path:
    spec = {
        "name": f"torchrun-cpu-{framework}",
        "base_model": str(model),
        "method": "lora",
        "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
        "hardware": {"gpu": "CPU", "gpus_per_node": gpus_per_node},
        "framework": framework,
        "sequence_len": 128,
        "overrides": {
            "max_steps": 6,
            "learning_rate": 5.0e-3,
            "packing": False,
            "micro_batch_size": 4,
            "logging_steps": 1,
            "save_steps": 6,
            "eval_steps": 6,
        },
    }
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_axolotl_with_two_processes_on_cpu_is_refused_at_build_time(tmp_path):
    """Axolotl places each rank on an accelerator: ftgen says so when building, not 30 s into a run."""
    with pytest.raises(FtgenError) as exc:
        build_file(_spec(tmp_path, REPO / "examples" / "models" / "tiny-llama", "axolotl"), tmp_path / "out")
    [p] = [p for p in exc.value.problems if p.rule == "FT131"]
    assert p.key == "hardware.gpus_per_node" and p.found == 2
    assert "Axolotl cannot run more than one process on CPU" in p.message and "llamafactory" in p.allowed


def test_llamafactory_with_two_processes_on_cpu_builds_ddp(tmp_path):
    b = build_file(_spec(tmp_path, REPO / "examples" / "models" / "tiny-llama", "llamafactory"), tmp_path / "out")
    assert b.plan["distributed"] == "ddp" and b.plan["precision"] == "fp32"
    assert b.rendered[0].config["use_cpu"] is True


# ------------------------------------------------------------------ e2e: a real 2-process run


@pytest.fixture(scope="module")
def lf_env():
    env = envs.get_env("llamafactory")
    if env is None:
        pytest.skip("no llamafactory env (ftgen env install llamafactory, or ftgen env use llamafactory PYTHON)")
    return env


def _build(tmp_path: Path, model: Path, write_build) -> Path:
    return write_build(_spec(tmp_path, model, "llamafactory"), tmp_path / "outputs")


def _assert_two_process_run(out_dir: Path, log: str) -> None:
    assert "world size: 2" in log and "Process rank: 1" in log, "two torchrun processes trained"
    model = out_dir / "out"
    assert (model / "adapter_model.safetensors").is_file()
    state = yaml.safe_load((model / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    assert [h for h in state["log_history"] if "loss" in h], "training logged a loss"


@pytest.mark.e2e
def test_two_process_torchrun_on_cpu_via_ftgen_run(tmp_path, lf_env, lf_tiny_model, write_build, cli):
    """`ftgen run --launcher torchrun --nproc 2`: data parallel with gloo, recorded like any run."""
    import json

    out_dir = _build(tmp_path, lf_tiny_model, write_build)
    argv, extra = launch_command("llamafactory", "llamafactory.yaml", lf_env, launcher="torchrun", nproc=2)
    assert extra["FORCE_TORCHRUN"] == "1" and extra["NPROC_PER_NODE"] == "2"
    result = cli(
        "run", str(out_dir), "--launcher", "torchrun", "--nproc", "2", "--without-eval-set", "--no-eval", "--quiet"
    )
    run_dir = next(p for p in (out_dir / "runs").iterdir() if p.is_dir())
    log = (run_dir / "train.log").read_text(errors="replace")
    assert result.exit_code == 0, result.output[-2000:] + log[-6000:]
    assert "world size: 2" in log and "Process rank: 1" in log, "two torchrun processes trained"
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "succeeded" and rec["launcher"] == "torchrun x2"
    assert rec["metrics"]["global_step"] == 6 and (run_dir / "model" / "adapter_model.safetensors").is_file()


@pytest.mark.e2e
def test_two_process_torchrun_on_cpu_via_launch_sh(tmp_path, lf_env, lf_tiny_model, write_build):
    """The generated launch.sh itself: the plan's 2 processes, the env's bin from FTGEN_ENV_BIN."""
    out_dir = _build(tmp_path, lf_tiny_model, write_build)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT", "RDZV_ID", "FORCE_TORCHRUN")
    }
    env.update(FTGEN_ENV_BIN=str(lf_env.bin_dir), FTGEN_OFFLINE="1")
    proc = subprocess.run(
        [str(out_dir / "launch.sh")], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    _assert_two_process_run(out_dir, log)

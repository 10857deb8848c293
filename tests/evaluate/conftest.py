"""Fixtures for eval tests: the tiny model (needs a framework env) and a finished run record with predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
FIXTURES = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The tiny local Llama with a tokenizer trained on the colour task, made inside a framework env."""
    from generator import envs

    env = envs.get_env("llamafactory") or envs.get_env("axolotl")
    if env is None:
        pytest.skip("no framework env to build the tiny model")
    out = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    envs.run_json(
        env.python,
        "make_tiny_model.py",
        [str(out), "--data", str(DATA / "colours-train.jsonl")],
        env=env.subprocess_env(),
        timeout=600,
    )
    return out


@pytest.fixture
def finished_run(tmp_path):
    """A build folder with one evaluated run, copied from tests/evaluate/data/ with its paths made absolute."""
    from generator.run import RunRecord

    build = tmp_path / "outputs" / "colours"
    shutil.copytree(FIXTURES / "build", build)
    run_dir = build / "runs" / "20261128-120000-ll-abcd"
    data = json.loads((run_dir / "run.json").read_text())
    data["path"] = str(run_dir)
    data["curve"] = str(run_dir / "loss.png")
    data["eval"]["predictions"] = {
        k: str(run_dir / "eval" / Path(v).name) for k, v in data["eval"]["predictions"].items()
    }
    (run_dir / "run.json").write_text(json.dumps(data, indent=2))
    from generator.run.metrics import loss_curve

    loss_curve(data["history"], run_dir / "loss.png", "colours (llamafactory)")
    return RunRecord.load(run_dir)

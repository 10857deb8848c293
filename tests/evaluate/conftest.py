"""Fixtures for eval tests: the tiny model (needs a framework env) and a finished run record with predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
FIXTURES = Path(__file__).parent / "data"


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

"""ftgen's trainer hook saves a checkpoint and stops on the time-limit signal (Slurm runs), through HF's own
TrainerCallback mechanism: checked with a stand-in transformers whose Trainer loop follows HF's order (callbacks'
on_step_end, then save when control.should_save, on_save, then stop when control.should_training_stop)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.run.peak_memory import HOOK_DIR

FAKE_CALLBACK = """
class TrainerControl:
    should_save = False
    should_training_stop = False

class TrainerCallback:
    def on_train_begin(self, args, state, control, **kw): return control
    def on_step_end(self, args, state, control, **kw): return control
    def on_save(self, args, state, control, **kw): return control
"""

FAKE_TRAINER = """
import os, signal
from .trainer_callback import TrainerCallback, TrainerControl

class _Flow(TrainerCallback):
    def on_step_end(self, args, state, control, **kw):
        control.should_save = state.global_step % args.save_steps == 0
        return control

DEFAULT_CALLBACKS = [_Flow]

class _State:
    global_step = 0
    is_world_process_zero = True

class _Args:
    save_steps = 10
    device = "cpu"

class Trainer:
    def __init__(self, callbacks=None):
        self.callbacks = [c() for c in DEFAULT_CALLBACKS + (callbacks or [])]

    def train(self, max_steps, request_at, how):
        args, state, control, saved = _Args(), _State(), TrainerControl(), []
        for cb in self.callbacks:
            control = cb.on_train_begin(args, state, control)
        for step in range(1, max_steps + 1):
            state.global_step = step
            if step == request_at and how == "file":  # the batch script's SIGUSR1 trap
                open(os.environ.get("FTGEN_SAVE_FILE", "save-requested"), "w").close()
            if step == request_at and how == "signal":
                os.kill(os.getpid(), signal.SIGUSR1)
            for cb in self.callbacks:
                control = cb.on_step_end(args, state, control)
            if control.should_save:
                saved.append(step)
                control.should_save = False
                for cb in self.callbacks:
                    control = cb.on_save(args, state, control)
            if control.should_training_stop:
                break
        return saved, state.global_step
"""

DRIVER = """
import json, sys
from transformers.trainer import Trainer
saved, last = Trainer().train(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
print(json.dumps({"saved": saved, "last": last}))
"""


@pytest.fixture
def fake_transformers(tmp_path: Path) -> Path:
    pkg = tmp_path / "site" / "transformers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "trainer_callback.py").write_text(FAKE_CALLBACK)
    (pkg / "trainer.py").write_text(FAKE_TRAINER)
    return pkg.parent


def _train(site: Path, tmp_path: Path, how: str, hooked: bool = True, steps: int = 30, at: int = 7) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTGEN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(HOOK_DIR), str(site)])
    if hooked:
        env["FTGEN_SAVE_FILE"] = str(tmp_path / "save-requested")
        env["FTGEN_STOPPED_FILE"] = str(tmp_path / "stopped.json")
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(steps), str(at), how],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"stdout": proc.stdout}


@pytest.mark.parametrize("how", ["file", "signal"])
def test_the_save_request_saves_a_checkpoint_at_that_step_and_stops(fake_transformers, tmp_path, how):
    got = _train(fake_transformers, tmp_path, how)
    # save_steps is 10: a checkpoint at step 7 exists only because of the request
    assert got["saved"] == [7] and got["last"] == 7
    assert json.loads((tmp_path / "stopped.json").read_text()) == {"step": 7}
    assert "saving a checkpoint at step 7" in got["stdout"]


def test_a_request_after_periodic_saves_adds_one_more_checkpoint(fake_transformers, tmp_path):
    got = _train(fake_transformers, tmp_path, "file", at=23)
    assert got["saved"] == [10, 20, 23] and got["last"] == 23


def test_without_a_request_training_runs_to_the_end(fake_transformers, tmp_path):
    got = _train(fake_transformers, tmp_path, "none")
    assert got["saved"] == [10, 20, 30] and got["last"] == 30
    assert not (tmp_path / "stopped.json").exists()


def test_outside_a_slurm_run_no_callback_is_added(fake_transformers, tmp_path):
    (tmp_path / "save-requested").touch()  # even a stray file does nothing without FTGEN_SAVE_FILE
    got = _train(fake_transformers, tmp_path, "file", hooked=False)
    assert got["saved"] == [10, 20, 30] and got["last"] == 30

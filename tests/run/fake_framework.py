"""A stand-in for `llamafactory-cli train CFG` / `axolotl train CFG`: fake steps, checkpoints, trainer_state.json.

Env vars: FAKE_STEPS (default 6), FAKE_SLEEP (seconds per step, default 0), FAKE_FAIL_AT (exit 1 at that step).
On SIGINT/SIGTERM it stops after the current step, like HF Trainer raising KeyboardInterrupt.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

import yaml

stop = []
signal.signal(signal.SIGINT, lambda *_: stop.append("INT"))
signal.signal(signal.SIGTERM, lambda *_: stop.append("TERM"))

cfg = yaml.safe_load(Path(sys.argv[2]).read_text())
out = Path(cfg["output_dir"])
out.mkdir(parents=True, exist_ok=True)
steps = int(os.environ.get("FAKE_STEPS", "6"))
fail_at = int(os.environ.get("FAKE_FAIL_AT", "0"))
start = 0
history = []
resume = cfg.get("resume_from_checkpoint")
if resume:
    state = json.loads((Path(resume) / "trainer_state.json").read_text())
    start, history = state["global_step"], state["log_history"]
    print(f"resuming from {resume} at step {start}", flush=True)
print("secret seen by child:", "yes" if os.environ.get("HF_TOKEN") else "no", flush=True)
if os.environ.get("FAKE_PRINT_TRACKER"):  # what a trainer's tracker integration would read
    names = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_RUN_ID",
        "MLFLOW_EXPERIMENT_NAME",
        "WANDB_MODE",
        "WANDB_RUN_ID",
        "WANDB_NAME",
    )
    print("tracker env:", json.dumps({k: os.environ.get(k) for k in names}), flush=True)
if os.environ.get("FAKE_PRINT_SECRET"):  # a framework that logs its token: ftgen must mask it
    print("using token", os.environ.get("HF_TOKEN"), flush=True)
for step in range(start + 1, steps + 1):
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    loss = round(5.0 / step, 4)
    history.append({"loss": loss, "step": step, "epoch": step / steps})
    sys.stdout.write(f"\r {int(100 * step / steps)}%|##| {step}/{steps} [00:01<00:02, 1.00it/s]")
    sys.stdout.write("\n" + repr({"loss": loss, "learning_rate": 0.001}) + "\n")
    sys.stdout.flush()
    if step % 2 == 0:
        history.append({"eval_loss": loss + 0.1, "eval_runtime": 0.1, "step": step})
        ck = out / f"checkpoint-{step}"
        ck.mkdir(exist_ok=True)
        (ck / "trainer_state.json").write_text(
            json.dumps({"global_step": step, "max_steps": steps, "log_history": history})
        )
    if fail_at and step == fail_at:
        print("RuntimeError: simulated failure", flush=True)
        sys.exit(1)
    if stop:
        print("KeyboardInterrupt", flush=True)
        sys.exit(130)
history.append({"train_loss": sum(h["loss"] for h in history if "loss" in h) / steps, "step": steps})
(out / "trainer_state.json").write_text(json.dumps({"global_step": steps, "max_steps": steps, "log_history": history}))
(out / "adapter_config.json").write_text("{}")
print("done", flush=True)

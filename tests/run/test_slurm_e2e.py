"""Real Slurm: `ftgen run --launcher slurm` on a single-node Slurm started by scripts/slurm_local.sh.

The tiny spec is built, submitted and followed with --wait (run record succeeded, a checkpoint, eval scores from
the dependent eval job); a second run cancelled by `ftgen stop` mid-training ends `cancelled` with its last
checkpoint and `--resume` continues it; a third gets the time-limit signal (SIGUSR1 to the batch script, as
Slurm sends it --signal seconds before the limit) mid-training: it saves a checkpoint at that step, requeues itself
and the requeued job resumes from it and succeeds. Skipped with the script's reason when the local Slurm cannot start
(not root, no apt-get); scripts/test.sh starts it as root. Needs the llamafactory env.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
pytestmark = [pytest.mark.e2e, pytest.mark.slurm]


@pytest.fixture(scope="module")
def build(slurm, lf_tiny_model, tmp_path_factory, ftgen):
    tmp = tmp_path_factory.mktemp("slurm")
    model = lf_tiny_model

    def make(name: str, steps: int, save_steps: int, tracking: dict | None = None) -> Path:
        spec = {
            "name": name,
            "base_model": str(model),
            "method": "lora",
            "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
            "eval": {"path": str(DATA / "colours-eval.jsonl"), "max_new_tokens": 8},
            "hardware": {"gpu": "CPU"},
            "framework": "llamafactory",
            "sequence_len": 128,
            "cluster": {"time": "30"},
            "overrides": {
                "max_steps": steps,
                "save_steps": save_steps,
                "learning_rate": 5.0e-3,
                "packing": False,
                "micro_batch_size": 4,
            },
        }
        if tracking:
            spec["tracking"] = tracking
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        done = ftgen("build", str(path), "--out", str(tmp / "outputs"))
        assert done.returncode == 0, done.stdout + done.stderr
        out = tmp / "outputs" / name
        assert (out / "slurm.sbatch").is_file()
        return out

    return make


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _run_dir(out: Path) -> Path:
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


def test_slurm_run_is_recorded_collected_and_scored(build, ftgen):
    out = build("slurm-ok", steps=16, save_steps=8, tracking={"backend": "mlflow", "project": "ftgen-slurm"})
    started = time.monotonic()
    done = ftgen("run", str(out), "--launcher", "slurm", "--wait", "--quiet")
    print(f"slurm run --wait: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "submitted run" in done.stdout and "squeue -j" in done.stdout
    rec = _record(_run_dir(out))
    assert rec["status"] == "succeeded" and rec["exit_code"] == 0 and rec["launcher"] == "slurm"
    sched = rec["scheduler"]
    assert sched["kind"] == "slurm" and sched["job_id"] and sched["eval_job_id"]
    assert "sbatch" in sched["submit_command"]
    assert rec["checkpoints"] and rec["last_checkpoint"] and Path(rec["last_checkpoint"]).is_dir()
    assert rec["history"] and rec["curve"] and Path(rec["curve"]).is_file()
    assert (Path(rec["path"]) / "train.log").stat().st_size > 0
    ev = rec["eval"]
    assert "error" not in ev, ev.get("error")
    assert set(ev["summary"]["base"]) == set(ev["summary"]["fine-tuned"]) and ev["summary"]["base"]
    listed = ftgen("runs", str(out), "--json")
    assert listed.returncode == 0 and '"succeeded"' in listed.stdout

    # the tracker run ftgen opened at submission holds the trainer's loss (logged on the node), ftgen's plan facts
    # and the eval job's scores, and is closed once
    mlflow = pytest.importorskip("mlflow")
    link = rec["tracker"]["mlflow"]
    assert rec["tracker"]["closed_at"]
    client = mlflow.tracking.MlflowClient(tracking_uri=link["tracking_uri"])
    run = client.get_run(link["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "ftgen-slurm"
    assert run.info.status == "FINISHED"
    assert client.get_metric_history(run.info.run_id, "loss"), sorted(run.data.metrics)
    assert run.data.params["ftgen.plan.max_steps"] == "16" and "ftgen.memory_estimate_gb" in run.data.metrics
    for side in ("base", "fine-tuned"):
        assert run.data.metrics[f"eval.{side}.exact_match"] == ev["summary"][side]["exact_match"]
    assert [r.info.run_id for r in client.search_runs([run.info.experiment_id])] == [run.info.run_id]


def _wait_for(check, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def test_slurm_run_cancelled_mid_training_keeps_its_checkpoint_and_resumes(build, ftgen):
    out = build("slurm-cancel", steps=400, save_steps=4)
    started = time.monotonic()
    done = ftgen("run", str(out), "--launcher", "slurm", "--no-eval")
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = _run_dir(out)
    assert _record(run_dir)["status"] == "queued"
    _wait_for(lambda: list((run_dir / "model").glob("checkpoint-*")), 300, "a first checkpoint")
    running = ftgen("show", str(run_dir))
    assert "running" in running.stdout, running.stdout
    stopped = ftgen("stop", str(run_dir))
    assert stopped.returncode == 0 and "scancel" in stopped.stdout, stopped.stdout + stopped.stderr

    def cancelled():
        ftgen("runs", str(out), "--refresh")
        rec = _record(run_dir)
        return rec if rec["status"] == "cancelled" else None

    rec = _wait_for(cancelled, 120, "the run to be recorded cancelled")
    print(f"slurm cancel: {time.monotonic() - started:.1f} s")
    assert rec["last_checkpoint"] and Path(rec["last_checkpoint"]).is_dir()
    first = rec["last_checkpoint"]

    # resume: a shorter run continues from the checkpoint (max_steps lowered in the run's config is not needed:
    # the run goes on from the checkpoint's step; stop it again once it has saved a later one)
    resumed = ftgen("run", "--resume", str(run_dir), "--launcher", "slurm", "--no-eval")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    step = int(Path(first).name.split("-")[1])
    later = _wait_for(
        lambda: [p for p in (run_dir / "model").glob("checkpoint-*") if int(p.name.split("-")[1]) > step],
        300,
        "a checkpoint after the resumed one",
    )
    assert later
    log = (run_dir / "train.log").read_text(errors="replace")
    assert "Resuming" in log or "resume" in log.lower()
    assert ftgen("stop", str(run_dir)).returncode == 0
    rec = _wait_for(cancelled, 120, "the resumed run to be recorded cancelled")
    assert rec["attempts"] and rec["attempts"][0]["status"] == "cancelled"
    assert shutil.which("squeue")


def test_slurm_time_limit_signal_saves_a_checkpoint_requeues_and_resumes(build, ftgen):
    steps = 60
    # save_steps beyond max_steps: no periodic checkpoint, so one before the last step was saved on the signal
    out = build("slurm-requeue", steps=steps, save_steps=1000)
    started = time.monotonic()
    done = ftgen("run", str(out), "--launcher", "slurm", "--no-eval")
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = _run_dir(out)
    job = _record(run_dir)["scheduler"]["job_id"]
    progress = re.compile(rf"\b(\d+)/{steps} \[")

    def training() -> bool:
        log = (run_dir / "train.log").read_text(errors="replace") if (run_dir / "train.log").is_file() else ""
        return any(2 <= int(n) < steps // 2 for n in progress.findall(log))

    _wait_for(training, 300, "training to pass step 2")
    # what Slurm sends `--signal=B:USR1@N` seconds before the time limit: SIGUSR1 to the batch script only
    sig = subprocess.run(["scancel", "--signal=USR1", "--batch", job], capture_output=True, text=True, check=False)
    assert sig.returncode == 0, sig.stderr

    def requeued():
        shown = " ".join(ftgen("show", str(run_dir)).stdout.split())  # the table wraps long notes
        return shown if "requeued after the time-limit signal" in shown else None

    shown = _wait_for(requeued, 300, "`ftgen show` to say the job requeued itself")
    assert "queued" in shown
    # Slurm holds a requeued batch job back (BeginTime) until the old job credential expires (~2 min by default):
    # let it start now, as an idle cluster would after that delay. Not in the second the job was requeued: slurmd
    # compares the new credential's time with the revocation's in whole seconds and kills a job started in the same
    # second as "non-startable: Job credential revoked" (seen in CI when the release came 0.6 s after the requeue)
    time.sleep(3)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], capture_output=True, check=False)

    def finished():
        ftgen("runs", str(out), "--refresh")
        rec = _record(run_dir)
        return rec if rec["status"] in ("succeeded", "failed", "cancelled", "interrupted") else None

    rec = _wait_for(finished, 420, "the requeued run to end")
    print(f"slurm signal + requeue + resume: {time.monotonic() - started:.1f} s")
    log = (run_dir / "train.log").read_text(errors="replace")
    assert rec["status"] == "succeeded", (rec.get("note"), log[-3000:])
    assert rec["scheduler"]["requeues"] == 1 and rec["scheduler"]["job_id"] == job
    [attempt] = rec["attempts"]
    assert attempt["status"] == "interrupted" and "time-limit" in attempt["requeued"]
    saved = int(Path(attempt["last_checkpoint"]).name.split("-")[1])
    assert 2 <= saved < steps  # saved on the signal: no save_steps multiple before the end
    got = sorted(int(p.name.split("-")[1]) for p in (run_dir / "model").glob("checkpoint-*"))
    assert got == [saved, steps], got
    assert f"saving a checkpoint at step {saved}" in log
    assert "requeued run" in log and ("Resuming" in log or "resum" in log.lower())
    assert rec["last_checkpoint"].endswith(f"checkpoint-{steps}")

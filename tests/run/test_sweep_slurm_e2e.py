"""Real Slurm: a 2-trial sweep submitted by `ftgen run --launcher slurm` as one array job on the single-node Slurm
of scripts/slurm_local.sh; both tasks are recorded, collected, scored and tracked (MLflow) like Slurm runs, then
ranked.

Skipped with the script's reason when the local Slurm cannot start. Needs the llamafactory env. Kept small:
4 steps a trial, 4 eval prompts, 4 new tokens."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
pytestmark = [pytest.mark.e2e, pytest.mark.slurm]


def test_a_two_trial_sweep_runs_as_a_slurm_array(slurm, lf_tiny_model, tmp_path, ftgen):
    model = lf_tiny_model
    evalset = tmp_path / "eval.jsonl"
    evalset.write_text("".join((DATA / "colours-eval.jsonl").read_text().splitlines(keepends=True)[:4]))
    spec = {
        "name": "e2e-sweep-slurm",
        "base_model": str(model),
        "method": "lora",
        "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
        "eval": {"path": str(evalset), "max_new_tokens": 4},
        "hardware": {"gpu": "CPU"},
        "framework": "llamafactory",
        "sequence_len": 64,
        "cluster": {"time": "30"},
        "overrides": {"max_steps": 4, "packing": False, "micro_batch_size": 4, "save_steps": 4, "eval_steps": 4},
        "sweep": {"parameters": {"overrides.learning_rate": [1.0e-3, 5.0e-3]}, "metric": "eval.token_f1"},
        "tracking": {"backend": "mlflow", "project": "ftgen-slurm-sweep"},
    }
    path = tmp_path / "e2e-sweep-slurm.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = ftgen("build", str(path), "--out", str(tmp_path / "outputs"))
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "outputs" / "e2e-sweep-slurm"
    started = time.monotonic()
    done = ftgen("run", str(out), "--launcher", "slurm", "--wait", "--quiet")  # follows both tasks and evals
    print(f"slurm sweep (2 trials, array job): {time.monotonic() - started:.1f} s")
    recs = [json.loads(p.read_text()) for p in sorted(out.glob("trials/*/runs/*/run.json"))]
    logs = "".join((Path(r["path"]) / "train.log").read_text(errors="replace")[-2000:] for r in recs)
    assert done.returncode == 0, done.stdout + done.stderr + logs
    assert done.stdout.count("Slurm array task") == 2, done.stdout
    script = next((out / "sweep-runs").glob("*/array.sbatch"))
    assert "#SBATCH --array=0-1" in script.read_text()
    assert [r["status"] for r in recs] == ["succeeded", "succeeded"], logs
    for r in recs:
        assert r["launcher"] == "slurm" and r["scheduler"]["array_job_id"] and r["checkpoints"]
        assert "token_f1" in r["eval"]["summary"]["fine-tuned"], r["eval"]
    assert os.path.isfile(Path(recs[0]["path"]) / "slurm-task.json")
    # each trial is its own tracker run, opened at submission: its task's trainer logged the loss into it on the
    # node, its eval job the scores; each closed once
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.tracking.MlflowClient(tracking_uri=recs[0]["tracker"]["mlflow"]["tracking_uri"])
    runs = [client.get_run(r["tracker"]["mlflow"]["run_id"]) for r in recs]
    assert len({run.info.run_id for run in runs}) == 2 and all(r["tracker"]["closed_at"] for r in recs)
    for r, run in zip(recs, runs):
        assert run.info.status == "FINISHED" and run.info.run_name == r["run_id"]
        assert client.get_metric_history(run.info.run_id, "loss"), sorted(run.data.metrics)
        assert run.data.metrics["eval.fine-tuned.token_f1"] == r["eval"]["summary"]["fine-tuned"]["token_f1"]
    ranked = ftgen("compare", str(out), "--json")
    assert ranked.returncode == 0, ranked.stdout + ranked.stderr
    assert [t["rank"] for t in json.loads(ranked.stdout)["trials"]] == [1, 2]

"""Experiment tracking for real: both frameworks log to MLflow on the tiny model (the tracker run ftgen opened
holds the trainer's loss and ftgen's eval-set scores), and so does W&B in offline mode (its run files, read back).

Needs the framework envs (with MLflow, installed by their env spec). Kept short: 3 steps, the shipped eval set.
"""

from __future__ import annotations

import json

import pytest
import yaml
from test_run_e2e import DATA, _need

from generator import envs

pytestmark = pytest.mark.e2e
mlflow = pytest.importorskip("mlflow")

CASES = [
    ("axolotl", ["mlflow", "wandb"]),  # Axolotl's env ships wandb (an Axolotl dependency)
    ("llamafactory", ["mlflow", "wandb"]),  # its env spec installs the same wandb
]


def _has(framework: str, module: str) -> bool:
    import subprocess

    env = envs.get_env(framework)
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(env.python), "-c", code], env=env.subprocess_env(), timeout=120).returncode == 0


@pytest.mark.parametrize("framework,backends", CASES, ids=[c[0] for c in CASES])
def test_trainer_and_ftgen_log_into_one_tracker_run(framework, backends, tiny_model_prefs, tmp_path, cli, monkeypatch):
    _need(framework)
    for module in backends:
        if not _has(framework, module):
            pytest.skip(f"{module} is not installed in the {framework} env (`ftgen env install {framework} --force`)")
    monkeypatch.setenv("WANDB_MODE", "offline")  # no account, no network: W&B writes its run files only
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    spec = {
        "name": f"e2e-tracking-{framework}",
        "base_model": str(tiny_model_prefs),
        "method": "lora",
        "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
        "eval": {"path": str(DATA / "colours-eval.jsonl"), "max_new_tokens": 4},
        "hardware": {"gpu": "CPU"},
        "framework": framework,
        "sequence_len": 128,
        "overrides": {"max_steps": 3, "logging_steps": 1, "learning_rate": 5.0e-3, "packing": False},
        "tracking": {"backend": backends, "project": "ftgen-e2e", "tags": {"suite": "e2e"}},
    }
    path = spec_dir / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = cli("build", str(path), "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 0, result.output
    out_dir = tmp_path / "outputs" / spec["name"]
    result = cli("run", str(out_dir), "--quiet", "--json")
    run_dir = next(p for p in (out_dir / "runs").iterdir() if p.is_dir())
    log = (run_dir / "train.log").read_text(errors="replace")
    assert result.exit_code == 0, result.output[-3000:] + log[-5000:]
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "succeeded", rec.get("note")
    assert "summary" in rec["eval"], rec["eval"]

    # the MLflow run ftgen opened, in the SQLite store beside the spec, holds the trainer's loss and the scores
    store = f"sqlite:///{(spec_dir / 'mlflow.db').resolve().as_posix()}"
    assert rec["tracker"]["mlflow"]["tracking_uri"] == store
    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    run = client.get_run(rec["tracker"]["mlflow"]["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "ftgen-e2e"
    assert run.info.status == "FINISHED" and run.data.tags["suite"] == "e2e"
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert len(losses) >= 2, f"no training loss from the trainer: {sorted(run.data.metrics)}\n{log[-3000:]}"
    assert run.data.params["ftgen.plan.max_steps"] == "3" and run.data.params["ftgen.spec_sha256"]
    assert "ftgen.memory_estimate_gb" in run.data.metrics
    for side in ("base", "fine-tuned"):
        assert run.data.metrics[f"eval.{side}.exact_match"] == rec["eval"]["summary"][side]["exact_match"]
    runs = client.search_runs([run.info.experiment_id])
    assert [r.info.run_id for r in runs] == [run.info.run_id], "one tracker run per ftgen run"

    if "wandb" in backends:  # offline: the run's files under the run folder, named by the run id
        from wandb_offline import read_run, session_dirs

        wandb_id = rec["tracker"]["wandb"]["run_id"]
        wandb_dirs = list((run_dir / "wandb").glob("offline-run-*"))
        assert wandb_dirs and len(session_dirs(run_dir, wandb_id)) == len(wandb_dirs), sorted(
            p.name for p in wandb_dirs
        )
        # ftgen before training, the trainer, ftgen after evaluation: sessions of one run (`wandb sync` joins them)
        wb = read_run(run_dir, wandb_id)
        assert wb["sessions"] >= 3 and {r["run_id"] for r in wb["runs"]} == {wandb_id}
        assert {r["project"] for r in wb["runs"]} == {"ftgen-e2e"}
        assert "train/loss" in wb["history"], f"no training loss from the trainer: {sorted(wb['history'])}"
        assert wb["config"]["ftgen.plan.max_steps"] == 3 and wb["config"]["ftgen.spec_sha256"] == rec["spec_sha256"]
        assert "ftgen.memory_estimate_gb" in wb["summary"]
        for side in ("base", "fine-tuned"):
            assert wb["summary"][f"eval.{side}.exact_match"] == rec["eval"]["summary"][side]["exact_match"]
        assert wb["summary"]["ftgen.status"] == "succeeded"

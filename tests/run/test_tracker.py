"""generator/run/tracker.py: ftgen opens one MLflow run per `ftgen run` with its own facts, hands the trainer its
id, and adds the eval-set scores and the final status (a real MLflow SQLite store, no framework); the same facts go
to the W&B run (real wandb, offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.run.record import RunRecord
from generator.run.tracker import close_run, open_run
from generator.tracking import Tracking

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(autouse=True)
def _wandb_offline(monkeypatch):
    """No account, no network: W&B writes its run files only."""
    monkeypatch.setenv("WANDB_MODE", "offline")


PLAN = {
    "spec_sha256": "ab" * 32,
    "task": "sft",
    "method": "lora",
    "decisions": [
        {"key": "learning_rate", "value": 0.0002, "rule": "FT142"},
        {"key": "lora_target_modules", "value": ["q_proj", "v_proj"], "rule": "FT140"},
    ],
    "memory": {"total_gb": 1.23, "components": {"weights": 0.5, "overhead": 0.73}},
    "time_cost": {"hours": 0.1, "steps": 11},
}


def _record(tmp_path: Path) -> RunRecord:
    run_dir = tmp_path / "build" / "runs" / "20260101-000000-axolotl-abcd"
    run_dir.mkdir(parents=True)
    return RunRecord(run_id=run_dir.name, name="tiny", framework="axolotl", path=str(run_dir))


def test_one_mlflow_run_with_ftgens_facts_then_the_eval_scores(tmp_path):
    build = tmp_path / "build"
    tracked = Tracking(("mlflow", "wandb"), "tiny", "exp-1", "sqlite:///../specs/mlflow.db", "proj", {"team": "a"})
    (tmp_path / "specs").mkdir()
    record = _record(tmp_path)
    env = open_run(tracked, record, PLAN, build)
    store = f"sqlite:///{(tmp_path / 'specs' / 'mlflow.db').as_posix()}"
    assert env["MLFLOW_TRACKING_URI"] == store
    assert env["MLFLOW_RUN_ID"] == record.tracker["mlflow"]["run_id"]
    assert env["WANDB_RUN_ID"] == record.run_id and env["WANDB_RESUME"] == "allow"
    assert env["WANDB_NAME"] == record.run_id and env["WANDB_DIR"] == record.path
    assert record.tracker["wandb"] == {"project": "proj", "run_id": record.run_id, "dir": record.path}

    client = mlflow.tracking.MlflowClient(tracking_uri=store)
    run = client.get_run(env["MLFLOW_RUN_ID"])
    assert run.info.run_name == record.run_id
    assert client.get_experiment(run.info.experiment_id).name == "exp-1"
    assert run.data.tags["team"] == "a" and run.data.tags["ftgen.run_id"] == record.run_id
    assert run.data.params["ftgen.plan.learning_rate"] == "0.0002"
    assert run.data.params["ftgen.rule.learning_rate"] == "FT142"
    assert run.data.params["ftgen.plan.lora_target_modules"] == '["q_proj", "v_proj"]'
    assert run.data.params["ftgen.spec_sha256"] == PLAN["spec_sha256"]
    assert run.data.metrics["ftgen.memory_estimate_gb"] == 1.23
    # artifacts stay beside the store, not in the folder ftgen was started from
    assert (tmp_path / "specs" / "mlartifacts").is_dir()

    record.status = "succeeded"
    record.eval = {
        "summary": {"base": {"exact_match": 0.1}, "fine-tuned": {"exact_match": 0.6}},
        "delta": {"exact_match": 0.5},
    }
    close_run(record)
    run = client.get_run(env["MLFLOW_RUN_ID"])
    assert run.data.metrics["eval.fine-tuned.exact_match"] == 0.6
    assert run.data.metrics["eval.base.exact_match"] == 0.1
    assert run.data.metrics["eval.delta.exact_match"] == 0.5
    assert run.info.status == "FINISHED"


def test_ftgens_facts_and_the_eval_scores_go_into_the_wandb_run(tmp_path):
    """W&B like MLflow: the plan's decisions, spec hash and memory estimate before training, the eval-set scores
    after, all in the run the trainer writes (its id, resume=allow, its WANDB_DIR under the run folder)."""
    pytest.importorskip("wandb")
    from wandb_offline import read_run

    tracked = Tracking(("wandb",), "tiny", None, None, "proj", {"team": "a"})
    record = _record(tmp_path)
    env = open_run(tracked, record, PLAN, tmp_path / "build")
    assert env["WANDB_RUN_ID"] == record.run_id and env["WANDB_DIR"] == record.path
    before = read_run(Path(record.path), record.run_id)
    assert before["sessions"] == 1 and before["runs"][0]["run_id"] == record.run_id
    assert before["runs"][0]["project"] == "proj" and before["runs"][0]["tags"] == ["team:a"]
    assert before["config"]["ftgen.plan.learning_rate"] == 0.0002
    assert before["config"]["ftgen.rule.learning_rate"] == "FT142"
    assert before["config"]["ftgen.plan.lora_target_modules"] == ["q_proj", "v_proj"]
    assert before["config"]["ftgen.spec_sha256"] == PLAN["spec_sha256"]
    assert before["summary"]["ftgen.memory_estimate_gb"] == 1.23
    assert before["summary"]["ftgen.memory_estimate_gb.weights"] == 0.5

    record.status = "succeeded"
    record.eval = {
        "summary": {"base": {"exact_match": 0.1}, "fine-tuned": {"exact_match": 0.6}},
        "delta": {"exact_match": 0.5},
    }
    close_run(record)
    after = read_run(Path(record.path), record.run_id)
    assert after["sessions"] == 2 and {r["run_id"] for r in after["runs"]} == {record.run_id}
    assert after["summary"]["eval.fine-tuned.exact_match"] == 0.6
    assert after["summary"]["eval.base.exact_match"] == 0.1
    assert after["summary"]["eval.delta.exact_match"] == 0.5
    assert after["summary"]["ftgen.status"] == "succeeded" and after["exit_codes"] == [0, 0]
    import sys

    assert "wandb" in sys.modules  # imported by the run, lazily (the build path never imports it)


@pytest.mark.parametrize(
    ("caller", "mode"), [("offline", None), ("online", None), ("disabled", "online"), (None, None)]
)
def test_ftgens_wandb_calls_follow_the_callers_mode_but_not_an_off_switch(caller, mode, monkeypatch):
    """The trainer gets the caller's WANDB_MODE except `disabled` (Env.subprocess_env drops it when the spec asks for
    W&B); ftgen's own W&B calls do the same, so its facts land where the trainer's run is."""
    from generator.run.tracker import _wandb_mode

    if caller is None:
        monkeypatch.delenv("WANDB_MODE", raising=False)
    else:
        monkeypatch.setenv("WANDB_MODE", caller)
    assert _wandb_mode() == mode


def test_ftgen_run_without_wandb_stops_before_training_with_the_install_command(tmp_path, fake_env, monkeypatch):
    """wandb is ftgen's optional extra: a spec asking for W&B on a Python without it stops before training (exit 2,
    the pinned install command, no run folder left)."""
    import importlib.util

    from generator import run as runner
    from generator.errors import FtgenError
    from generator.tracking import WANDB_REQUIREMENT

    build = _tiny_build(tmp_path, {"backend": "wandb"})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    _probe_all_found(monkeypatch)
    with pytest.raises(FtgenError) as err:
        runner.start(build, on_line=lambda *a: None, evaluate=False)
    (problem,) = err.value.problems
    assert problem.key == "tracking.backend" and "cannot import wandb" in problem.message
    assert problem.allowed.endswith(f"-m pip install {WANDB_REQUIREMENT}")
    assert err.value.exit_code == 2
    assert not (build / "runs").exists() or not any((build / "runs").iterdir())


def test_a_failed_run_is_closed_as_failed(tmp_path):
    tracked = Tracking(("mlflow",), "tiny", "exp-2", "sqlite:///mlflow.db")
    record = _record(tmp_path)
    env = open_run(tracked, record, PLAN, tmp_path / "build")
    record.status = "failed"
    record.eval = {"error": "no model"}
    close_run(record)
    run = mlflow.tracking.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"]).get_run(env["MLFLOW_RUN_ID"])
    assert run.info.status == "FAILED" and run.data.tags["ftgen.eval_error"] == "no model"
    assert "wandb" not in record.tracker and "WANDB_RUN_ID" not in env


def _tiny_build(tmp_path: Path, tracking: dict) -> Path:
    """examples/tiny-cpu.yaml without eval, with `tracking`, built under tmp_path/outputs (spec in tmp_path/specs)."""
    import yaml

    from generator.build import build_file
    from generator.write import write_all

    repo = Path(__file__).resolve().parents[2]
    spec = yaml.safe_load((repo / "examples" / "tiny-cpu.yaml").read_text())
    spec["base_model"] = str(repo / "examples" / spec["base_model"])
    spec["data"]["train"][0]["path"] = str(repo / "examples" / spec["data"]["train"][0]["path"])
    spec.pop("eval")
    spec["tracking"] = tracking
    (tmp_path / "specs").mkdir()
    spec_file = tmp_path / "specs" / "tiny.yaml"
    spec_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    b = build_file(spec_file, tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return b.out_dir


def _probe_all_found(monkeypatch) -> None:
    """The fake env's python lacks wandb; ftgen run would (rightly) stop before training with the install command."""
    from generator.envs import _needs

    monkeypatch.setattr(_needs, "probe", lambda python, mods: dict.fromkeys(mods, True))


def test_ftgen_run_opens_the_tracker_run_and_the_trainer_gets_its_id(tmp_path, fake_env, monkeypatch):
    """`ftgen run` on a build with tracking: the trainer's environment names the tracker run ftgen created."""
    import json

    import yaml

    from generator import run as runner

    out_dir = _tiny_build(tmp_path, {"backend": ["mlflow", "wandb"], "project": "tiny-exp"})
    monkeypatch.setenv("FAKE_PRINT_TRACKER", "1")
    _probe_all_found(monkeypatch)
    rec = runner.start(out_dir, on_line=lambda *a: None, evaluate=False)
    assert rec.status == "succeeded"
    line = next(x for x in (Path(rec.path) / "train.log").read_text().splitlines() if x.startswith("tracker env:"))
    seen = json.loads(line.split(":", 1)[1])
    store = f"sqlite:///{(tmp_path / 'specs' / 'mlflow.db').resolve().as_posix()}"
    assert seen["MLFLOW_TRACKING_URI"] == store
    assert seen["MLFLOW_RUN_ID"] == rec.tracker["mlflow"]["run_id"]
    assert seen["MLFLOW_EXPERIMENT_NAME"] == "tiny-exp"
    assert seen["WANDB_MODE"] == "offline" and seen["WANDB_RUN_ID"] == rec.run_id == seen["WANDB_NAME"]
    cfg = yaml.safe_load((Path(rec.path) / "config.yaml").read_text())
    assert cfg["run_name"] == rec.run_id and cfg["report_to"] == ["mlflow", "wandb"]
    saved = json.loads((Path(rec.path) / "run.json").read_text())
    assert saved["tracker"]["mlflow"]["run_id"] == seen["MLFLOW_RUN_ID"]
    run = mlflow.tracking.MlflowClient(tracking_uri=store).get_run(seen["MLFLOW_RUN_ID"])
    assert run.info.status == "FINISHED" and run.data.params["ftgen.plan.report_to"] == '["mlflow", "wandb"]'


def test_what_the_trainer_logs_after_ending_the_run_is_folded_back(tmp_path):
    """HF's MLflowCallback ends the run at train end; a later evaluation starts a stray run: ftgen adopts it."""
    tracked = Tracking(("mlflow",), "tiny", "exp-3", "sqlite:///mlflow.db")
    record = _record(tmp_path)
    env = open_run(tracked, record, PLAN, tmp_path / "build")
    client = mlflow.tracking.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    exp_id = record.tracker["mlflow"]["experiment_id"]
    stray = client.create_run(exp_id).info.run_id  # what mlflow.log_metrics starts after end_run()
    client.log_metric(stray, "eval_loss", 1.5, step=3)
    other = client.create_run(exp_id, tags={"ftgen.run_id": "another-run"}).info.run_id  # another ftgen run
    record.status = "succeeded"
    close_run(record)
    ours = client.get_run(env["MLFLOW_RUN_ID"])
    assert ours.data.metrics["eval_loss"] == 1.5
    assert client.get_run(stray).info.lifecycle_stage == "deleted"
    assert client.get_run(other).info.lifecycle_stage == "active"

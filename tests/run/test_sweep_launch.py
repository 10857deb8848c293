"""A sweep on Slurm without a cluster: one array job for the unfinished trials (sbatch faked), each task a queued
run record with job id ARRAY_i and its eval after that task; an array task's state file is its own; SkyPilot
refuses a trial without sky.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _sweep import SWEEP, sweep_build

from generator.errors import FtgenError
from generator.run import slurm, sweep_launch
from generator.run.record import RunRecord


@pytest.fixture
def sbatch(monkeypatch):
    calls = []

    def fake(argv, cwd, env=None):
        calls.append(argv)
        return str(100 + len(calls))

    monkeypatch.setattr(slurm, "_sbatch", fake)
    monkeypatch.setattr(slurm, "_tool", lambda name: name)
    return calls


def test_unfinished_trials_go_in_one_array_job(tmp_path, fake_env, sbatch):
    out = sweep_build(tmp_path)
    records = sweep_launch.submit_slurm(out, None)
    assert [r.scheduler["job_id"] for r in records] == ["101_0", "101_1"]
    script = Path(sbatch[0][-1])
    text = script.read_text()
    assert "#SBATCH --array=0-1" in text and "#SBATCH --time=" in text and "exec bash slurm.sbatch llamafactory" in text
    for r in records:
        assert r.status == "queued" and r.launcher == "slurm" and r.path in text
        assert Path(r.path).parent.parent.parent.name == "trials"
        assert RunRecord.load(r.path).sweep_trial["id"] == Path(r.path).parent.parent.name
    assert [next(a for a in c if a.startswith("--dependency")) for c in sbatch[1:]] == [
        "--dependency=afterok:101_0",
        "--dependency=afterok:101_1",
    ]
    assert [r.scheduler["eval_job_id"] for r in records] == ["102", "103"]


def test_an_array_tasks_state_file_names_its_own_job_id(tmp_path):
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    r = RunRecord(run_id="r1", name="x", framework="llamafactory", path=str(run_dir))
    r.scheduler = {"kind": "slurm", "job_id": "101_1", "array_job_id": "101"}
    (run_dir / slurm.STATE_FILE).write_text(json.dumps({"state": "succeeded", "exit_code": 0, "job_id": "105"}))
    assert slurm.read_state(r) is None  # no task file yet: not provably this task's
    (run_dir / slurm.TASK_FILE).write_text(json.dumps({"job_id": "105", "array_job_id": "101", "task": 1}))
    assert slurm.read_state(r)["state"] == "succeeded"


def test_skypilot_needs_a_sky_yaml_per_trial(tmp_path, fake_env):
    out = sweep_build(tmp_path)
    with pytest.raises(FtgenError, match="sky.yaml"):
        sweep_launch.submit_skypilot(out, None)


def test_time_limits_compare_as_durations():
    assert sweep_launch._seconds("1-00:00:00") > sweep_launch._seconds("23:59:59") > sweep_launch._seconds("90")


def test_wait_follows_every_task_and_fails_when_one_failed(tmp_path, fake_env, sbatch, monkeypatch, cli):
    out = sweep_build(tmp_path)
    followed = []

    def wait(record, on_line=None):
        followed.append(record.scheduler["job_id"])
        record.status = "failed" if record.scheduler["array_task"] == 1 else "succeeded"
        return record

    monkeypatch.setattr(slurm, "wait", wait)
    result = cli("run", str(out), "--launcher", "slurm", "--wait", "--no-eval")
    assert followed == ["101_0", "101_1"]
    assert result.exit_code == 3, result.output
    assert "tiny-cpu-t00-lr1e-3: succeeded" in result.output and "tiny-cpu-t01-lr5e-3: failed" in result.output


TRACKED = "tracking:\n  backend: mlflow\n  project: ftgen-sweep\n"


def _task_env(script: str, task: int, tmp_path: Path) -> dict[str, str]:
    """The environment array task `task` hands its trial's slurm.sbatch (the script run by bash up to its exec)."""
    import subprocess

    text = "\n".join("env" if line.startswith("exec bash slurm.sbatch") else line for line in script.splitlines())
    env = {"PATH": "/usr/bin:/bin", "SLURM_ARRAY_TASK_ID": str(task), "SLURM_JOB_ID": "7", "SLURM_ARRAY_JOB_ID": "6"}
    done = subprocess.run(["bash", "-c", text], env=env, capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def test_each_array_task_logs_into_its_own_tracker_run(tmp_path, fake_env, sbatch):
    """Trials of an array job are tracked as single Slurm runs are: each trial's tracker run opens at submission
    and its task's trainer gets that run's variables."""
    mlflow = pytest.importorskip("mlflow")
    out = sweep_build(tmp_path, SWEEP + TRACKED)
    records = sweep_launch.submit_slurm(out, None, evaluate=False)
    links = [r.tracker["mlflow"] for r in records]
    assert len({link["run_id"] for link in links}) == 2
    script = Path(sbatch[0][-1]).read_text()
    for i, (r, link) in enumerate(zip(records, links)):
        env = _task_env(script, i, tmp_path)
        assert env["FTGEN_RUN_DIR"] == r.path
        assert (env["MLFLOW_RUN_ID"], env["MLFLOW_EXPERIMENT_ID"]) == (link["run_id"], link["experiment_id"])
        assert env["MLFLOW_TRACKING_URI"] == link["tracking_uri"]
        client = mlflow.tracking.MlflowClient(tracking_uri=link["tracking_uri"])
        run = client.get_run(link["run_id"])
        assert run.info.status == "RUNNING" and run.info.run_name == r.run_id
    records[0].tracker = None  # a task without a tracker run exports none of its variables
    text = sweep_launch.array_script("x", [(Path(r.path).parent.parent, r) for r in records], "llamafactory", out)
    assert "tracker_mlflow_run_id=('' " in text
    assert "MLFLOW_RUN_ID" not in _task_env(text, 0, tmp_path) and "MLFLOW_RUN_ID" in _task_env(text, 1, tmp_path)


def test_a_tracker_that_cannot_be_reached_stops_the_array_before_submission(tmp_path, fake_env, sbatch, monkeypatch):
    """The second trial's tracker run cannot open: nothing is submitted, the first trial's run ends failed and its
    tracker run is closed as failed; the second leaves no run folder."""
    opened, closed = [], []

    def open_run(tracked, record, plan, build_dir):
        if opened:
            raise ConnectionError("tracking server unreachable")
        opened.append(record.run_id)
        record.tracker = {"mlflow": {"run_id": "abc", "tracking_uri": "sqlite:///x.db", "experiment_id": "1"}}
        return {"MLFLOW_RUN_ID": "abc"}

    monkeypatch.setattr("generator.run.tracker.open_run", open_run)
    monkeypatch.setattr("generator.run._close_tracker", lambda record: closed.append(record.status))
    out = sweep_build(tmp_path, SWEEP + TRACKED)
    with pytest.raises(FtgenError, match="cannot open the tracker run"):
        sweep_launch.submit_slurm(out, None)
    assert sbatch == [] and closed == ["failed"]
    runs = sorted(out.glob("trials/*/runs/*/run.json"))
    assert len(runs) == 1
    saved = RunRecord.load(runs[0].parent)
    assert saved.status == "failed" and "could not be prepared" in saved.note and saved.tracker["closed_at"]

"""A Slurm run's status, derived from the job's own state file and squeue (stubbed), never written by listings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.run import derive_status, refresh
from generator.run.record import RunRecord
from generator.run.stop import STOPPERS, stop


def _record(tmp_path: Path, **sched) -> RunRecord:
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    r = RunRecord(run_id="r1", name="x", framework="llamafactory", path=str(run_dir))
    r.launcher, r.status = "slurm", "queued"
    r.scheduler = {"kind": "slurm", "job_id": "12", "submit_command": "sbatch slurm.sbatch", **sched}
    r.save()
    return r


@pytest.fixture
def squeue(tmp_path, monkeypatch):
    """squeue / scancel stubs: squeue prints $SQUEUE_OUT (and $SQUEUE_ERR on stderr) and exits $SQUEUE_RC;
    scancel logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "squeue").write_text(
        '#!/bin/sh\nprintf "%s" "$SQUEUE_OUT"\nprintf "%s" "$SQUEUE_ERR" >&2\nexit "${SQUEUE_RC:-0}"\n'
    )
    (bin_dir / "scancel").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/scancel.log\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")

    def listed(text: str) -> None:
        monkeypatch.setenv("SQUEUE_OUT", text)

    listed("")
    return listed


CASES = [
    # squeue says, state file says -> derived status
    ("PENDING|Resources\n", None, "queued", "PENDING (Resources)"),
    ("RUNNING|None\n", {"state": "running", "exit_code": None}, "running", "RUNNING"),
    ("", {"state": "succeeded", "exit_code": 0}, "succeeded", "succeeded"),
    ("", {"state": "failed", "exit_code": 3}, "failed", "failed"),
    ("COMPLETING|None\n", {"state": "cancelled", "exit_code": 143}, "cancelled", "cancelled"),
    ("", {"state": "running", "exit_code": None}, "failed", "without recording its end"),
    ("", None, "failed", "never started"),
    # the job saved a checkpoint on its time-limit signal and requeued itself: not ended, queued again
    ("PENDING|BeginTime\n", {"state": "requeued", "exit_code": None}, "queued", "requeued after the time-limit"),
    # ...and Slurm ended it before the requeued attempt started (its batch script never ran again): failed
    ("", {"state": "requeued", "exit_code": None}, "failed", "ended it before the requeued attempt started"),
]


@pytest.mark.parametrize("listed,state,status,note", CASES)
def test_status_comes_from_the_state_file_then_squeue_and_listing_never_writes(
    tmp_path, squeue, listed, state, status, note
):
    r = _record(tmp_path)
    squeue(listed)
    if state is not None:
        (r.dir / "slurm-state.json").write_text(json.dumps({**state, "job_id": "12", "at": "2026-01-01T00:00:00Z"}))
    before = (r.dir / "run.json").read_text()
    d = derive_status(r)
    assert (d.status, note in (d.note or "")) == (status, True), d
    assert (r.dir / "run.json").read_text() == before  # derived in memory only


def test_a_state_file_of_another_job_is_not_this_attempts(tmp_path, squeue):
    r = _record(tmp_path)
    (r.dir / "slurm-state.json").write_text(json.dumps({"state": "succeeded", "exit_code": 0, "job_id": "11"}))
    squeue("PENDING|Priority\n")
    assert derive_status(r).status == "queued"


def test_refresh_saves_the_end_state_with_exit_code_and_collects(tmp_path, squeue):
    r = _record(tmp_path)
    (r.dir / "slurm-state.json").write_text(
        json.dumps({"state": "failed", "exit_code": 3, "job_id": "12", "at": "2026-01-01T00:00:00Z"})
    )
    assert refresh(r) is True
    saved = RunRecord.load(r.dir)
    assert (saved.status, saved.exit_code, saved.finished_at) == ("failed", 3, "2026-01-01T00:00:00Z")
    assert saved.checkpoints == [] and saved.scheduler["state"] == "ENDED"
    assert refresh(saved) is False  # ended records stay as saved


def test_stop_scancels_the_job_and_its_eval_job(tmp_path, squeue):
    assert "slurm" in STOPPERS
    r = _record(tmp_path, eval_job_id="13")
    squeue("RUNNING|None\n")
    result = stop(r)
    assert (tmp_path / "scancel.log").read_text().split() == ["12", "13"]
    assert "scancel" in result.message and RunRecord.load(r.dir).scheduler["cancel_requested_at"]
    squeue("")  # the job is gone and never wrote its end: cancelled, as ftgen stop asked
    assert derive_status(RunRecord.load(r.dir)).status == "cancelled"


def test_a_requeued_job_records_the_attempt_and_resumes_from_the_last_checkpoint(built, tmp_path, monkeypatch):
    """What slurm.sbatch runs at the start of a requeued job (SLURM_RESTART_COUNT > 0)."""
    import yaml

    from generator.run.record import new_run_dir
    from generator.run.slurm import requeued

    run_id, run_dir = new_run_dir(built.resolve() / "runs", "llamafactory")
    r = RunRecord(run_id=run_id, name="tiny-cpu", framework="llamafactory", path=str(run_dir))
    r.launcher, r.status = "slurm", "running"
    r.scheduler = {"kind": "slurm", "job_id": "12"}
    r.save()
    for step in (10, 17):  # 17: saved on the signal, between save_steps multiples
        (run_dir / "model" / f"checkpoint-{step}").mkdir(parents=True)
        (run_dir / "model" / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    (run_dir / ".ftgen-saved-on-signal.json").write_text('{"step": 17}')  # the trainer hook's mark
    assert requeued(str(run_dir)) == 0
    rec = RunRecord.load(run_dir)
    assert rec.status == "running" and rec.scheduler["requeues"] == 1 and rec.finished_at is None
    [attempt] = rec.attempts
    assert attempt["status"] == "interrupted" and attempt["job_id"] == "12"
    assert "time-limit signal: checkpoint saved at step 17" in attempt["requeued"]
    assert attempt["last_checkpoint"].endswith("checkpoint-17")
    for name in ("config.yaml", "llamafactory.yaml"):  # launch.sh reads the framework's file name
        cfg = yaml.safe_load((run_dir / name).read_text())
        assert cfg["resume_from_checkpoint"].endswith("checkpoint-17")
    (run_dir / ".ftgen-saved-on-signal.json").unlink()
    assert requeued(str(run_dir)) == 0  # Slurm requeued it by itself (node failure): counted, said so
    rec = RunRecord.load(run_dir)
    assert rec.scheduler["requeues"] == 2 and "node failure" in rec.attempts[1]["requeued"]
    from generator.run.summary import _where

    assert "requeued 2x" in _where(rec.scheduler)  # what `ftgen show` prints on its scheduler line


def test_a_requeued_job_stopped_while_it_waits_is_cancelled(tmp_path, squeue):
    r = _record(tmp_path, cancel_requested_at="2026-01-01T00:00:00Z")
    (r.dir / "slurm-state.json").write_text(json.dumps({"state": "requeued", "exit_code": None, "job_id": "12"}))
    assert derive_status(r).status == "cancelled"  # scancel of a pending job: no batch script to record it


def test_a_requeued_job_slurm_killed_before_it_started_again_is_failed_and_refresh_saves_it(
    tmp_path, squeue, monkeypatch
):
    """CI: slurmctld "Killing non-startable batch JobId=43: Job credential revoked" after `scontrol requeue`: the
    batch script never runs again, so nothing writes the end; squeue forgets the job ("Invalid job id")."""
    r = _record(tmp_path, state="PENDING", requeues=1)
    (r.dir / "slurm-state.json").write_text(
        json.dumps({"state": "requeued", "exit_code": None, "job_id": "12", "at": "2026-01-01T00:00:00Z"})
    )
    squeue("PENDING|BeginTime\n")
    assert derive_status(r).status == "queued"  # requeued and waiting for its next attempt: queued
    squeue("")
    monkeypatch.setenv("SQUEUE_RC", "1")
    monkeypatch.setenv("SQUEUE_ERR", "slurm_load_jobs error: Invalid job id specified\n")
    before = (r.dir / "run.json").read_text()
    d = derive_status(r)
    assert (d.status, d.stale) == ("failed", True)
    assert "Slurm job 12" in d.note and "before the requeued attempt started" in d.note
    assert (r.dir / "run.json").read_text() == before  # `ftgen runs` / `show` never write
    assert refresh(r) is True  # `ftgen runs --refresh` does
    saved = RunRecord.load(r.dir)
    assert (saved.status, saved.exit_code, saved.scheduler["state"]) == ("failed", None, "ENDED")
    assert saved.finished_at and "before the requeued attempt started" in saved.note
    assert derive_status(saved).status == "failed"  # ended records stay as saved


def test_squeue_that_cannot_reach_the_controller_leaves_the_recorded_status(tmp_path, squeue, monkeypatch):
    """No answer from Slurm is not "the job is gone": neither a running nor a requeued run turns failed."""
    r = _record(tmp_path)
    monkeypatch.setenv("SQUEUE_RC", "1")
    monkeypatch.setenv("SQUEUE_ERR", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")
    for state in ("running", "requeued"):
        (r.dir / "slurm-state.json").write_text(json.dumps({"state": state, "exit_code": None, "job_id": "12"}))
        d = derive_status(r)
        assert (d.status, d.stale) == ("queued", False), d
        assert "Unable to contact slurm controller" in d.note
        assert refresh(r) is False and RunRecord.load(r.dir).status == "queued"


@pytest.mark.parametrize(
    ("state", "eval_job", "closed"),
    [
        ({"state": "succeeded", "exit_code": 0}, "13", False),  # the eval job closes it after scoring
        ({"state": "succeeded", "exit_code": 0}, None, True),  # no eval job: the refresh that sees the end
        ({"state": "failed", "exit_code": 3}, "13", True),  # the eval job never runs after a failed training
        ({"state": "running", "exit_code": None}, None, False),  # still training
    ],
)
def test_refresh_closes_the_tracker_run_once_when_no_eval_job_will(
    tmp_path, squeue, monkeypatch, state, eval_job, closed
):
    from generator.run import slurm

    calls = []
    monkeypatch.setattr("generator.run._close_tracker", lambda record: calls.append(record.status))
    r = _record(tmp_path, eval_job_id=eval_job)
    r.tracker = {"mlflow": {"run_id": "abc", "tracking_uri": "sqlite:///x.db", "experiment_id": "1"}}
    r.save()
    squeue("RUNNING|None\n" if state["state"] == "running" else "")
    (r.dir / "slurm-state.json").write_text(json.dumps({**state, "job_id": "12", "at": "2026-01-01T00:00:00Z"}))
    refresh(r)
    saved = RunRecord.load(r.dir)
    assert bool(saved.tracker.get("closed_at")) == closed and calls == ([state["state"]] if closed else [])
    slurm.close_tracker(saved)  # the eval job's close, or a second one after the refresh's: one close in all
    slurm.close_tracker(RunRecord.load(r.dir))
    assert len(calls) == 1

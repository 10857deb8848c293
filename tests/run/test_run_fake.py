"""ftgen run's orchestration against a fake framework: run folders, records, metrics, signals, resume, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator import run as runner
from generator.run import RunRecord, derive_status, find_runs, refresh


def test_run_records_everything(built, fake_env, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    monkeypatch.setenv("FAKE_PRINT_SECRET", "1")
    lines = []
    rec = runner.start(built, on_line=lambda line, bar: lines.append(line))
    assert rec.status == "succeeded" and rec.exit_code == 0
    run_dir = Path(rec.path)
    assert run_dir.parent == (built / "runs").resolve()
    data = json.loads((run_dir / "run.json").read_text())
    for key in (
        "status",
        "started_at",
        "finished_at",
        "exit_code",
        "framework",
        "versions",
        "env_python",
        "config_sha256",
        "spec_sha256",
        "datasets",
        "checkpoints",
        "metrics",
        "history",
    ):
        assert data[key] not in (None, "", []), key
    assert [c["step"] for c in data["checkpoints"]] == [2, 4, 6]
    assert data["metrics"]["eval_loss"] == pytest.approx(round(5 / 6, 4) + 0.1)
    assert data["metrics"]["last_loss"] < data["metrics"]["first_loss"]
    assert (run_dir / "loss.png").stat().st_size > 1000
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["output_dir"] == str(run_dir / "model")
    assert Path(cfg["dataset_dir"]).is_absolute() and Path(cfg["model_name_or_path"]).is_absolute()
    assert "secret seen by child: yes" in (run_dir / "train.log").read_text()
    assert "using token ***" in (run_dir / "train.log").read_text()
    assert not any("hf_secret_value_123" in line for line in lines), "the terminal echo is masked too"
    for name in ("run.json", "config.yaml", "train.log"):
        assert "hf_secret_value_123" not in (run_dir / name).read_text(), name


def test_runs_never_reuse_a_folder(built, fake_env):
    a = runner.start(built, on_line=lambda *a: None)
    b = runner.start(built, on_line=lambda *a: None)
    assert a.run_id != b.run_id and Path(a.path).is_dir() and Path(b.path).is_dir()
    assert json.loads((Path(a.path) / "run.json").read_text())["status"] == "succeeded"


def test_failed_run_is_recorded(built, fake_env, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    rec = runner.start(built, on_line=lambda *a: None)
    assert rec.status == "failed" and rec.exit_code == 1
    assert rec.last_checkpoint.endswith("checkpoint-2")


def test_sigint_is_forwarded_and_resume_finishes(built, fake_env, monkeypatch):
    monkeypatch.setenv("FAKE_STEPS", "40")
    monkeypatch.setenv("FAKE_SLEEP", "0.05")
    seen = []

    def on_line(line, bar):
        seen.append(line)
        if "checkpoint" not in line and len(seen) == 12:
            os.kill(os.getpid(), signal.SIGINT)  # as a user pressing Ctrl-C at ftgen

    rec = runner.start(built, on_line=on_line)
    assert rec.status == "interrupted" and rec.signal == "SIGINT"
    assert rec.last_checkpoint is not None
    step = int(rec.last_checkpoint.rsplit("-", 1)[1])
    monkeypatch.setenv("FAKE_SLEEP", "0")
    again = runner.resume(rec.path, on_line=lambda *a: None)
    assert again.run_id == rec.run_id and again.status == "succeeded"
    assert again.attempts[0]["status"] == "interrupted"
    cfg = yaml.safe_load((Path(rec.path) / "config.yaml").read_text())
    assert cfg["resume_from_checkpoint"].endswith(f"checkpoint-{step}")
    assert again.metrics["global_step"] == 40


def test_resume_without_checkpoint_is_an_error(built, fake_env, monkeypatch):
    from generator.errors import FtgenError

    monkeypatch.setenv("FAKE_FAIL_AT", "1")
    rec = runner.start(built, on_line=lambda *a: None)
    with pytest.raises(FtgenError, match="no checkpoint"):
        runner.resume(rec.path, on_line=lambda *a: None)


def test_stale_running_record_is_marked(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a pid that is gone, like an ftgen killed with -9
    run_dir = tmp_path / "outputs" / "x" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    rec = RunRecord(run_id="r1", name="x", framework="llamafactory", path=str(run_dir), pid=proc.pid)
    rec.save()
    before = (run_dir / "run.json").read_bytes()
    assert find_runs(tmp_path / "outputs") == [run_dir]
    derived = derive_status(RunRecord.load(run_dir))
    assert derived.stale and derived.status == "interrupted" and "stale" in derived.note
    assert (run_dir / "run.json").read_bytes() == before, "deriving a status never writes"
    assert refresh(RunRecord.load(run_dir))
    again = RunRecord.load(run_dir)
    assert again.status == "interrupted" and "stale" in again.note
    assert not refresh(again)


def test_cli_run_requires_an_eval_set_or_the_flag(tmp_path, cli):
    from generator.build import build_file
    from generator.write import write_all

    b = build_file(Path(__file__).parents[1] / "cases" / "good" / "qlora-5k-axolotl.yaml", tmp_path)
    write_all(b.out_dir, b.files)
    result = cli("run", str(b.out_dir))
    assert result.exit_code == 2 and "build an eval set first" in result.output


def test_cli_run_with_two_frameworks_asks_which(tmp_path, cli):
    from generator.build import build_file
    from generator.write import write_all

    b = build_file(Path(__file__).parents[1] / "cases" / "good" / "cpu-tiny-local-model.yaml", tmp_path)
    write_all(b.out_dir, b.files)
    result = cli("run", str(b.out_dir), "--without-eval-set")
    assert result.exit_code == 2 and "choose one" in result.output


def test_run_of_a_spec_or_a_config_says_what_to_run(tmp_path, cli):
    """People pass the spec, or the framework config, where the build folder goes: the error says what to run."""
    spec = tmp_path / "bot.yaml"
    spec.write_text("name: bot\nbase_model: Qwen/Qwen2.5-0.5B\ndata:\n  train: [{path: org/ds, format: alpaca}]\n")
    result = cli("run", str(spec))
    assert result.exit_code == 2 and "a spec, not a build folder" in result.output
    assert f"ftgen build {spec}" in result.output and "ftgen run outputs/bot" in result.output
    build = tmp_path / "outputs" / "bot"
    build.mkdir(parents=True)
    (build / "plan.json").write_text("{}")
    (build / "axolotl.yaml").write_text("base_model: x\n")
    result = cli("run", str(build / "axolotl.yaml"))
    assert result.exit_code == 2 and f"ftgen run {build}" in result.output
    assert "Traceback" not in result.output

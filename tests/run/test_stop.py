"""`ftgen stop` on a live `ftgen run` (the fake framework, real processes): the identity ftgen records when it
starts is the one `stop` proves, so the run stops cleanly and is recorded as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

DRIVER = """
import sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from generator import envs
import generator.run as runner

bin_dir = Path({bin_dir!r})

def make(framework, root=None):
    return envs.Env(framework=framework, version="0.0-fake", root=bin_dir.parent / "fake-env",
                    python=Path(sys.executable), bin_dir=bin_dir, torch_flavor="cpu", external=True)

runner.envs.get_env = make
runner._validated_natively = lambda prep, env, text, resolved: {{"schema": True, "native": False, "cached": False}}
from generator.cli import main
main(sys.argv[1:])
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_stop_ends_a_live_run_which_records_itself_interrupted(built_tiny, tmp_path, cli):
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name in ("llamafactory-cli", "axolotl"):
        launcher = bin_dir / name
        launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {HERE / "fake_framework.py"} "$@"\n')
        launcher.chmod(0o755)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.format(repo=str(REPO), bin_dir=str(bin_dir)))
    env = {**os.environ, "FAKE_STEPS": "300", "FAKE_SLEEP": "0.1"}
    proc = subprocess.Popen(
        [sys.executable, str(driver), "run", str(built_tiny), "--without-eval-set", "--no-eval", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        record = None
        while time.monotonic() < deadline:
            found = list(built_tiny.glob("runs/*/run.json"))
            if found:
                record = json.loads(found[0].read_text())
                if record.get("child_pid") and record.get("child_start_ticks"):
                    break
            time.sleep(0.1)
        assert record and record["child_pid"], "the run never started"
        assert record["pid"] == proc.pid and record["pid_start_ticks"] and record["boot_id"]
        listed = cli("runs", str(built_tiny), "--json")
        assert json.loads(listed.output)[0]["status"] == "running"
        stopped = cli("stop", record["run_id"], "--root", str(built_tiny))
        assert stopped.exit_code == 0 and "sent SIGTERM to ftgen" in stopped.output, stopped.output
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 3, proc.stdout.read().decode(errors="replace")[-2000:]
    final = json.loads(next(built_tiny.glob("runs/*/run.json")).read_text())
    assert final["status"] == "interrupted" and final["signal"] == "SIGTERM", final
    again = cli("stop", record["run_id"], "--root", str(built_tiny))
    assert again.exit_code == 0 and "not running" in again.output


def test_another_launcher_plugs_in_its_own_stop(tmp_path, cli, monkeypatch):
    """The Slurm path (scancel) registers itself for records whose launcher is slurm; the local path never
    sees them, and a launcher nobody registered is a clean refusal."""
    from generator.run import RunRecord, stop

    calls = []

    def fake_scancel(record, orphans):
        calls.append((record.run_id, orphans))
        return stop.StopResult(f"scancel {record.run_id}")

    monkeypatch.setitem(stop.STOPPERS, "slurm", fake_scancel)
    for run_id, launcher in (("r-slurm", "slurm"), ("r-sky", "skypilot x2")):
        d = tmp_path / "outputs" / "job" / "runs" / run_id
        d.mkdir(parents=True)
        RunRecord(run_id=run_id, name="job", framework="axolotl", path=str(d), launcher=launcher).save()
    res = cli("stop", "r-slurm", "--root", str(tmp_path / "outputs"), "--orphans")
    assert res.exit_code == 0 and "scancel r-slurm" in res.output and calls == [("r-slurm", True)]
    res = cli("stop", "r-sky", "--root", str(tmp_path / "outputs"))
    assert res.exit_code == 2 and "cannot stop runs launched with 'skypilot'" in res.output

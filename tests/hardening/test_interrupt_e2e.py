"""Real interrupted runs on the tiny model with LLaMA-Factory: SIGINT/SIGTERM stop and resume; kill -9 is found stale.

Needs the llamafactory env (`ftgen env install llamafactory`; FTGEN_HOME points at it). Each test trains a tiny
random Llama on CPU for up to 200 steps, checkpointing every 10.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from generator import envs

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
# The tiny model trains at ~35 steps/s on an idle 2-core machine: 40 steps could end before the test,
# polling for the first checkpoint every 0.2 s, got its signal in. 200 leave a window of several seconds.
MAX_STEPS = 200
SAVE_STEPS = 10
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lf_env():
    env = envs.get_env("llamafactory")
    if env is None:
        pytest.skip("no llamafactory env (run `ftgen env install llamafactory`)")
    return env


@pytest.fixture
def build(lf_env, request, tmp_path, cli):
    model = request.getfixturevalue("tiny_model_prefs")  # the session's, once lf_env has skipped without the env
    spec = {
        "name": "interrupt-me",
        "base_model": str(model),
        "method": "lora",
        "framework": "llamafactory",
        "hardware": {"gpu": "CPU"},
        "sequence_len": 128,
        "data": {"train": [{"path": str(DATA / "colours-train.jsonl"), "format": "alpaca"}]},
        "overrides": {
            "max_steps": MAX_STEPS,
            "save_steps": SAVE_STEPS,
            "eval_steps": MAX_STEPS,
            "logging_steps": 1,
            "learning_rate": 5.0e-3,
            "packing": False,
            "micro_batch_size": 4,
            "gradient_accumulation_steps": 1,
        },
    }
    path = tmp_path / "interrupt-me.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = cli("build", str(path), "--out", str(tmp_path / "outputs"))
    assert result.exit_code == 0, result.output
    return tmp_path / "outputs" / "interrupt-me"


def _ftgen(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator.cli", *args]


def _env() -> dict:
    # one thread each: the tiny model gains nothing from more, and a shared CI machine loses a lot
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start_run(build: Path, log: Path) -> subprocess.Popen:
    """`ftgen run` as a user starts it, in its own session so that only the signals the test sends reach it."""
    return subprocess.Popen(
        _ftgen("run", str(build), "--quiet", "--without-eval-set", "--no-eval", "--skip-native-validation"),
        cwd=REPO,
        env=_env(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _run_dir(build: Path) -> Path:
    [run_dir] = [p for p in (build / "runs").iterdir() if p.is_dir()]
    return run_dir


def _record(build: Path) -> dict:
    return json.loads((_run_dir(build) / "run.json").read_text())


def _wait_for_checkpoint(proc: subprocess.Popen, build: Path, log: Path, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sorted(build.glob("runs/*/model/checkpoint-*/trainer_state.json"))
        if done:
            return done[0].parent
        if proc.poll() is not None:
            pytest.fail(f"ftgen run ended (exit {proc.returncode}) before a checkpoint:\n{_tail(build, log)}")
        time.sleep(0.2)
    pytest.fail(f"no checkpoint within {timeout} s:\n{_tail(build, log)}")


def _tail(build: Path, log: Path) -> str:
    text = log.read_text(errors="replace")[-2000:]
    for train_log in build.glob("runs/*/train.log"):
        text += "\n--- train.log ---\n" + train_log.read_text(errors="replace")[-4000:]
    return text


def _children(pid: int) -> list[int]:
    """Processes whose parent is pid (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie waiting for a parent that will not reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_run_and_resume_finishes_it(lf_env, build, tmp_path, sig):
    t0 = time.monotonic()
    log = tmp_path / "ftgen.log"
    proc = _start_run(build, log)
    try:
        checkpoint = _wait_for_checkpoint(proc, build, log)
        trainers = _children(proc.pid)
        assert trainers, "the framework runs as a child of ftgen"
        t_signal = time.monotonic()
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    t_stopped = time.monotonic()
    assert code == 3, _tail(build, log)  # Exit.RUN_FAILED: the run did not finish
    rec = _record(build)
    assert rec["status"] == "interrupted" and rec["signal"] == sig.name, rec
    assert rec["last_checkpoint"] and Path(rec["last_checkpoint"]).is_dir()
    assert int(rec["last_checkpoint"].rsplit("-", 1)[1]) >= int(checkpoint.name.rsplit("-", 1)[1])
    assert (Path(rec["last_checkpoint"]) / "trainer_state.json").is_file(), "the last checkpoint is a whole one"
    assert not any(_alive(pid) or _group_alive(pid) for pid in trainers), "the framework (and its group) is gone"
    assert rec["metrics"].get("global_step", MAX_STEPS) < MAX_STEPS

    resumed = subprocess.run(
        _ftgen("run", str(build), "--resume", rec["run_id"], "--quiet", "--no-eval", "--skip-native-validation"),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    t_done = time.monotonic()
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:] + _tail(build, log)
    again = _record(build)
    assert again["run_id"] == rec["run_id"] and again["status"] == "succeeded"
    assert again["metrics"]["global_step"] == MAX_STEPS
    assert again["attempts"][0]["status"] == "interrupted" and again["attempts"][0]["signal"] == sig.name
    config = yaml.safe_load((_run_dir(build) / "config.yaml").read_text())
    assert config["resume_from_checkpoint"] == rec["last_checkpoint"]
    print(
        f"\n[timing] {sig.name}: first checkpoint after {t_signal - t0:.0f} s, stopped {t_stopped - t_signal:.1f} s "
        f"after the signal, resume to step {MAX_STEPS} took {t_done - t_stopped:.0f} s; total {t_done - t0:.0f} s"
    )


def test_kill_9_of_ftgen_is_found_stale_and_stop_orphans_ends_its_trainer(lf_env, build, tmp_path):
    """kill -9 of ftgen: `runs` shows the run interrupted without writing, `runs --refresh` saves it, and
    `ftgen stop --orphans` stops the trainer that outlived ftgen, proven by boot id, start time and command line."""
    t0 = time.monotonic()
    log = tmp_path / "ftgen.log"
    proc = _start_run(build, log)
    trainers: list[int] = []
    try:
        _wait_for_checkpoint(proc, build, log)
        trainers = _children(proc.pid)
        assert trainers
        os.kill(proc.pid, signal.SIGKILL)  # ftgen dies without a word; nothing updates run.json
        proc.wait(timeout=30)
        assert _record(build)["status"] == "running"
        listing = subprocess.run(
            _ftgen("runs", str(build), "--json"), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120
        )
        assert listing.returncode == 0, listing.stderr
        [row] = json.loads(listing.stdout)
        assert row["status"] == "interrupted" and row["stale"], row
        assert _record(build)["status"] == "running", "listing is read-only"
        record = _record(build)
        assert record["boot_id"] and record["child_start_ticks"] and record["child_cmdline"], record
        orphaned = [p for p in trainers if _group_alive(p)]
        stop = subprocess.run(
            _ftgen("stop", record["run_id"], "--root", str(build), "--orphans"),
            cwd=REPO,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        print(f"\n[stop --orphans] trainer groups alive before: {orphaned}; {stop.stdout.strip()}{stop.stderr.strip()}")
        if orphaned:
            assert stop.returncode == 0 and "sent SIGTERM to the orphaned trainer" in stop.stdout, (
                stop.stdout + stop.stderr
            )
        else:  # the trainer died with ftgen (PR_SET_PDEATHSIG): nothing to stop, and nothing signalled
            assert stop.returncode == 0 and "sent SIGTERM" not in stop.stdout, stop.stdout + stop.stderr
        deadline = time.monotonic() + 60
        while any(_group_alive(p) for p in trainers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_group_alive(p) for p in trainers), "ftgen stop --orphans left the trainer running"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pgid in trainers:  # whatever happened above, leave no trainer behind
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    rec = _record(build)
    assert rec["status"] == "interrupted" and "stale" in rec["note"] and rec["finished_at"]
    print(f"\n[timing] kill -9: checkpoint, kill, stale listing and stop --orphans in {time.monotonic() - t0:.0f} s")

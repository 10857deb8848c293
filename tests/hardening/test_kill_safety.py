"""`ftgen runs`, `show` and `stop` never signal a process a run record merely names (issue 12, item 1).

The old `ftgen runs` sent SIGTERM to whatever process group a stale record named: a record "running" here whose
trainer pid was 1 made it call killpg(1), i.e. kill(-1), every process on the machine. Listings are read-only
now, and `ftgen stop` signals only a process it proves is the run's (pgid > 1, boot id, start time, command line).

Two proofs: the scenarios run as PID 1 of a private PID namespace (real signals: a record naming group 1 would
be kill(-1) there, and a foreign process logs any signal it gets), and in-process with os.kill / os.killpg /
pidfd_send_signal patched, for machines where unshare is not allowed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import _kill_scenarios as ks
import pytest

HERE = Path(__file__).resolve().parent


def _unshare_works() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


def _check_outcome(result: dict) -> None:
    """What must hold however the scenarios ran."""
    for c in result["listings"] + result["stops"]:
        assert c["err"] == "", f"traceback from {c['args']}: {c['err']}"
        assert c["code"] in (0, 2), c
    for c in result["listings"]:
        if c["args"][0] == "runs":
            assert c["code"] == 0, c
    broken = {"negative-pid", "zero-pid", "string-pid"}
    for c in result["listings"] + result["stops"]:
        if c["args"][0] in ("show", "stop") and any(b in c["args"][1] for b in broken):
            assert c["code"] == 2 and "problem" in c["out"], c
    listing = json.loads(next(c["out"] for c in result["listings"] if c["args"][-1] == "--json"))
    statuses = {row["name"]: row["status"] for row in listing}
    assert {statuses[b] for b in broken} == {"broken"}
    assert statuses["init-group"] == "interrupted" and statuses["foreign-as-ftgen"] == "interrupted"
    for c in result["stops"]:
        assert "sent SIGTERM" not in c["out"], c
    assert result["records_unchanged_by_listings"], "runs / show wrote to a run record"


@pytest.mark.skipif(not _unshare_works(), reason="needs root and unshare --pid (a private PID namespace)")
def test_records_naming_foreign_processes_signal_nothing_in_a_private_pid_namespace(tmp_path):
    root = tmp_path / "outputs"
    root.mkdir()
    proc = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, str(HERE / "_kill_scenarios.py"), str(root)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["pid"] == 1, "the scenarios run as init of the namespace"
    assert result["read_only_mounted"], "runs and show were checked on a read-only bind mount"
    _check_outcome(result)
    assert result["foreign_alive"] and result["foreign_signals"] == [], "a foreign process was signalled"
    assert result["init_signals"] == [], "PID 1 was signalled (kill(-1) or killpg(1))"
    # and the proof does not stop ftgen from stopping what is provably its own
    assert result["controls"]["orphan_without_flag"]["code"] == 0
    assert "--orphans" in result["controls"]["orphan_without_flag"]["out"]
    assert "sent SIGTERM" in result["controls"]["orphan"]["out"]
    assert "sent SIGTERM" in result["controls"]["live"]["out"]
    assert "sent SIGTERM" in result["controls"]["orphan_group"]["out"], "a leader that exited leaves its group"
    assert result["victims_dead"] == {"true-orphan": True, "true-live": True}
    assert result["groups_alive"] == {"members-elsewhere-pgid": True, "true-orphan-group-pgid": False}


def test_records_naming_foreign_processes_signal_nothing_with_kill_patched(tmp_path, monkeypatch):
    real_kill = os.kill
    sent: list[tuple] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append(("kill", pid, sig)))
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: sent.append(("killpg", pgid, sig)))
    if hasattr(signal, "pidfd_send_signal"):
        monkeypatch.setattr(signal, "pidfd_send_signal", lambda fd, sig, *a: sent.append(("pidfd", fd, sig)))

    def no_write(*a, **k):
        raise OSError(30, "Read-only file system")

    root = tmp_path / "outputs"
    root.mkdir()
    log = tmp_path / "foreign.log"
    foreign = ks.spawn_foreign(log)
    victims: dict = {}
    try:
        ids = ks.plant(root, foreign, victims)
        with monkeypatch.context() as ro:  # listings on read-only media: any write fails
            ro.setattr("generator.write.atomic_write", no_write)
            ro.setattr("generator.run.record.atomic_write", no_write)
            listings = [ks._cli(c) for c in ks.commands(root, ids)]
        stops = [ks._cli(c) for c in ks.stop_commands(root, ids)]
        result = {"listings": listings, "stops": stops, "records_unchanged_by_listings": True}
        _check_outcome(result)
        assert sent == [], f"signals sent for hostile records: {sent}"
        live = victims["true-live"].pid
        orphan = victims["true-orphan"].pid
        assert "sent SIGTERM" in ks._cli(["stop", ids["true-live"], "--root", str(root)])["out"]
        assert "sent SIGTERM" in ks._cli(["stop", ids["true-orphan"], "--root", str(root), "--orphans"])["out"]
        group = ks._cli(["stop", ids["true-orphan-group"], "--root", str(root), "--orphans"])
        assert "sent SIGTERM" in group["out"], group
        kinds = [(k, s) for k, _, s in sent]
        assert kinds in (
            [("pidfd", signal.SIGTERM), ("killpg", signal.SIGTERM), ("killpg", signal.SIGTERM)],
            [("kill", signal.SIGTERM), ("killpg", signal.SIGTERM), ("killpg", signal.SIGTERM)],
        ), sent
        assert sent[1][1] == orphan and (sent[0][0] == "pidfd" or sent[0][1] == live)
        assert sent[2][1] == victims["true-orphan-group-pgid"]
        assert not log.exists() or log.read_text() == "", "the foreign process got a signal"
    finally:
        ks.cleanup(foreign, victims, kill=real_kill)


def test_old_kill_minus_one_is_impossible_even_for_a_perfect_record(monkeypatch):
    """The last line of defence: whatever the proof says, pid or pgid <= 1 is never signalled."""
    from generator.run import stop

    called = []
    monkeypatch.setattr(os, "killpg", lambda *a: called.append(a))
    monkeypatch.setattr(os, "kill", lambda *a: called.append(a))
    for pid in (1, 0, -1):
        why = stop._signal(pid, signal.SIGTERM, lambda: (None, None), group=True)
        assert why and "refusing" in why
    assert called == []

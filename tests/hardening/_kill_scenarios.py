"""Planted run records that name processes ftgen did not start; `ftgen runs/show/stop` must never signal them.

Run as a script inside a private PID namespace (`unshare --pid --fork --mount-proc`, see test_kill_safety.py):
this process is PID 1 there, so a record naming process group 1 is `kill(-1)`, "every process in the namespace".
It plants the records, runs the real CLI against them, and prints one JSON object with what happened. The same
scenarios run in-process with os.kill / os.killpg patched (test_kill_safety.py) where unshare is not allowed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from generator.run import _procs  # noqa: E402

# A process that is not ftgen's: it logs every catchable signal it receives to a file, then carries on.
FOREIGN = """
import signal, sys, time
log = sys.argv[1]
def got(n, _f):
    with open(log, "a") as fh:
        fh.write(f"{n}\\n")
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
    signal.signal(s, got)
open(log + ".ready", "w").close()
while True:
    time.sleep(0.2)
"""


def _wait_ready(path: Path, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.02)


def spawn_foreign(log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", FOREIGN, str(log)], start_new_session=True)
    _wait_ready(Path(str(log) + ".ready"))
    return proc


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _run_dir(root: Path, name: str) -> Path:
    return root / name / "runs" / f"20260101-000000-ax-{name}"


# A trainer whose launcher exits and leaves its own child running (axolotl train -> accelerate): the leader
# waits for a line on stdin, then starts the child (in its session and group) and exits.
LEAVER = """
import os, subprocess, sys
sys.stdin.readline()
if sys.argv[1] == "elsewhere":
    os.chdir("/")
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
else:
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "config.yaml"])
"""


def _leave_orphans(run_dir: Path, where: str) -> tuple[int, int, list]:
    """(the exited leader's pid, its start ticks, its command line); its child lives on in its group."""
    run_dir.mkdir(parents=True, exist_ok=True)
    leader = subprocess.Popen(
        [sys.executable, "-c", LEAVER, where], cwd=run_dir, stdin=subprocess.PIPE, start_new_session=True
    )
    time.sleep(0.2)
    info = _procs.info(leader.pid)
    leader.communicate(b"go\n", timeout=30)  # the leader starts its child and exits; we reap it
    deadline = time.monotonic() + 10
    while not [p for p in _procs.group_members(leader.pid) if p.pid != leader.pid] and time.monotonic() < deadline:
        time.sleep(0.05)
    return leader.pid, info.start_ticks, list(info.cmdline)


def _record(root: Path, name: str, **fields) -> str:
    run_dir = _run_dir(root, name)
    run_id = run_dir.name
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "schema_version": 1,
        "run_id": run_id,
        "name": name,
        "framework": "axolotl",
        "path": str(run_dir),
        "status": "running",
        "started_at": "2026-01-01T00:00:00Z",
        "host": socket.gethostname(),
        "boot_id": _procs.boot_id(),
        "started_ticks": 0,
        "launcher": "local",
        "pid_start_ticks": 1,
        "pid_cmdline": ["/no/such/ftgen", "run"],
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not _DROP}
    (run_dir / "run.json").write_text(json.dumps(data))
    return run_id


_DROP = object()


def plant(root: Path, foreign: subprocess.Popen, victims: dict) -> dict[str, str]:
    """The hostile and odd records; returns {scenario: run id}. `victims` gets the processes a proven stop may end."""
    me = _procs.info(os.getpid())
    fp = _procs.info(foreign.pid)
    gone = dead_pid()
    out = {}
    # ftgen gone, trainer "process group 1": even with pid 1's true identity recorded, pgid 1 is kill(-1)
    out["init-group"] = _record(
        root,
        "init-group",
        pid=gone,
        child_pid=1,
        child_start_ticks=_procs.info(1).start_ticks if _procs.info(1) else 0,
        child_cmdline=list(_procs.info(1).cmdline) if _procs.info(1) else ["x"],
    )
    # ftgen gone, trainer pid now belongs to an unrelated process (pid reuse): wrong start time
    out["reused-pid"] = _record(
        root, "reused-pid", pid=gone, child_pid=foreign.pid, child_start_ticks=1, child_cmdline=list(fp.cmdline)
    )
    # right start time, another command line
    out["other-command"] = _record(
        root,
        "other-command",
        pid=gone,
        child_pid=foreign.pid,
        child_start_ticks=fp.start_ticks,
        child_cmdline=["/env/bin/axolotl", "train", "config.yaml"],
    )
    # a record from before a reboot: its pids mean nothing now
    out["rebooted"] = _record(
        root,
        "rebooted",
        pid=gone,
        child_pid=foreign.pid,
        child_start_ticks=fp.start_ticks,
        child_cmdline=list(fp.cmdline),
        boot_id="00000000-0000-0000-0000-000000000000",
    )
    # written by ftgen 0.1.0 (no schema_version, no boot id, no start times): nothing proves anything
    out["old-record"] = _record(
        root,
        "old-record",
        schema_version=_DROP,
        boot_id=_DROP,
        started_ticks=_DROP,
        pid_start_ticks=_DROP,
        pid_cmdline=_DROP,
        pid=gone,
        child_pid=foreign.pid,
    )
    # the "ftgen process" is a live foreign process with another start time: the record is stale, not live
    out["foreign-as-ftgen"] = _record(root, "foreign-as-ftgen", pid=foreign.pid, pid_start_ticks=1)
    # an old record whose ftgen pid is now a live foreign process: looks running, but nothing proves it is ftgen
    out["old-foreign-ftgen"] = _record(
        root,
        "old-foreign-ftgen",
        schema_version=_DROP,
        boot_id=_DROP,
        pid_start_ticks=_DROP,
        pid_cmdline=_DROP,
        pid=foreign.pid,
    )
    # pid 1 as "ftgen", identity and all: never signalled
    out["init-as-ftgen"] = _record(
        root, "init-as-ftgen", pid=1, pid_start_ticks=me.start_ticks if os.getpid() == 1 else 1, pid_cmdline=[]
    )
    # broken records: refused by the schema before anything looks at a pid
    out["negative-pid"] = _record(root, "negative-pid", pid=-1, child_pid=-1)
    out["zero-pid"] = _record(root, "zero-pid", pid=gone, child_pid=0)
    out["string-pid"] = _record(root, "string-pid", pid="1", child_pid="-1")
    # positive controls: a real orphaned "trainer" and a live "ftgen", their identities recorded as ftgen does
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    time.sleep(0.2)
    op = _procs.info(orphan.pid)
    out["true-orphan"] = _record(
        root,
        "true-orphan",
        pid=gone,
        child_pid=orphan.pid,
        child_start_ticks=op.start_ticks,
        child_cmdline=list(op.cmdline),
    )
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    time.sleep(0.2)
    lp = _procs.info(live.pid)
    out["true-live"] = _record(
        root, "true-live", pid=live.pid, pid_start_ticks=lp.start_ticks, pid_cmdline=list(lp.cmdline)
    )
    # a trainer whose leader exited, leaving a child that runs elsewhere with another command: not provably ours
    pgid, ticks, cmd = _leave_orphans(_run_dir(root, "members-elsewhere"), "elsewhere")
    out["members-elsewhere"] = _record(
        root, "members-elsewhere", pid=gone, child_pid=pgid, child_start_ticks=ticks, child_cmdline=cmd
    )
    victims["members-elsewhere-pgid"] = pgid
    # positive control: the leader exited (as axolotl train does), its child runs the config in the run folder
    pgid, ticks, cmd = _leave_orphans(_run_dir(root, "true-orphan-group"), "run")
    out["true-orphan-group"] = _record(
        root, "true-orphan-group", pid=gone, child_pid=pgid, child_start_ticks=ticks, child_cmdline=cmd
    )
    victims.update({"true-orphan": orphan, "true-live": live, "true-orphan-group-pgid": pgid})
    return out


HOSTILE = (
    "init-group",
    "reused-pid",
    "other-command",
    "rebooted",
    "old-record",
    "foreign-as-ftgen",
    "old-foreign-ftgen",
    "init-as-ftgen",
    "negative-pid",
    "zero-pid",
    "string-pid",
    "members-elsewhere",
)


def commands(root: Path, ids: dict[str, str]) -> list[list[str]]:
    """Every command a user (or a cron job) might point at these records, listings first."""
    cmds = [["runs", str(root)], ["runs", str(root), "--json"]]
    for name in HOSTILE:
        cmds += [["show", ids[name], "--root", str(root)], ["show", ids[name], "--root", str(root), "--markdown"]]
    return cmds


def stop_commands(root: Path, ids: dict[str, str]) -> list[list[str]]:
    cmds = []
    for name in HOSTILE:
        cmds += [["stop", ids[name], "--root", str(root)], ["stop", ids[name], "--root", str(root), "--orphans"]]
    return cmds + [["runs", str(root), "--refresh"]]


def _cli(args: list[str]) -> dict:
    """The real CLI, in this process (one import for ~50 commands): real /proc reads, real kill syscalls."""
    from click.testing import CliRunner

    from generator.cli import main

    result = CliRunner().invoke(main, args, catch_exceptions=True)
    err = "" if result.exception is None or isinstance(result.exception, SystemExit) else repr(result.exception)
    return {"args": args, "code": result.exit_code, "out": result.output, "err": err}


def _read_only(path: Path, on: bool) -> bool:
    """Bind-mount `path` onto itself read-only (only inside a private mount namespace, as root)."""
    if on:
        ok = subprocess.run(["mount", "--bind", str(path), str(path)]).returncode == 0
        return ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(path)]).returncode == 0
    return subprocess.run(["umount", str(path)]).returncode == 0


def main(root: Path) -> dict:
    """Inside the namespace: plant, run everything, report."""
    received: list[int] = []
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(s, lambda n, _f: received.append(n))
    log = root.parent / "foreign.log"
    foreign = spawn_foreign(log)
    victims: dict = {}
    ids = plant(root, foreign, victims)
    before = {p: p.read_bytes() for p in root.rglob("run.json")}
    read_only = _read_only(root, True)
    listings = [_cli(c) for c in commands(root, ids)]
    unchanged = all(p.read_bytes() == b for p, b in before.items())
    if read_only:
        _read_only(root, False)
    stops = [_cli(c) for c in stop_commands(root, ids)]
    controls = {
        "orphan_without_flag": _cli(["stop", ids["true-orphan"], "--root", str(root)]),
        "orphan": _cli(["stop", ids["true-orphan"], "--root", str(root), "--orphans"]),
        "live": _cli(["stop", ids["true-live"], "--root", str(root)]),
        "orphan_group": _cli(["stop", ids["true-orphan-group"], "--root", str(root), "--orphans"]),
    }
    time.sleep(0.5)
    result = {
        "pid": os.getpid(),
        "read_only_mounted": read_only,
        "records_unchanged_by_listings": unchanged,
        "listings": listings,
        "stops": stops,
        "controls": controls,
        "foreign_alive": foreign.poll() is None,
        "foreign_signals": log.read_text().split() if log.exists() else [],
        "init_signals": received,
        "victims_dead": {k: v.poll() is not None for k, v in victims.items() if not isinstance(v, int)},
        "groups_alive": {k: bool(_procs.group_members(v)) for k, v in victims.items() if isinstance(v, int)},
    }
    cleanup(foreign, victims)
    return result


def cleanup(foreign: subprocess.Popen, victims: dict, kill=os.kill) -> None:
    for p in [foreign, *victims.values()]:
        if isinstance(p, int):
            for member in _procs.group_members(p):
                kill(member.pid, signal.SIGKILL)
        elif p.poll() is None:
            kill(p.pid, signal.SIGKILL)
            p.wait()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))

"""`ftgen stop`: stop a run, signalling a process only with proof that it is the one this run started.

A run record names process ids; a pid outlives its process (a reboot, a reused number) and a record can be
edited, so a pid alone proves nothing. Before any signal the local path checks, on the live process:
  - the pid or process group is > 1 (never init, never kill(-1) "every process"),
  - the machine's boot id is the one recorded when the run started,
  - the process started when the record says (its start time in /proc/<pid>/stat), which is after the run started,
  - its command line is the one recorded when ftgen spawned it.
Anything short of that is refused with the reason, and nothing is signalled.

Launchers plug in through STOPPERS: a function per launcher kind (the word before any space in the record's
`launcher`, e.g. "local", "torchrun", "slurm") that takes the record and the --orphans flag and returns a
StopResult. The local-process path below serves local and torchrun; a cluster launcher registers its own
(e.g. scancel for a Slurm job recorded in the run record).
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from .._secrets import mask_argv
from ..errors import Exit, FtgenError, Problem
from . import _procs
from .record import RUN_FILE, RunRecord, derive_status, now, refresh


@dataclass
class StopResult:
    """What `ftgen stop` did: `signalled` lists (what, pid or pgid, signal name); `message` says it in words."""

    message: str
    signalled: list[tuple[str, int, str]] = field(default_factory=list)
    changed: bool = False  # the record was updated


Stopper = Callable[[RunRecord, bool], StopResult]
STOPPERS: dict[str, Stopper] = {}


def register_stopper(kind: str) -> Callable[[Stopper], Stopper]:
    """Decorator: the stop method for runs whose `launcher` starts with `kind`."""

    def add(fn: Stopper) -> Stopper:
        STOPPERS[kind] = fn
        return fn

    return add


def launcher_kind(record: RunRecord) -> str:
    return (str(record.launcher or "local").split() or ["local"])[0]


def stop(record: RunRecord, orphans: bool = False) -> StopResult:
    """Stop `record`'s run through its launcher's stop method."""
    kind = launcher_kind(record)
    stopper = STOPPERS.get(kind)
    if stopper is None:
        raise _refused(record, "launcher", f"ftgen cannot stop runs launched with {kind!r}", kind)
    return stopper(record, orphans)


def _refused(record: RunRecord, key: str, message: str, found=None, allowed: str | None = None) -> FtgenError:
    return FtgenError(
        [Problem(f"{record.path}/{RUN_FILE}", key, message, found=found, allowed=allowed)], exit_code=Exit.INVALID
    )


# ---------------------------------------------------------------------------------------------- proof


def _proof_problem(
    record: RunRecord, pid: object, start_ticks: object, cmdline: object, what: str
) -> tuple[str | None, _procs.ProcInfo | None]:
    """(None, the process) when the live process `pid` is provably the one the record names; else (why not, None)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return f"the recorded {what} id {pid!r} is not a process ftgen started (it must be > 1)", None
    if record.host != socket.gethostname():
        return f"the run was started on host {record.host!r}, this is {socket.gethostname()!r}", None
    boot = _procs.boot_id()
    if not record.boot_id or not boot:
        return (
            "the record has no boot id (written by an older ftgen, or no /proc here): nothing proves the process",
            None,
        )
    if record.boot_id != boot:
        return "the machine has rebooted since the run started: its process ids mean nothing now", None
    proc = _procs.info(pid)
    if proc is None:
        return f"no {what} process {pid} is running", None
    if not isinstance(start_ticks, int) or proc.start_ticks != start_ticks:
        return f"process {pid} started at another time than the {what} the record names: the pid was reused", None
    if isinstance(record.started_ticks, int) and what == "trainer" and proc.start_ticks < record.started_ticks:
        return f"process {pid} started before the run did", None
    if not cmdline or list(mask_argv(list(proc.cmdline))) != list(cmdline):
        return f"process {pid} runs another command than the {what} the record names", None
    return None, proc


def _signal(
    pid: int, sig: signal.Signals, prove: Callable[[], tuple[str | None, _procs.ProcInfo | None]], group: bool
) -> str | None:
    """Send `sig` to process `pid` (or its group) if `prove()` passes; the reason it does not, else None.

    The process is pinned first (a pidfd, Linux 5.3+) and proven after: a pid reused between the proof and the
    signal cannot receive it (the pidfd still names the process that was proven, or nothing).
    """
    if not isinstance(pid, int) or pid <= 1:  # belt and braces: kill(-1) / killpg(1) reach every process
        return f"refusing to signal process {pid!r}"
    fd = None
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return f"no process {pid} is running"
        except OSError:
            fd = None
    try:
        why, proc = prove()
        if why is not None:
            return why
        if group:
            os.killpg(proc.pgid, sig)
        elif fd is not None and hasattr(signal, "pidfd_send_signal"):
            signal.pidfd_send_signal(fd, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        return f"process {pid} ended before it could be signalled"
    finally:
        if fd is not None:
            os.close(fd)
    return None


@register_stopper("local")
@register_stopper("torchrun")
def stop_local(record: RunRecord, orphans: bool = False) -> StopResult:
    """A run on this machine: SIGTERM to its ftgen process (which stops the trainer and records 'interrupted');
    with --orphans, SIGTERM to the process group of a trainer whose ftgen is gone."""
    derived = derive_status(record)
    if record.status == "running" and not derived.stale:
        if record.pid == os.getpid():
            raise _refused(record, "pid", "refusing to stop the ftgen process that runs `ftgen stop`", record.pid)
        why = _signal(
            record.pid,
            signal.SIGTERM,
            lambda: _proof_problem(record, record.pid, record.pid_start_ticks, record.pid_cmdline, "ftgen"),
            group=False,
        )
        if why is not None:
            raise _refused(
                record,
                "pid",
                f"not stopping run {record.run_id}: {why}",
                record.pid,
                "a run started by this ftgen on this machine since its last boot",
            )
        return StopResult(
            f"sent SIGTERM to ftgen (pid {record.pid}) running {record.run_id}: it stops the trainer and records "
            "the run as interrupted",
            [("ftgen", record.pid, "SIGTERM")],
        )
    # ftgen is gone (the record is stale, or says it ended); its trainer may have outlived it
    changed = refresh(record)
    said = (
        f"run {record.run_id} was not running any more ({derived.note.removeprefix('stale: ')}); recorded it as "
        "interrupted"
        if changed
        else f"run {record.run_id} is not running (status {record.status})"
    )
    trainer_alive = isinstance(record.child_pid, int) and record.child_pid > 1 and _procs.alive(record.child_pid)
    if not trainer_alive:
        return StopResult(said + ": nothing to stop", changed=changed)
    if not orphans:
        return StopResult(
            f"{said}. A process with its trainer's pid ({record.child_pid}) is running: "
            f"`ftgen stop {record.run_id} --orphans` stops it if it is provably that trainer",
            changed=changed,
        )

    def prove_trainer() -> tuple[str | None, _procs.ProcInfo | None]:
        why, proc = _proof_problem(record, record.child_pid, record.child_start_ticks, record.child_cmdline, "trainer")
        if why is None and proc.pgid != proc.pid:
            return f"process {proc.pid} no longer leads its own process group", None
        return why, proc

    why = _signal(record.child_pid, signal.SIGTERM, prove_trainer, group=True)
    if why is not None:
        raise _refused(
            record,
            "child_pid",
            f"not stopping the orphaned trainer of run {record.run_id}: {why}",
            record.child_pid,
            "the trainer this run spawned, on this machine, since its last boot",
        )
    pgid = record.child_pid
    record.note = (record.note or "") + f"; `ftgen stop --orphans` sent SIGTERM to its trainer's process group {pgid}"
    record.finished_at = record.finished_at or now()
    record.save()
    return StopResult(
        f"sent SIGTERM to the orphaned trainer of {record.run_id} (process group {pgid})",
        [("trainer", pgid, "SIGTERM")],
        changed=True,
    )

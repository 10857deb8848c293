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


def _same_machine(record: RunRecord) -> str | None:
    """Why the record's process ids cannot name processes here (another host, another boot), or None."""
    if record.host != socket.gethostname():
        return f"the run was started on host {record.host!r}, this is {socket.gethostname()!r}"
    boot = _procs.boot_id()
    if not record.boot_id or not boot:
        return "the record has no boot id (written by an older ftgen, or no /proc here): nothing proves the process"
    if record.boot_id != boot:
        return "the machine has rebooted since the run started: its process ids mean nothing now"
    return None


def _in_run_folder(record: RunRecord, proc: _procs.ProcInfo) -> bool:
    try:
        return proc.cwd is not None and os.path.realpath(proc.cwd) == os.path.realpath(record.path)
    except (OSError, ValueError):
        return False


def _runs_the_trainer_command(record: RunRecord, proc: _procs.ProcInfo) -> bool:
    """The command line ftgen recorded when it spawned the trainer; or, once the framework's launcher has exec'd
    (axolotl train -> accelerate launch), a command naming the run's config, run from the run's own folder."""
    live = mask_argv(list(proc.cmdline))
    if record.child_cmdline and live == list(record.child_cmdline):
        return True
    config = str(record.config_copy or "config.yaml")
    names_config = any(arg == config or arg.endswith("/" + config) for arg in live)
    return names_config and _in_run_folder(record, proc)


def _proof_problem(
    record: RunRecord, pid: object, start_ticks: object, cmdline: object, what: str
) -> tuple[str | None, _procs.ProcInfo | None]:
    """(None, the process) when the live process `pid` is provably the one the record names; else (why not, None).

    Proof: pid > 1, this host and boot, the exact start time recorded (pid + start time name one process per
    boot, across exec), and the command line: the one recorded (ftgen), or the trainer's (see above).
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        return f"the recorded {what} id {pid!r} is not a process ftgen started (it must be > 1)", None
    why = _same_machine(record)
    if why is not None:
        return why, None
    proc = _procs.info(pid)
    if proc is None:
        return f"no {what} process {pid} is running", None
    if not isinstance(start_ticks, int) or proc.start_ticks != start_ticks:
        return f"process {pid} started at another time than the {what} the record names: the pid was reused", None
    if isinstance(record.started_ticks, int) and what == "trainer" and proc.start_ticks < record.started_ticks:
        return f"process {pid} started before the run did", None
    if what == "trainer":
        if not _runs_the_trainer_command(record, proc):
            return f"process {pid} runs another command than the trainer the record names", None
    elif not cmdline or list(mask_argv(list(proc.cmdline))) != list(cmdline):
        return f"process {pid} runs another command than the {what} the record names", None
    return None, proc


def _orphaned_group(record: RunRecord) -> tuple[str | None, list[_procs.ProcInfo]]:
    """The trainer's process group when its leader has exited but processes it started live on (accelerate, its
    workers): (None, those processes) with proof, else (why not, []).

    While any process has session id X, the kernel keeps pid X from being reused, so processes whose session
    and group are the trainer's pid descend from the trainer ftgen started (setsid at spawn). They must also
    have started after it, run from the run's folder and name the run's config.
    """
    pgid = record.child_pid
    if not isinstance(pgid, int) or isinstance(pgid, bool) or pgid <= 1:
        return f"the recorded trainer id {pgid!r} is not a process ftgen started (it must be > 1)", []
    why = _same_machine(record)
    if why is not None:
        return why, []
    if _procs.info(pgid) is not None:
        return f"process {pgid} is not the trainer the record names (it started at another time)", []
    members = _procs.group_members(pgid)
    if not members:
        return f"no process of the trainer's group {pgid} is running", []
    if not isinstance(record.child_start_ticks, int):
        return "the record has no start time for the trainer: nothing proves its group", []
    for p in members:
        if p.sid != pgid:
            return f"process {p.pid} joined group {pgid} from another session", []
        if p.start_ticks < record.child_start_ticks:
            return f"process {p.pid} in group {pgid} started before the trainer", []
    if not any(_runs_the_trainer_command(record, p) for p in members):
        return f"no process in group {pgid} runs the run's config from the run's folder", []
    return None, members


def _send_group(pgid: int, sig: signal.Signals) -> None:
    if not isinstance(pgid, int) or pgid <= 1:  # belt and braces: killpg(1) / killpg(0) reach every process
        raise ValueError(f"refusing to signal process group {pgid!r}")
    os.killpg(pgid, sig)


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
            _send_group(proc.pgid, sig)
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
    valid_id = isinstance(record.child_pid, int) and record.child_pid > 1
    trainer_alive = valid_id and _procs.alive(record.child_pid)
    group_left = valid_id and not trainer_alive and bool(_procs.group_members(record.child_pid))
    if not trainer_alive and not group_left:
        return StopResult(said + ": nothing to stop", changed=changed)
    if not orphans:
        return StopResult(
            f"{said}. Processes of its trainer's group ({record.child_pid}) are running: "
            f"`ftgen stop {record.run_id} --orphans` stops them if they are provably that trainer's",
            changed=changed,
        )

    def prove_trainer() -> tuple[str | None, _procs.ProcInfo | None]:
        why, proc = _proof_problem(record, record.child_pid, record.child_start_ticks, record.child_cmdline, "trainer")
        if why is None and proc.pgid != proc.pid:
            return f"process {proc.pid} no longer leads its own process group", None
        return why, proc

    if trainer_alive:
        why = _signal(record.child_pid, signal.SIGTERM, prove_trainer, group=True)
    else:  # the leader is gone, processes it started are left
        why, _members = _orphaned_group(record)
        if why is None:
            try:
                _send_group(record.child_pid, signal.SIGTERM)
            except ProcessLookupError:
                why = f"the processes of group {record.child_pid} ended before they could be signalled"
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


@register_stopper("slurm")
def stop_slurm(record: RunRecord, orphans: bool = False) -> StopResult:
    """A Slurm run: scancel its training job (and its eval job); the job's trap records it cancelled."""
    from .slurm import stop as slurm_stop

    return slurm_stop(record, orphans)

"""Who a process is (Linux /proc): boot id, start time, process group, command line; nothing here signals."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_PROC = "/proc"


def _read(path: str, limit: int = 1 << 16) -> bytes | None:
    """A small /proc file's bytes (these are kernel-made, not a user's files: generator._io refuses /proc)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def boot_id() -> str | None:
    """This boot's id (/proc/sys/kernel/random/boot_id); None where there is no /proc."""
    raw = _read(f"{_PROC}/sys/kernel/random/boot_id", 64)
    return raw.decode("ascii", "replace").strip() or None if raw else None


def clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):
        return 100


def now_ticks() -> int | None:
    """Clock ticks since boot now (CLOCK_BOOTTIME): the clock /proc/<pid>/stat start times are counted on."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    if clock is None or not os.path.isdir(_PROC):
        return None
    try:
        return int(time.clock_gettime(clock) * clock_ticks())
    except OSError:
        return None


@dataclass(frozen=True)
class ProcInfo:
    """One live process as /proc shows it."""

    pid: int
    pgid: int
    sid: int
    start_ticks: int  # clock ticks after boot
    state: str
    cmdline: tuple[str, ...]
    cwd: str | None = None  # its working folder (None when /proc does not say)


def info(pid: int) -> ProcInfo | None:
    """The process `pid` now, or None when there is none (or no /proc to ask)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    raw = _read(f"{_PROC}/{pid}/stat")
    if not raw:
        return None
    # "pid (comm) state ppid pgrp session ..." - comm may hold spaces and parentheses: split after the last ")"
    text = raw.decode("utf-8", "replace")
    rest = text[text.rfind(")") + 2 :].split()
    try:
        state, pgid, sid, start = rest[0], int(rest[2]), int(rest[3]), int(rest[19])
    except (IndexError, ValueError):
        return None
    if state in ("Z", "X"):  # a zombie has exited: there is nothing left to stop
        return None
    cmd = _read(f"{_PROC}/{pid}/cmdline", 1 << 20) or b""
    args = tuple(a.decode("utf-8", "replace") for a in cmd.split(b"\0")[:-1]) if cmd.endswith(b"\0") else ()
    if not args and cmd:
        args = tuple(a.decode("utf-8", "replace") for a in cmd.split(b"\0"))
    try:
        cwd = os.readlink(f"{_PROC}/{pid}/cwd")
    except OSError:
        cwd = None
    return ProcInfo(pid, pgid, sid, start, state, args, cwd)


def alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (a zombie does not count); asks /proc, never sends a signal."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if os.path.isdir(_PROC):
        return info(pid) is not None
    try:  # no /proc (macOS): signal 0 only checks that the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def group_members(pgid: int) -> list[ProcInfo]:
    """Every live process in process group `pgid`."""
    out = []
    try:
        names = os.listdir(_PROC)
    except OSError:
        return out
    for name in names:
        if name.isdigit():
            p = info(int(name))
            if p is not None and p.pgid == pgid:
                out.append(p)
    return out

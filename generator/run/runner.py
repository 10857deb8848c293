"""Start a framework process, stream its output to the terminal and the log, forward signals, record the run."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .progress import Progress


@dataclass
class Outcome:
    exit_code: int
    signal: str | None  # the signal ftgen forwarded (SIGINT / SIGTERM), if any
    seconds: float
    #: the largest resident set size of the trainer or of a process it waited for (kernel accounting, os.wait4)
    max_rss_bytes: int | None = None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    from .. import _io

    h = hashlib.sha256()
    with _io.open_regular(path) as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def stream(
    argv: list[str],
    *,
    cwd: Path,
    env: dict,
    log_path: Path,
    on_line: Callable[[str, bool], None] | None = None,
    grace: float = 60.0,
    on_spawn: Callable[[int], None] | None = None,
) -> Outcome:
    """Run argv in its own process group; tee output to log_path; forward SIGINT/SIGTERM to the group.

    A first SIGINT/SIGTERM is passed on and the child gets `grace` seconds to stop; a second one, or the
    end of the grace period, kills the group.
    """
    import threading

    start = time.monotonic()
    received: list[int] = []
    timers: list[threading.Timer] = []
    proc: subprocess.Popen | None = None

    def kill() -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def forward(signum, _frame):
        received.append(signum)
        if proc is None:  # not spawned yet: passed on as soon as it is (below)
            return
        if len(received) > 1:
            kill()
            return
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        timer = threading.Timer(grace, kill)
        timer.daemon = True
        timer.start()
        timers.append(timer)

    # The handlers are in place before the child exists: on_spawn makes the child known (run.json), and from
    # then on `ftgen stop` may signal this process, which must pass the signal on, never die of it.
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if _main_thread() else {}
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            bufsize=0,
            preexec_fn=_die_with_parent,
        )
    except BaseException:
        for s, handler in previous.items():
            signal.signal(s, handler)
        raise
    if received:  # a signal came while the child was being started: it gets it now
        early, received[:] = received[:], []
        for signum in early[:2]:
            forward(signum, None)
    _widen_pipe(proc.stdout.fileno())
    if on_spawn is not None:
        on_spawn(proc.pid)

    progress = Progress()
    redact = redactor(env)
    try:
        with open(log_path, "ab") as log:
            buf = b""
            fd = proc.stdout.fileno()
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except InterruptedError:
                    continue
                buf += chunk
                cut = max(buf.rfind(b"\n"), buf.rfind(b"\r")) + 1 if chunk else len(buf)
                done, buf = redact(buf[:cut]), buf[cut:]
                if done:
                    log.write(done)
                    log.flush()
                    for raw in _split(done):
                        if raw:
                            line = raw.decode("utf-8", "replace")
                            is_bar = progress.feed(line)
                            if on_line:
                                on_line(line, is_bar)
                if not chunk:
                    break
        code, max_rss = _wait(proc)
    finally:
        close = getattr(on_line, "close", None)
        if close is not None:
            close()
        for timer in timers:
            timer.cancel()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    sig = signal.Signals(received[0]).name if received else None
    return Outcome(code, sig, time.monotonic() - start, max_rss)


def _wait(proc: subprocess.Popen) -> tuple[int, int | None]:
    """proc.wait(), reading the kernel's resource usage of the child as it is reaped (os.wait4): its peak RSS,
    the largest of it and the descendants it waited for. No sampling: the figure comes with the exit status."""
    if not hasattr(os, "wait4"):
        return proc.wait(), None
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:  # already reaped
        return proc.wait(), None
    proc.returncode = os.waitstatus_to_exitcode(status)
    per_unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return proc.returncode, int(usage.ru_maxrss) * per_unit


def _widen_pipe(fd: int, size: int = 1 << 20) -> None:
    """A 1 MiB pipe instead of 64 KiB: the trainer never waits on ftgen reading its output (Linux)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass


def _die_with_parent() -> None:
    """In the child, before exec: give it the default action for the signals ftgen forwards, and ask Linux to
    send SIGTERM when ftgen dies (kill -9 included).

    A program started in the background by a non-interactive shell (`nohup ftgen run ... &`, a CI step, a
    cron job) inherits SIGINT ignored, and an ignored signal stays ignored across exec: Python then installs
    no KeyboardInterrupt handler, and the trainer would train on through the SIGINT ftgen forwards to it.
    The trainer runs in its own session, so only signals sent on purpose (ftgen's forward, `ftgen stop`) reach it.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def redactor(env: dict) -> Callable[[bytes], bytes]:
    """Mask the values of secret-looking variables (HF_TOKEN, WANDB_API_KEY, ...) and credential-shaped values
    (hf_..., ghp_...) in what ftgen writes and shows."""
    from .._secrets import value_masker

    return value_masker(env)


def _split(buf: bytes) -> list[bytes]:
    """Split on \\n and \\r (tqdm redraws with \\r); the last element is the unfinished rest."""
    parts: list[bytes] = []
    start = 0
    for i, b in enumerate(buf):
        if b in (10, 13):
            if i > start:
                parts.append(buf[start:i])
            start = i + 1
    parts.append(buf[start:])
    return parts


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class ConsolePrinter:
    """Shows a run as it goes: a progress bar (step, loss, ETA) on a terminal, heartbeat lines elsewhere,
    and the framework's own lines unless quiet. Called once per output line; close() ends the display."""

    def __init__(self, quiet: bool = False, heartbeat: float = 10.0):
        self.quiet = quiet
        self.heartbeat = heartbeat
        self.tty = sys.stdout.isatty()
        self.state = Progress()
        self._first: tuple[float, int] | None = None
        self._last_beat = 0.0
        self._bar = None
        self._task = None

    def eta(self) -> float | None:
        s = self.state
        if not s.total or not s.step:
            return None
        now = time.monotonic()
        if self._first is None:
            self._first = (now, s.step)
            return None
        t0, step0 = self._first
        if s.step <= step0:
            return None
        return (now - t0) / (s.step - step0) * (s.total - s.step)

    def status(self) -> str:
        s = self.state
        parts = [f"step {s.step}/{s.total}" if s.total else f"step {s.step}"]
        if s.loss is not None:
            parts.append(f"loss {s.loss:.4f}")
        if s.eval_loss is not None:
            parts.append(f"eval_loss {s.eval_loss:.4f}")
        eta = self.eta()
        if eta is not None:
            parts.append(f"eta {eta:.0f} s")
        return "  ".join(parts)

    def _ensure_bar(self):
        if self._bar is None and self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("[bold]training[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                transient=False,
                console=Console(emoji=False, highlight=False),  # a trainer's `:x:` is text, not an emoji
            )
            self._bar.start()
            self._task = self._bar.add_task("train", total=self.state.total or None, info="")
        return self._bar

    def __call__(self, line: str, is_bar: bool) -> None:
        self.state.feed(line)
        bar = self._ensure_bar() if self.state.total else self._bar
        if bar is not None:
            s = self.state
            bar.update(self._task, completed=s.step, total=s.total, info=s.describe())
            if not is_bar and not self.quiet:
                bar.console.print(line, markup=False, highlight=False)
            return
        if is_bar:
            self.eta()
            now = time.monotonic()
            if now - self._last_beat >= self.heartbeat:
                self._last_beat = now
                print(f"[ftgen] {self.status()}", flush=True)
            return
        if not self.quiet:
            print(line, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if self.state.total and not self.tty:
            print(f"[ftgen] {self.status()}", flush=True)


def console_printer(quiet: bool = False) -> ConsolePrinter:
    return ConsolePrinter(quiet)

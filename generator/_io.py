"""The one way ftgen reads a user's file: regular files only, never /proc, /sys or /dev, a cap on bytes read."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import FtgenError, Problem

#: pseudo-filesystems whose "files" are devices, process state or endless streams (a /proc file reports size 0)
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // 1024 // 1024} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


def _problem(file: str, key: str, message: str, found=None, allowed: str | None = None) -> FtgenError:
    return FtgenError([Problem(file, key, message, found=found, allowed=allowed)])


def _forbidden(path: Path) -> str | None:
    """The pseudo-filesystem `path` lies in (after resolving symlinks), or None."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return None
    for root in FORBIDDEN_ROOTS:
        if real == root or real.startswith(root + "/"):
            return root
    return None


@contextmanager
def open_regular(path: Path | str, file: str | None = None, key: str = "", kind: str = "") -> Iterator[BinaryIO]:
    """Open a user's file for binary reading, refusing anything that is not a plain regular file.

    Refused, each as an FtgenError naming `file` and `key` (never a traceback): a missing file, a folder, a FIFO,
    socket or device (reads that never end), anything under /proc, /sys or /dev (a symlink there included),
    and a file that cannot be opened. The open is non-blocking, so a FIFO swapped in after the check cannot hang
    it; the type is checked again on the open descriptor. `kind` words the errors ("spec " -> "spec file not
    found").
    """
    path = Path(path)
    file = file if file is not None else str(path)
    root = _forbidden(path)
    if root is not None:
        raise _problem(
            file,
            key,
            f"refusing to read a file under {root}",
            found=str(path),
            allowed="a regular file (not a device, process or system file)",
        )
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise _problem(file, key, f"{kind}file not found", found=str(path)) from None
    except IsADirectoryError:
        raise _problem(file, key, f"is a folder, expected a {kind}file", found=str(path)) from None
    except OSError as exc:
        raise _problem(file, key, f"cannot read: {exc.strerror or exc}", found=str(path)) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _problem(file, key, f"is a folder, expected a {kind}file", found=str(path))
        if not stat.S_ISREG(mode):
            raise _problem(
                file,
                key,
                "not a regular file (a pipe, socket or device would be read forever)",
                found=str(path),
                allowed="a regular file",
            )
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_bytes(
    path: Path | str, file: str | None = None, max_bytes: int = 4 * 1024 * 1024, key: str = "", kind: str = ""
) -> bytes:
    """A regular file's bytes, at most `max_bytes` of them (never more are read); FtgenError otherwise."""
    file = file if file is not None else str(path)
    with open_regular(path, file, key, kind) as fh:
        try:
            raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise _problem(file, key, f"cannot read: {exc.strerror or exc}", found=str(path)) from None
    if len(raw) > max_bytes:
        raise _problem(file, key, f"file is larger than {_size(max_bytes)}", allowed=f"at most {max_bytes} bytes")
    return raw


def read_text(
    path: Path | str, file: str | None = None, max_bytes: int = 4 * 1024 * 1024, key: str = "", kind: str = ""
) -> tuple[str, bytes]:
    """A regular UTF-8 text file of at most max_bytes: (text, raw bytes for hashing); FtgenError otherwise.

    Invalid UTF-8 is an error that gives the line and byte offset of the first bad byte, never replaced silently.
    """
    file = file if file is not None else str(path)
    raw = read_bytes(path, file, max_bytes, key, kind)
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                    found=raw[exc.start : exc.start + 4],
                    allowed="UTF-8 text",
                    line=line,
                )
            ]
        ) from None


def read_json(
    path: Path | str, file: str | None = None, max_bytes: int = 16 * 1024 * 1024, key: str = "", kind: str = ""
):
    """A regular JSON file of at most max_bytes, parsed; FtgenError naming the line of a syntax error otherwise."""
    import json

    file = file if file is not None else str(path)
    text, _ = read_text(path, file, max_bytes, key, kind)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FtgenError(
            [
                Problem(
                    file,
                    key,
                    f"not valid JSON: {getattr(exc, 'msg', exc)}",
                    allowed="a JSON document",
                    line=getattr(exc, "lineno", None),
                )
            ]
        ) from None


def read_jsonl(path: Path | str, file: str | None = None, max_bytes: int = 256 * 1024 * 1024, key: str = "") -> list:
    """A regular JSON-lines file of at most max_bytes, one value per non-blank line; FtgenError naming the line."""
    import json

    file = file if file is not None else str(path)
    text, _ = read_text(path, file, max_bytes, key)
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise FtgenError(
                    [
                        Problem(
                            file,
                            key,
                            f"not valid JSON: {getattr(exc, 'msg', exc)}",
                            allowed="one JSON value per line",
                            line=n,
                        )
                    ]
                ) from None
    return rows

"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see the old file or the new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_all(out_dir: Path, files: dict[str, str]) -> list[Path]:
    """Write every file of a build atomically; files are names inside out_dir, never paths outside it."""
    out_dir = Path(out_dir)
    root = out_dir.resolve()
    written = []
    for name, text in files.items():
        target = (out_dir / name).resolve()
        if root not in target.parents:
            raise ValueError(f"refusing to write {name!r} outside {out_dir}")
        atomic_write(target, text)
        written.append(out_dir / name)
    return written

"""Drift check: compare a build made in memory with the files on disk; never writes."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from .build import Build


@dataclass(frozen=True)
class Drift:
    spec_file: str
    out_dir: Path
    changed: tuple[str, ...]  # file names that differ, are missing, or would be removed
    diff: str

    @property
    def clean(self) -> bool:
        return not self.changed


def _committed(path: Path) -> str | None:
    """The committed text of a generated file (None when it is missing), through the one safe reader."""
    from . import _io
    from .errors import FtgenError

    if not os.path.lexists(path):
        return None
    try:
        return _io.read_text(path, str(path), 64 * 1024 * 1024)[0]
    except FtgenError as exc:
        if any("not found" in p.message for p in exc.problems):
            return None
        raise


def compare(b: Build) -> Drift:
    changed: list[str] = []
    chunks: list[str] = []
    for name, text in b.files.items():
        path = b.out_dir / name
        old = _committed(path)
        if old == text:
            continue
        changed.append(name if old is not None else f"{name} (missing)")
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (committed)",
                tofile=f"{path} (would regenerate)",
            )
        )
    from .build import stale_files

    for name in stale_files(b):
        changed.append(f"{name} (would be removed)")
        chunks.append(
            f"--- {b.out_dir / name} (committed)\n+++ /dev/null (a previous build wrote it; this one does not)\n"
        )
    return Drift(b.spec.file, b.out_dir, tuple(changed), "".join(chunks))

"""Drift check: compare a build made in memory with the files on disk; never writes."""

from __future__ import annotations

import difflib
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


def compare(b: Build) -> Drift:
    changed: list[str] = []
    chunks: list[str] = []
    for name, text in b.files.items():
        path = b.out_dir / name
        try:
            old = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            old = None
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
    return Drift(b.spec.file, b.out_dir, tuple(changed), "".join(chunks))

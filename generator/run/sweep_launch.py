"""A sweep on a cluster: one Slurm array job for its trials, or one SkyPilot task per trial."""

from __future__ import annotations

from pathlib import Path

from ..errors import FtgenError, Problem
from .record import RunRecord


def submit(build_dir: Path, framework: str | None, launcher: str, **kw) -> list[RunRecord]:
    raise FtgenError(
        [
            Problem(
                str(build_dir),
                "--launcher",
                "a sweep cannot be submitted with this launcher yet",
                found=launcher,
                allowed="local (the trials one after another here)",
            )
        ]
    )

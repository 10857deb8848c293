"""The run record (run.json): one never-reused folder per run, written atomically at every state change."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._proc import pid_alive
from ..write import atomic_write

RUN_FILE = "run.json"
STATUSES = ("running", "succeeded", "failed", "interrupted")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunRecord:
    """Everything known about one run; `save()` rewrites run.json atomically."""

    run_id: str
    name: str
    framework: str
    path: str
    status: str = "running"
    started_at: str = field(default_factory=now)
    finished_at: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    pid: int | None = None  # the ftgen process
    child_pid: int | None = None  # the framework process (leader of its own process group)
    host: str = field(default_factory=socket.gethostname)
    command: list[str] = field(default_factory=list)
    launcher: str = "local"
    versions: dict[str, str] = field(default_factory=dict)
    env_python: str = ""
    config_sha256: str = ""
    config_copy: str = "config.yaml"
    spec_sha256: str = ""
    datasets: dict[str, str] = field(default_factory=dict)  # path -> sha256
    git_commit: str | None = None
    git_dirty: bool | None = None
    checkpoints: list[dict] = field(default_factory=list)  # {"path", "step"}
    last_checkpoint: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    curve: str | None = None
    attempts: list[dict] = field(default_factory=list)  # earlier attempts when resumed
    merged_model: str | None = None
    eval: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float | None = None
    note: str | None = None

    @property
    def dir(self) -> Path:
        return Path(self.path)

    def save(self) -> None:
        atomic_write(self.dir / RUN_FILE, json.dumps(asdict(self), indent=2, ensure_ascii=False, default=str) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def new_run_dir(runs_root: Path, framework: str) -> tuple[str, Path]:
    """A fresh folder runs/<run-id>/; mkdir without exist_ok, so an id is never reused."""
    runs_root.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        run_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{framework[:2]}-{secrets.token_hex(2)}"
        path = runs_root / run_id
        try:
            path.mkdir()
            return run_id, path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {runs_root}")


def find_runs(root: Path) -> list[Path]:
    """Every run folder under `root` (an outputs/ tree, one outputs/<name>, or one runs/ folder)."""
    root = Path(root)
    if (root / RUN_FILE).is_file():
        return [root]
    return sorted(p.parent for p in root.glob("**/runs/*/" + RUN_FILE))


def mark_stale(record: RunRecord) -> bool:
    """A record still 'running' whose ftgen process is gone (kill -9, power loss) becomes interrupted."""
    if record.status != "running" or record.host != socket.gethostname() or pid_alive(record.pid):
        return False
    orphan = ""
    if pid_alive(record.child_pid):  # the trainer outlived ftgen (it dies with it on Linux; not elsewhere)
        try:
            os.killpg(record.child_pid, signal.SIGTERM)
            orphan = f"; its orphaned trainer (process group {record.child_pid}) was sent SIGTERM"
        except (ProcessLookupError, PermissionError):
            pass
    record.status = "interrupted"
    record.note = "stale: the ftgen process that ran it is gone (killed?); found by a later `ftgen runs`" + orphan
    record.finished_at = record.finished_at or now()
    record.save()
    return True

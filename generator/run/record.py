"""The run record (run.json): one never-reused folder per run, written atomically at every state change.

Its fields are defined in ONE place, schemas/run.schema.json (names, types, defaults, descriptions); this module
reads them from there. A record that does not match the schema is refused with a clear error (`ftgen runs` lists
it as broken); unknown keys are kept; records written before the schema existed are read.
"""

from __future__ import annotations

import copy
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

from .. import _io
from .._resources import schemas_dir
from ..errors import FtgenError, Problem
from ..write import atomic_write
from . import _procs

RUN_FILE = "run.json"
SCHEMA_FILE = "run.schema.json"
SCHEMA_VERSION = 1
MAX_RECORD_BYTES = 64 * 1024 * 1024  # history grows with logged steps; a few MB for a long run
STATUSES = ("queued", "running", "succeeded", "failed", "interrupted", "cancelled")

# Defaults JSON Schema cannot state (they depend on the moment and the machine): set when a record is created.
_DYNAMIC_DEFAULTS = {
    "started_at": lambda: now(),
    "host": lambda: socket.gethostname(),
}


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def schema() -> dict:
    """schemas/run.schema.json: the run record's fields."""
    return json.loads((schemas_dir() / SCHEMA_FILE).read_text(encoding="utf-8"))


@cache
def fields() -> dict[str, Any]:
    """{field name: default} from the schema (fields without a default must be given when a record is created)."""
    return {name: prop.get("default") for name, prop in schema()["properties"].items()}


@cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


class RunRecord:
    """Everything known about one run; attributes are the schema's fields; `save()` rewrites run.json atomically.

    Keys the schema does not know (written by a newer ftgen) are kept in `extra` and written back unchanged.
    """

    __slots__ = ("_data",)

    def __init__(self, **values: Any):
        known = fields()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise TypeError(f"RunRecord has no field(s) {', '.join(unknown)}: add them to schemas/{SCHEMA_FILE}")
        data = {name: copy.deepcopy(default) for name, default in known.items()}
        for name, make in _DYNAMIC_DEFAULTS.items():
            data[name] = make()
        data["schema_version"] = SCHEMA_VERSION
        data.update(values)
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in fields():
            return self._data.get(name, copy.deepcopy(fields()[name]))
        raise AttributeError(f"run records have no field {name!r} (schemas/{SCHEMA_FILE})")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in fields():
            raise AttributeError(f"run records have no field {name!r}: add it to schemas/{SCHEMA_FILE}")
        self._data[name] = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunRecord) and other._data == self._data

    def __repr__(self) -> str:
        return f"RunRecord(run_id={self._data.get('run_id')!r}, status={self._data.get('status')!r})"

    @property
    def extra(self) -> dict[str, Any]:
        """Keys this ftgen's schema does not know, kept as they were."""
        return {k: v for k, v in self._data.items() if k not in fields()}

    @property
    def dir(self) -> Path:
        return Path(self.path)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def save(self) -> None:
        self._data["schema_version"] = max(SCHEMA_VERSION, self._data.get("schema_version") or 0)
        atomic_write(self.dir / RUN_FILE, json.dumps(self._data, indent=2, ensure_ascii=False, default=str) + "\n")

    @classmethod
    def from_dict(cls, data: Any, file: str = RUN_FILE) -> RunRecord:
        """A record from parsed run.json; FtgenError (exit 2) naming every field that does not fit the schema."""
        if not isinstance(data, dict):
            raise FtgenError(
                [
                    Problem(
                        file,
                        "",
                        "a run record must be a JSON object",
                        found=type(data).__name__,
                        allowed=f"an object as described by schemas/{SCHEMA_FILE}",
                    )
                ]
            )
        from .._schema_errors import schema_problems

        problems = schema_problems(_validator(), data, file)
        if problems:
            raise FtgenError(problems)
        record = cls.__new__(cls)
        values = {name: copy.deepcopy(default) for name, default in fields().items()}
        values["schema_version"] = 0  # absent: written before the schema (ftgen 0.1.0)
        values.update(data)
        object.__setattr__(record, "_data", values)
        return record

    @classmethod
    def load(cls, run_dir: Path | str) -> RunRecord:
        """Read runs/<id>/run.json; FtgenError (exit 2) when it is missing, unreadable, truncated or malformed."""
        path = Path(run_dir) / RUN_FILE
        text, _ = _io.read_text(path, str(path), MAX_RECORD_BYTES, kind="run record ")
        try:
            data = json.loads(text)
        except ValueError as exc:
            line = getattr(exc, "lineno", None)
            raise FtgenError(
                [
                    Problem(
                        str(path),
                        "",
                        f"not valid JSON ({getattr(exc, 'msg', exc)}): a truncated or damaged run record",
                        allowed="a run.json written by ftgen; `ftgen runs` lists the broken ones",
                        line=line,
                    )
                ]
            ) from None
        return cls.from_dict(data, str(path))


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


# ---------------------------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Derived:
    """A record's status as it stands now: `stale` when it says running but its ftgen process is gone."""

    status: str
    stale: bool = False
    note: str | None = None


def _scheduled(record: RunRecord) -> bool:
    return str(record.launcher or "").split(" ")[0] == "slurm" and bool((record.scheduler or {}).get("job_id"))


def derive_status(record: RunRecord) -> Derived:
    """What a record's status really is, worked out in memory: never signals, never writes.

    A record 'running' on this host whose ftgen process is gone (kill -9, power loss, a reboot) is interrupted.
    Records of other hosts are left as they say: nothing here can tell. A Slurm run's status comes from its job
    (run/slurm.py: squeue and the job's own state file).
    """
    if _scheduled(record):
        from .slurm import derive

        return derive(record)
    if record.status != "running" or record.host != socket.gethostname():
        return Derived(record.status)
    boot = _procs.boot_id()
    if record.boot_id and boot and record.boot_id != boot:
        reason = "the machine has rebooted since it started"
    else:
        proc = _procs.info(record.pid) if isinstance(record.pid, int) else None
        if proc is None and not _procs.alive(record.pid):
            reason = "the ftgen process that ran it is gone (killed?)"
        elif proc is not None and record.pid_start_ticks is not None and proc.start_ticks != record.pid_start_ticks:
            reason = "the ftgen process that ran it is gone (its pid now belongs to another process)"
        else:
            return Derived("running")
    return Derived("interrupted", True, f"stale: {reason}; found by a later `ftgen runs`")


def refresh(record: RunRecord) -> bool:
    """Save the derived status of a stale record (`ftgen runs --refresh`, `ftgen stop`); True when it changed."""
    if _scheduled(record):
        from .slurm import refresh as slurm_refresh

        return slurm_refresh(record)
    derived = derive_status(record)
    if not derived.stale:
        return False
    record.status = derived.status
    record.note = derived.note
    record.finished_at = record.finished_at or now()
    record.save()
    return True

"""Read back what W&B wrote offline: the records of a run's `.wandb` files, decoded with wandb's own protobuf
schema (wandb.proto.wandb_internal_pb2.Record).

wandb 0.31 ships no Python reader for its transaction log (`wandb sync` hands the file to its Go core), so the
framing is read here: the LevelDB log format W&B uses (a 7-byte file header ":W&B" + magic + version, then 32 KiB
blocks of records, each with a 7-byte header: checksum u32, length u16, type u8 full/first/middle/last), as
wandb's former Python writer, wandb/sdk/internal/datastore.py, wrote it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def _chunks(path: Path) -> Iterator[bytes]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    pos, parts = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # a block's tail too short for a record header is padding
            pos += left
            continue
        _checksum, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if kind == 0 and length == 0:  # zero padding up to the next block
            pos += left
            continue
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            parts = chunk
        elif kind == _MIDDLE:
            parts += chunk
        elif kind == _LAST:
            yield parts + chunk
            parts = b""


def records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    for chunk in _chunks(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        yield record


def session_dirs(wandb_dir: Path, run_id: str) -> list[Path]:
    """The folders of every offline session of the run `run_id` under `<dir>/wandb/`, oldest first:
    offline-run-<YYYYMMDD_HHMMSS>-<run id>, with -1, -2, ... added by wandb when two start in the same second."""
    name = re.compile(rf"^offline-run-(\d{{8}}_\d{{6}})-{re.escape(run_id)}(?:-(\d+))?$")
    found = [(m, p) for p in Path(wandb_dir).glob("wandb/offline-run-*") if (m := name.match(p.name))]
    return [p for m, p in sorted(found, key=lambda mp: (mp[0].group(1), int(mp[0].group(2) or 0)))]


def run_files(wandb_dir: Path, run_id: str) -> list[Path]:
    """The .wandb files of every offline session of the run `run_id`, oldest first."""
    return [f for d in session_dirs(wandb_dir, run_id) for f in sorted(d.glob("*.wandb"))]


def read_run(wandb_dir: Path, run_id: str) -> dict[str, Any]:
    """What the sessions of one offline run wrote, merged in order: config and summary (JSON-decoded values), the
    history keys, the projects and run ids of the run records, their exit codes, and how many sessions there were."""
    import json

    out: dict[str, Any] = {"config": {}, "summary": {}, "history": set(), "runs": [], "exit_codes": [], "sessions": 0}
    for path in run_files(wandb_dir, run_id):
        out["sessions"] += 1
        for r in records(path):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                out["runs"].append({"run_id": r.run.run_id, "project": r.run.project, "tags": list(r.run.tags)})
                out["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
            elif kind == "config":
                out["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
            elif kind == "summary":
                out["summary"].update({i.key: json.loads(i.value_json) for i in r.summary.update if i.key})
            elif kind == "history":
                out["history"].update(i.key or ".".join(i.nested_key) for i in r.history.item)
            elif kind == "exit":
                out["exit_codes"].append(r.exit.exit_code)
    return out

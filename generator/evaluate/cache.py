"""Base-model generations cached per (model, eval set, prompt format, max_new_tokens, framework env)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .. import _io
from ..errors import FtgenError
from ..write import atomic_write


def cache_root() -> Path:
    """$FTGEN_HOME/eval-cache, else ~/.cache/ftgen/eval-cache."""
    home = os.environ.get("FTGEN_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "ftgen"
    return base / "eval-cache"


def model_identity(ref: str) -> str:
    """A hub id as is; a local folder as a hash of config.json and its files' names, sizes and mtimes."""
    path = Path(ref)
    if not path.is_dir():
        return f"hub:{ref}"
    digest = hashlib.sha256()
    config = path / "config.json"
    digest.update(config.read_bytes() if config.is_file() else b"")
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        st = f.stat()
        digest.update(f"{f.name}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return f"local:{digest.hexdigest()}"


def key(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def load(cache_key: str, rows: int, root: Path | None = None) -> dict | None:
    """The cached entry ({"fields", "predictions", "prompt_texts", ...}) when it covers `rows` rows."""
    path = (root or cache_root()) / f"{cache_key}.json"
    try:
        entry = _io.read_json(path, max_bytes=256 * 1024 * 1024)
    except FtgenError:
        return None
    if not isinstance(entry, dict) or len(entry.get("predictions") or []) != rows:
        return None
    return entry


def store(cache_key: str, entry: dict, root: Path | None = None) -> Path:
    path = (root or cache_root()) / f"{cache_key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(entry, ensure_ascii=False) + "\n")
    return path

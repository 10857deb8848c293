"""The spec's lock file: the hub facts a build used (model id, commit, config.json keys), so builds repeat anywhere.

`ftgen build spec.yaml` writes `spec.lock.json` beside the spec when its base model came from the Hugging Face
cache or the hub; committed, it lets `ftgen build`, `check` and `review` rebuild byte for byte on a machine
with neither (CI, a fork's pull request, no token for a gated model). `ftgen build --refresh` re-resolves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .._io import read_text
from ..errors import FtgenError, Problem
from ._arch import CHAT_FORMATS, ArchError, lock_subset, parse
from .hub import is_repo_id

LOCK_VERSION = 1
SUFFIX = ".lock.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HEADER = (
    "Written by `ftgen build` from the Hugging Face cache or the hub; commit it with the spec. "
    "`ftgen build --refresh` re-resolves the model."
)
MAX_LOCK_BYTES = 4 * 1024 * 1024


def lock_path(spec_file: Path | str) -> Path:
    """`specs/bot.yaml` -> `specs/bot.lock.json`."""
    path = Path(spec_file)
    stem = path.name[: -len(path.suffix)] if path.suffix in (".yaml", ".yml") else path.name
    return path.with_name(stem + SUFFIX)


@dataclass(frozen=True)
class LockEntry:
    """One locked model: what the spec asked for, the hub's id and commit, the config.json keys ftgen reads."""

    requested: str  # base_model as the spec writes it
    id: str  # the hub's id (written into the configs)
    revision: str  # commit hash
    resolved_from: str  # cache | hub
    config: dict
    gated: bool | None = None
    # what the tokenizer's chat template writes (_arch.chat_format: a template name, other, none); None: not read
    # (a lock written before ftgen read it, or a hub listing that did not say); written only when known
    chat_format: str | None = None

    def to_dict(self) -> dict:
        out = {
            "id": self.id,
            "revision": self.revision,
            "resolved_from": self.resolved_from,
            "gated": self.gated,
        }
        if self.chat_format is not None:
            out["chat_format"] = self.chat_format
        out["config"] = lock_subset(self.config)
        return out


@dataclass(frozen=True)
class LockWrite:
    """What the spec's lock file should hold after a build, and whether this build read the entry afresh."""

    path: Path
    text: str
    entry: LockEntry
    fresh: bool  # read from the Hugging Face cache or the hub by this build (not from the lock file)

    def current(self) -> bool:
        """Whether the file on disk already holds exactly this text."""
        try:
            return self.path.read_text(encoding="utf-8") == self.text
        except (OSError, UnicodeDecodeError):
            return False


def render(entries: list[LockEntry]) -> str:
    """The lock file's text: stable key order, one trailing newline, no timestamps (a rebuild changes nothing)."""
    data = {
        "lock_version": LOCK_VERSION,
        "about": _HEADER,
        "models": {e.requested: e.to_dict() for e in sorted(entries, key=lambda e: e.requested)},
    }
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def read(path: Path) -> dict[str, LockEntry] | None:
    """The entries of a lock file by requested id; None when there is no lock; FtgenError naming what is wrong."""
    if not path.exists():
        return None
    file = str(path)
    fix = "fix it, or delete it and run `ftgen build --refresh` on the spec to write it again"
    text = read_text(path, file, MAX_LOCK_BYTES, kind="lock ")[0]
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FtgenError([Problem(file, "", f"not valid JSON: {exc.msg}", allowed=fix, line=exc.lineno)]) from None
    if not isinstance(data, dict) or data.get("lock_version") != LOCK_VERSION:
        found = data.get("lock_version") if isinstance(data, dict) else type(data).__name__
        raise FtgenError(
            [Problem(file, "lock_version", "not an ftgen lock of a known version", found, str(LOCK_VERSION))]
        )
    models = data.get("models")
    if not isinstance(models, dict):
        raise FtgenError([Problem(file, "models", "must be a mapping of model ids", type(models).__name__, fix)])
    out: dict[str, LockEntry] = {}
    problems: list[Problem] = []
    for requested, raw in models.items():
        key = f"models.{requested}"
        if not isinstance(raw, dict):
            problems.append(Problem(file, key, "must be a mapping", type(raw).__name__, fix))
            continue
        revision, config = raw.get("revision"), raw.get("config")
        if not isinstance(revision, str) or not _COMMIT.match(revision):
            problems.append(Problem(file, f"{key}.revision", "not a commit hash", revision, "40 hex digits"))
        if not isinstance(raw.get("id"), str) or not is_repo_id(raw["id"]):
            problems.append(Problem(file, f"{key}.id", "not a hub model id", raw.get("id"), "org/name"))
        if not is_repo_id(requested):
            problems.append(Problem(file, key, "not a hub model id", requested, "org/name as base_model names it"))
        if raw.get("resolved_from") not in ("cache", "hub"):
            problems.append(
                Problem(file, f"{key}.resolved_from", "unknown source", raw.get("resolved_from"), "cache, hub")
            )
        if raw.get("gated") not in (True, False, None):
            problems.append(Problem(file, f"{key}.gated", "must be true, false or null", raw.get("gated")))
        if raw.get("chat_format") is not None and raw["chat_format"] not in CHAT_FORMATS:
            allowed = ", ".join(sorted(CHAT_FORMATS))
            problems.append(Problem(file, f"{key}.chat_format", "unknown chat format", raw["chat_format"], allowed))
        if not isinstance(config, dict):
            problems.append(Problem(file, f"{key}.config", "must be a mapping", type(config).__name__, fix))
            continue
        try:
            parse(config)
        except ArchError as exc:
            where = f"{key}.config" + (f".{exc.key}" if exc.key else "")
            problems.append(Problem(file, where, str(exc), exc.found, exc.allowed or fix))
            continue
        if not problems:
            out[requested] = LockEntry(
                requested, raw["id"], revision, raw["resolved_from"], config, raw.get("gated"), raw.get("chat_format")
            )
    if problems:
        raise FtgenError(problems)
    return out

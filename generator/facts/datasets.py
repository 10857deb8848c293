"""Dataset facts: count and check local training/eval files, estimate tokens per example.

No tokenizer is available, so tokens are estimated: ASCII text at 4 characters per
token, wide (non-ASCII, e.g. CJK) characters at 1 token each, plus a chat-template
overhead of 4 tokens per message (role header and end-of-turn markers) and 2 per
sequence (BOS/EOS). This runs about 10-30% off a real BPE tokenizer on English prose;
it is meant for sizing sequence length and memory, not billing.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

from generator.errors import Problem
from generator.facts._rows import (
    CHECKS,
    FORMATS,
    SKIPPED,
    RowError,
    csv_rows,
    estimate_tokens,
    eval_row,
    json_rows,
    jsonl_rows,
)
from generator.facts.types import DatasetStats, EvalStats

__all__ = ["FORMATS", "estimate_tokens", "inspect_eval", "inspect_train"]

DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")
SAMPLE_ABOVE_BYTES = 2 * 1024**3  # larger files: count every line, measure a sample
SAMPLE_ROWS = 200_000  # rows measured in a sampled file
MAX_PROBLEMS_PER_FILE = 20

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


# ------------------------------------------------------------------ one file


class _FileResult:
    """Counts and token estimates from one local file."""

    def __init__(self) -> None:
        self.rows = 0
        self.tokens: list[int] = []
        self.multi_turn = 0
        self.problems: list[Problem] = []
        self.bad = 0


def _inspect_file(path: Path, display: str, fmt: str) -> _FileResult:
    result = _FileResult()
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        stride = max(1, math.ceil(_count_lines(path) / SAMPLE_ROWS)) if size > SAMPLE_ABOVE_BYTES else 1
        rows = jsonl_rows(path, stride)
    elif suffix == ".json":
        rows = json_rows(path)
    else:
        rows = csv_rows(path, fmt)
    check = CHECKS[fmt]
    for line, prefix, row in rows:
        if isinstance(row, RowError):
            _report(result, display, line, prefix, row)
            continue
        result.rows += 1
        if row is SKIPPED:
            continue
        try:
            if not isinstance(row, dict):
                raise RowError("", "row must be a JSON object", found=row, allowed=f"a record in {fmt} format")
            tokens, users = check(row)
        except RowError as bad:
            _report(result, display, line, prefix, bad)
            continue
        result.tokens.append(tokens)
        result.multi_turn += users > 1
    if result.bad > MAX_PROBLEMS_PER_FILE:
        more = result.bad - MAX_PROBLEMS_PER_FILE
        result.problems.append(Problem(display, "", f"and {more} more malformed row{'s' * (more > 1)}"))
    if result.rows == 0 and not result.problems:
        result.problems.append(Problem(display, "", "file holds no rows", allowed=f"{fmt} records"))
    return result


def _report(result: _FileResult, display: str, line: int | None, prefix: str, bad: RowError) -> None:
    """Record a malformed row (rows that are valid JSON are counted by the caller either way)."""
    result.bad += 1
    if result.bad <= MAX_PROBLEMS_PER_FILE:
        key = ".".join(part for part in (prefix, bad.key) if part).replace(".[", "[")
        result.problems.append(Problem(display, key, bad.message, bad.found, bad.allowed, line=line))


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            count += block.count(b"\n")
    return count


# ------------------------------------------------------------------ public


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate


def _local_files(target: Path, display: str) -> list[tuple[Path, str]]:
    if target.is_dir():
        return [
            (p, f"{display.rstrip('/')}/{p.name}")
            for p in sorted(target.iterdir())
            if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
        ]
    return [(target, display)]


def inspect_train(
    entries: list[dict], base_dir: Path, file: str, key: str = "data.train"
) -> tuple[DatasetStats | None, list[Problem]]:
    """Count and check the local training files named by `entries` ({path, format} dicts).

    Hub dataset ids (owner/name, not present locally) are skipped: their size must come
    from the spec. Stats cover the local files; `measured` is True only when every entry
    was local. Row problems name the data file and its line (JSONL/CSV) or index (JSON).
    """
    problems: list[Problem] = []
    tokens: list[int] = []
    rows = multi = 0
    formats: list[str] = []
    local: list[str] = []
    remote = 0
    for i, entry in enumerate(entries):
        where = f"{key}[{i}]"
        path, fmt = (entry.get("path"), entry.get("format")) if isinstance(entry, dict) else (None, None)
        if not isinstance(path, str) or not path:
            problems.append(
                Problem(
                    file,
                    f"{where}.path",
                    "missing dataset path",
                    found=path,
                    allowed="a local file or directory, or a hub dataset id owner/name",
                )
            )
            continue
        if fmt not in FORMATS:
            problems.append(
                Problem(file, f"{where}.format", "unknown dataset format", found=fmt, allowed=", ".join(FORMATS))
            )
            continue
        formats.append(fmt)
        target = _resolve(path, base_dir)
        if not target.exists():
            if _HUB_ID.match(path) and not path.lower().endswith(DATA_SUFFIXES):
                remote += 1
            elif path.lower().endswith(DATA_SUFFIXES):
                problems.append(
                    Problem(
                        file,
                        f"{where}.path",
                        "file not found",
                        found=path,
                        allowed=f"an existing file (relative to {base_dir})",
                    )
                )
            else:
                problems.append(
                    Problem(
                        file,
                        f"{where}.path",
                        "not found locally and not a hub dataset id",
                        found=path,
                        allowed="a local file or directory, or owner/name",
                    )
                )
            continue
        files = _local_files(target, path)
        if not files:
            problems.append(
                Problem(
                    file, f"{where}.path", "directory holds no data files", found=path, allowed=" ".join(DATA_SUFFIXES)
                )
            )
            continue
        for data_path, display in files:
            if data_path.suffix.lower() == ".parquet" or (
                data_path.suffix.lower() == ".json" and data_path.stat().st_size > SAMPLE_ABOVE_BYTES
            ):
                problems.append(
                    Problem(
                        display,
                        "",
                        "not inspected (parquet, or JSON array over 2 GB); the example count must come from the spec",
                        severity="warning",
                    )
                )
                remote += 1
                continue
            result = _inspect_file(data_path, display, fmt)
            problems.extend(result.problems)
            rows += result.rows
            tokens += result.tokens
            multi += result.multi_turn
            local.append(display)
    if not local:
        return None, problems
    return _stats(rows, tokens, multi, formats, local, measured=remote == 0), problems


def _stats(
    rows: int, tokens: list[int], multi: int, formats: list[str], local: list[str], measured: bool
) -> DatasetStats:
    ordered = sorted(tokens)
    n = len(ordered)
    return DatasetStats(
        examples=rows,
        avg_tokens=round(sum(ordered) / n, 1) if n else 0.0,
        max_tokens=ordered[-1] if n else None,
        p95_tokens=ordered[max(0, math.ceil(0.95 * n) - 1)] if n else None,
        formats=tuple(dict.fromkeys(formats)),
        local_files=tuple(local),
        measured=measured,
        multi_turn_fraction=round(multi / n, 4) if n else 0.0,
    )


def inspect_eval(path: str, base_dir: Path, file: str, key: str) -> tuple[EvalStats | None, list[Problem]]:
    """Check an eval set (.jsonl or .json): rows need prompt|messages and answer|answers; ids unique."""
    target = _resolve(path, base_dir)
    if target.suffix.lower() not in (".json", ".jsonl"):
        return None, [Problem(file, key, "eval set must be a local .jsonl or .json file", found=path)]
    if not target.is_file():
        return None, [
            Problem(file, key, "file not found", found=path, allowed=f"an existing file (relative to {base_dir})")
        ]
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    result = _FileResult()
    seen: dict[Any, str] = {}
    rows = jsonl_rows(target, 1) if target.suffix.lower() == ".jsonl" else json_rows(target)
    for line, prefix, row in rows:
        if isinstance(row, RowError):
            _report(result, path, line, prefix, row)
            continue
        result.rows += 1
        try:
            row_id = eval_row(row)
            if row_id is not None and row_id in seen:
                raise RowError("id", f"duplicate id (first at {seen[row_id]})", found=row_id, allowed="unique ids")
            if row_id is not None:
                seen[row_id] = f"line {line}" if line else prefix
        except RowError as bad:
            _report(result, path, line, prefix, bad)
    if result.bad > MAX_PROBLEMS_PER_FILE:
        more = result.bad - MAX_PROBLEMS_PER_FILE
        result.problems.append(Problem(path, "", f"and {more} more malformed row{'s' * (more > 1)}"))
    if result.rows == 0 and not result.problems:
        result.problems.append(Problem(path, "", "eval set holds no rows"))
    return EvalStats(path=path, rows=result.rows, sha256=digest), result.problems

"""Dataset facts: count and check local training/eval files, estimate tokens per example.

No tokenizer is available, so tokens are estimated: ASCII text at 4 characters per
token, wide (non-ASCII, e.g. CJK) characters at 1 token each, plus a chat-template
overhead of 4 tokens per message (role header and end-of-turn markers) and 2 per
sequence (BOS/EOS). This runs about 10-30% off a real BPE tokenizer on English prose;
it is meant for sizing sequence length and memory, not billing.

Every file is read through generator/_io.py (regular files only, nothing under /proc, /sys or /dev), and
decoded as strict UTF-8. Problems are grouped per file: rows with the same problem are one problem that
counts them and lists where they are, and rows that all look like another format are one problem that
names it ("rows look like `messages`: did you mean format: messages?").

Two more facts come out of the same pass: exact duplicate rows (DatasetStats.unique_examples) and which
eval prompts also appear in the training data (compared after Unicode NFKC, case folding and whitespace
collapsing; EvalStats.in_train).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from generator._io import open_regular, read_bytes, read_text
from generator.errors import FtgenError, Problem
from generator.facts._rows import (
    CHECKS,
    FORMATS,
    SKIPPED,
    RowError,
    csv_rows,
    detect_format,
    estimate_tokens,
    eval_prompt,
    eval_row,
    json_rows,
    jsonl_rows,
    normalise_prompt,
    train_prompts,
)
from generator.facts.types import DatasetStats, EvalStats

__all__ = ["FORMATS", "estimate_tokens", "inspect_eval", "inspect_train"]

DATA_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")
SAMPLE_ABOVE_BYTES = 2 * 1024**3  # larger files: count every line, measure a sample
SAMPLE_ROWS = 200_000  # rows measured in a sampled file
MAX_PROBLEMS_PER_FILE = 20  # distinct problems listed per file
MAX_LOCATIONS = 5  # rows listed for a problem that many rows share
UNIQUE_MAX_ROWS = 5_000_000  # above this many distinct rows, duplicates are not counted (memory)
EVAL_MAX_BYTES = 256 * 1024 * 1024

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_INDEX = re.compile(r"\[\d+\]")


# ------------------------------------------------------------------ problems of one file


@dataclass
class _Group:
    """Rows that share one problem: the first one's details, how many, where."""

    first: Problem
    count: int = 0
    where: list[str] = field(default_factory=list)


class _FileResult:
    """Counts, token estimates and grouped problems from one local file."""

    def __init__(self, display: str, fmt: str | None) -> None:
        self.display = display
        self.fmt = fmt
        self.rows = 0
        self.tokens: list[int] = []
        self.multi_turn = 0
        self.groups: dict[tuple[str, str], _Group] = {}
        self.bad = 0
        self.objects = 0  # rows that are JSON objects (the ones a format check applies to)
        self.wrong = 0  # objects that fail the declared format
        self.looks_like: Counter[str] = Counter()  # formats those objects pass instead
        self.first_wrong: tuple[int | None, str] | None = None  # where the first of them is
        self.sampled = False
        self.unreadable: list[Problem] = []  # the file could not be read (whole or in part)

    def report(self, line: int | None, prefix: str, bad: RowError) -> None:
        """Record a malformed row (rows that are valid JSON are counted by the caller either way)."""
        self.bad += 1
        key = ".".join(part for part in (prefix, bad.key) if part).replace(".[", "[")
        group = self.groups.get((_INDEX.sub("[]", key), bad.message))
        if group is None:
            first = Problem(self.display, key, bad.message, bad.found, bad.allowed, line=line)
            group = self.groups[(_INDEX.sub("[]", key), bad.message)] = _Group(first)
        group.count += 1
        if len(group.where) < MAX_LOCATIONS:
            group.where.append(str(line) if line is not None else (_INDEX.match(key) or [key])[0])

    def problems(self) -> list[Problem]:
        """One problem per distinct problem (first row, count, where), or one summary for a wrong format."""
        summary = self._wrong_format()
        if summary is not None:
            return [summary, *self.unreadable]
        out = []
        for group in list(self.groups.values())[:MAX_PROBLEMS_PER_FILE]:
            p = group.first
            if group.count > 1:
                lines = all(w.isdigit() for w in group.where)
                where = ", ".join(group.where) + (
                    f" and {group.count - len(group.where)} more" if group.count > len(group.where) else ""
                )
                p = Problem(
                    p.file,
                    p.key,
                    f"{p.message} (in {group.count:,} rows: {'lines ' if lines else ''}{where})",
                    p.found,
                    p.allowed,
                    line=p.line,
                )
            out.append(p)
        hidden = sum(g.count for g in list(self.groups.values())[MAX_PROBLEMS_PER_FILE:])
        if hidden:
            out.append(Problem(self.display, "", f"and {hidden} more malformed row{'s' * (hidden > 1)}"))
        if self.rows == 0 and not out and not self.unreadable:
            out.append(Problem(self.display, "", "file holds no rows", allowed=f"{self.fmt} records"))
        return out + self.unreadable

    def _wrong_format(self) -> Problem | None:
        """Most rows fail the declared format and pass another: one problem that names the other."""
        if not self.looks_like or self.wrong * 2 <= self.objects:
            return None
        fmt, n = self.looks_like.most_common(1)[0]
        if n * 2 <= self.wrong:
            return None
        line, prefix = self.first_wrong or (None, "")
        return Problem(
            self.display,
            prefix,
            f"rows look like `{fmt}`, not `{self.fmt}` ({n:,} of {self.objects:,} rows): did you mean format: {fmt}?",
            allowed=f"format: {fmt} in the spec's data.train entry, or rows in {self.fmt} format",
            line=line,
        )


# ------------------------------------------------------------------ one file


@dataclass
class _Pass:
    """What one inspect_train call gathers across its files."""

    eval_prompts: Mapping[str, Any] | None
    seen: set[int] = field(default_factory=set)  # row digests, for exact duplicates
    counted_all: bool = True
    eval_seen: set[str] = field(default_factory=set)


def _inspect_file(path: Path, display: str, fmt: str, run: _Pass) -> _FileResult:
    result = _FileResult(display, fmt)
    try:
        with open_regular(path, display, kind="data ") as handle:
            size = _size(handle)
            suffix = path.suffix.lower()
            if suffix == ".jsonl":
                stride = 1
                if size > SAMPLE_ABOVE_BYTES:
                    stride = max(1, math.ceil(_count_lines(handle) / SAMPLE_ROWS))
                    handle.seek(0)
                result.sampled = stride > 1
                rows = jsonl_rows(handle, stride)
                _check_rows(result, rows, fmt, run)
            elif suffix == ".json":
                text, _ = _decoded(handle, display)
                _check_rows(result, json_rows(text), fmt, run)
            else:
                _check_rows(result, csv_rows(handle, fmt), fmt, run)
    except FtgenError as exc:  # unreadable: not a regular file, no permission, not UTF-8 (JSON arrays)
        result.unreadable.extend(exc.problems)
    except OSError as exc:  # a read that fails half-way (an I/O error on the medium)
        result.unreadable.append(Problem(display, "", f"cannot read: {exc.strerror or exc}", found=str(path)))
    return result


def _check_rows(result: _FileResult, rows, fmt: str, run: _Pass) -> None:
    check = CHECKS[fmt]
    for line, prefix, row in rows:
        if isinstance(row, RowError):
            result.report(line, prefix, row)
            continue
        result.rows += 1
        if row is SKIPPED:
            run.counted_all = False
            continue
        try:
            if not isinstance(row, dict):
                raise RowError("", "row must be a JSON object", found=row, allowed=f"a record in {fmt} format")
            result.objects += 1
            if len(run.seen) < UNIQUE_MAX_ROWS:
                run.seen.add(_digest(row))
            tokens, users = check(row)
        except RowError as bad:
            if isinstance(row, dict):
                result.wrong += 1
                other = detect_format(row)
                if other is not None:
                    result.looks_like[other] += 1
                    result.first_wrong = result.first_wrong or (line, prefix)
            result.report(line, prefix, bad)
            continue
        result.tokens.append(tokens)
        result.multi_turn += users > 1
        if run.eval_prompts:
            for text in train_prompts(row, fmt):
                key = normalise_prompt(text)
                if key in run.eval_prompts:
                    run.eval_seen.add(key)


# json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")), without making an encoder per row
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode


def _digest(row: dict) -> int:
    """A row's content, key order ignored (Python's hash: 64 bits, enough to count within one build)."""
    return hash(_CANONICAL(row))


def _size(handle) -> int:
    import os

    return os.fstat(handle.fileno()).st_size


def _decoded(handle, display: str) -> tuple[str, bytes]:
    """The whole (already opened) file as text; not UTF-8 is an FtgenError with the line."""
    raw = handle.read()
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FtgenError(
            [
                Problem(
                    display,
                    "",
                    "not UTF-8 text",
                    found=raw[max(0, exc.start - 8) : exc.start + 8],
                    allowed="UTF-8 (save the file as UTF-8)",
                    line=line,
                )
            ]
        ) from None


def _count_lines(handle) -> int:
    count = 0
    for block in iter(lambda: handle.read(1 << 24), b""):
        count += block.count(b"\n")
    return count


# ------------------------------------------------------------------ public


def _resolve(path: str, base_dir: Path) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else Path(base_dir) / candidate


def _local_files(target: Path, display: str) -> list[tuple[Path, str]]:
    """The data files of a folder (anything with a data suffix that is not a folder: the reader refuses
    what is not a regular file, with a message), or the file itself."""
    if target.is_dir():
        return [
            (p, f"{display.rstrip('/')}/{p.name}")
            for p in sorted(target.iterdir())
            if p.suffix.lower() in DATA_SUFFIXES and not p.is_dir()
        ]
    return [(target, display)]


def inspect_train(
    entries: list[dict],
    base_dir: Path,
    file: str,
    key: str = "data.train",
    eval_prompts: Mapping[str, Any] | None = None,
) -> tuple[DatasetStats | None, list[Problem]]:
    """Count and check the local training files named by `entries` ({path, format} dicts).

    Hub dataset ids (owner/name, not present locally) are skipped: their size must come
    from the spec. Stats cover the local files; `measured` is True only when every entry
    was local. Row problems name the data file and its line (JSONL/CSV) or index (JSON).
    With `eval_prompts` (normalised eval prompt -> anything), the stats' `eval_prompts_seen` holds
    those that a training row also has.
    """
    problems: list[Problem] = []
    tokens: list[int] = []
    rows = multi = 0
    formats: list[str] = []
    local: list[str] = []
    remote = 0
    run = _Pass(eval_prompts)
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
        if not target.exists() and not target.is_symlink():
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
        try:
            files = _local_files(target, path)
        except OSError as exc:
            problems.append(
                Problem(file, f"{where}.path", f"cannot list the folder: {exc.strerror or exc}", found=path)
            )
            continue
        if not files:
            problems.append(
                Problem(
                    file, f"{where}.path", "directory holds no data files", found=path, allowed=" ".join(DATA_SUFFIXES)
                )
            )
            continue
        for data_path, display in files:
            if data_path.suffix.lower() == ".parquet" or (
                data_path.suffix.lower() == ".json" and _stat_size(data_path) > SAMPLE_ABOVE_BYTES
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
                run.counted_all = False
                continue
            result = _inspect_file(data_path, display, fmt, run)
            problems.extend(result.problems())
            rows += result.rows
            tokens += result.tokens
            multi += result.multi_turn
            local.append(display)
    if not local:
        return None, problems
    unique = len(run.seen) if run.counted_all and remote == 0 and len(run.seen) < UNIQUE_MAX_ROWS else None
    stats = _stats(rows, tokens, multi, formats, local, measured=remote == 0)
    return replace(stats, unique_examples=unique, eval_prompts_seen=frozenset(run.eval_seen)), problems


def _stat_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # the reader reports why it cannot open it


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
    """Check an eval set (.jsonl or .json): rows need prompt|messages and answer|answers; ids unique.

    The stats carry each row's normalised prompt (EvalStats.prompts), for the overlap with the training data.
    """
    target = _resolve(path, base_dir)
    if target.suffix.lower() not in (".json", ".jsonl"):
        return None, [Problem(file, key, "eval set must be a local .jsonl or .json file", found=path)]
    if not target.exists() and not target.is_symlink():
        return None, [
            Problem(file, key, "file not found", found=path, allowed=f"an existing file (relative to {base_dir})")
        ]
    try:
        if target.suffix.lower() == ".jsonl":
            raw = read_bytes(target, path, EVAL_MAX_BYTES, kind="eval ")
            rows = jsonl_rows(io.BytesIO(raw), 1)
        else:
            text, raw = read_text(target, path, EVAL_MAX_BYTES, kind="eval ")
            rows = json_rows(text)
    except FtgenError as exc:
        return None, exc.problems
    result = _FileResult(path, None)
    seen: dict[Any, str] = {}
    prompts: dict[str, list[str]] = {}
    for line, prefix, row in rows:
        if isinstance(row, RowError):
            result.report(line, prefix, row)
            continue
        result.rows += 1
        where = f"line {line}" if line else prefix
        try:
            row_id = eval_row(row)
            if row_id is not None and row_id in seen:
                raise RowError("id", f"duplicate id (first at {seen[row_id]})", found=row_id, allowed="unique ids")
            if row_id is not None:
                seen[row_id] = where
        except RowError as bad:
            result.report(line, prefix, bad)
            continue
        label = f"id {row_id}" if row_id is not None else where
        prompts.setdefault(normalise_prompt(eval_prompt(row)), []).append(label)
    problems = result.problems()
    if result.rows == 0 and problems and problems[0].message == "file holds no rows":
        problems = [Problem(path, "", "eval set holds no rows")]
    digest = hashlib.sha256(raw).hexdigest()
    return EvalStats(
        path=path, rows=result.rows, sha256=digest, prompts={k: tuple(v) for k, v in prompts.items()}
    ), problems

"""Row checks and readers for dataset files, and the token estimate (see facts.datasets)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMATS = ("alpaca", "sharegpt", "messages", "preference", "text", "kto")
TURN_OVERHEAD = 4  # role header + end-of-turn markers per message
SEQUENCE_OVERHEAD = 2  # BOS + EOS

_ROLES = ("system", "user", "assistant", "tool")
_FROM = ("system", "human", "user", "gpt", "assistant", "function_call", "observation", "tool")
_USER = {"human", "user"}
_ASSISTANT = {"gpt", "assistant", "function_call"}


class RowError(Exception):
    """One malformed row: where inside the row, what is wrong, what is allowed."""

    def __init__(self, key: str, message: str, found: Any = None, allowed: str | None = None):
        super().__init__(message)
        self.key, self.message, self.found, self.allowed = key, message, found, allowed


def estimate_tokens(text: str) -> int:
    """Heuristic token count of `text` (see the module docstring)."""
    n = len(text)
    if text.isascii():
        return (n + 3) // 4
    wide = (len(text.encode("utf-8")) - n) // 2
    return (n - wide + 3) // 4 + wide


# ------------------------------------------------------------------ row checks
# each returns (estimated tokens, user turns) or raises RowError


def _string(row: dict, name: str, optional: bool = False) -> str:
    value = row.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise RowError(name, _wrong(row, name, "a string"), found=value, allowed="a string")
    return value


def _wrong(obj: dict, name: str, what: str) -> str:
    """Message for a key that is absent, null, or of the wrong type."""
    if name not in obj:
        return f"missing '{name}'"
    return f"'{name}' is null" if obj[name] is None else f"'{name}' must be {what}"


def _turns(items: Any, name: str, role_key: str, text_key: str, roles: tuple[str, ...]) -> tuple[int, int, bool]:
    """Check a list of turns; return (tokens, user turns, has an assistant turn)."""
    if not isinstance(items, list) or not items:
        message = f"'{name}' must be a non-empty list" if items is not None else f"missing '{name}'"
        raise RowError(name, message, found=items, allowed=f"a list of {{{role_key}, {text_key}}} objects")
    tokens = users = 0
    answered = False
    for i, turn in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(turn, dict):
            raise RowError(where, "turn must be an object", found=turn, allowed=f"{{{role_key}, {text_key}}}")
        role = turn.get(role_key)
        if role not in roles:
            message = f"unknown '{role_key}'" if role is not None else _wrong(turn, role_key, "a string")
            raise RowError(f"{where}.{role_key}", message, found=role, allowed=", ".join(roles))
        text = turn.get(text_key)
        if not isinstance(text, str):
            raise RowError(f"{where}.{text_key}", _wrong(turn, text_key, "a string"), found=text, allowed="a string")
        tokens += estimate_tokens(text) + TURN_OVERHEAD
        users += role in _USER
        answered = answered or role in _ASSISTANT
    return tokens, users, answered


def _alpaca(row: dict) -> tuple[int, int]:
    texts = [
        _string(row, "instruction"),
        _string(row, "output"),
        _string(row, "input", optional=True),
        _string(row, "system", optional=True),
    ]
    history = row.get("history") or []
    if not isinstance(history, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(t, str) for t in p) for p in history
    ):
        raise RowError("history", "'history' must be a list of [question, answer] string pairs", found=history)
    texts += [t for pair in history for t in pair]
    turns = 2 + 2 * len(history) + bool(texts[3])
    return sum(map(estimate_tokens, texts)) + TURN_OVERHEAD * turns + SEQUENCE_OVERHEAD, 1 + len(history)


def _sharegpt(row: dict) -> tuple[int, int]:
    tokens, users, answered = _turns(row.get("conversations"), "conversations", "from", "value", _FROM)
    if not answered:
        raise RowError("conversations", "no assistant turn to learn from", allowed="at least one 'gpt' turn")
    return tokens + estimate_tokens(_string(row, "system", optional=True)) + SEQUENCE_OVERHEAD, users


def _messages(row: dict) -> tuple[int, int]:
    tokens, users, answered = _turns(row.get("messages"), "messages", "role", "content", _ROLES)
    if not answered:
        raise RowError("messages", "no assistant turn to learn from", allowed="at least one 'assistant' message")
    return tokens + SEQUENCE_OVERHEAD, users


def _response(row: dict, name: str) -> int:
    value = row.get(name)
    if isinstance(value, list):
        return _turns(value, name, "role", "content", _ROLES)[0]
    return estimate_tokens(_string(row, name)) + TURN_OVERHEAD


def _preference(row: dict) -> tuple[int, int]:
    prompt = estimate_tokens(_string(row, "prompt")) + TURN_OVERHEAD
    return prompt + max(_response(row, "chosen"), _response(row, "rejected")) + SEQUENCE_OVERHEAD, 1


def _text(row: dict) -> tuple[int, int]:
    return estimate_tokens(_string(row, "text")) + SEQUENCE_OVERHEAD, 0


def _kto(row: dict) -> tuple[int, int]:
    tokens = estimate_tokens(_string(row, "prompt")) + estimate_tokens(_string(row, "completion"))
    if not isinstance(row.get("label"), bool):
        raise RowError("label", _wrong(row, "label", "true or false"), found=row.get("label"), allowed="a boolean")
    return tokens + 2 * TURN_OVERHEAD + SEQUENCE_OVERHEAD, 1


CHECKS = {
    "alpaca": _alpaca,
    "sharegpt": _sharegpt,
    "messages": _messages,
    "preference": _preference,
    "text": _text,
    "kto": _kto,
}
CSV_COLUMNS = {
    "alpaca": ("instruction", "output"),
    "text": ("text",),
    "preference": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
}


# ------------------------------------------------------------------ reading rows
# each yields (line or None, key prefix, row | RowError | SKIPPED)

SKIPPED = object()  # a row counted but not measured (sampled files)


def jsonl_rows(path: Path, stride: int) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a JSON Lines file with 1-based line numbers; only every `stride`-th row is parsed."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        seen = 0
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            seen += 1
            if (seen - 1) % stride:
                yield number, "", SKIPPED
                continue
            try:
                yield number, "", json.loads(raw)
            except ValueError as exc:
                yield number, "", RowError("", "not valid JSON", found=str(exc), allowed="one JSON object per line")


def json_rows(path: Path) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a JSON array file, keyed by their index."""
    try:
        data = json.loads(path.read_bytes())
    except ValueError as exc:
        yield None, "", RowError("", "not valid JSON", found=str(exc), allowed="a JSON array of objects")
        return
    if not isinstance(data, list):
        yield (
            None,
            "",
            RowError(
                "",
                "top level must be a JSON array",
                found=type(data).__name__,
                allowed="a JSON array of objects (or use .jsonl)",
            ),
        )
        return
    for index, row in enumerate(data):
        yield None, f"[{index}]", row


def csv_rows(path: Path, fmt: str) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a CSV file with a header (flat formats only); kto labels true/false/1/0 become booleans."""
    if fmt not in CSV_COLUMNS:
        yield None, "", RowError("", f"format {fmt} cannot be stored as CSV", allowed="a .json or .jsonl file")
        return
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS[fmt] if c not in (reader.fieldnames or ())]
        if missing:
            yield (
                1,
                "",
                RowError(
                    "",
                    f"CSV header lacks columns for {fmt}",
                    found=reader.fieldnames,
                    allowed=", ".join(CSV_COLUMNS[fmt]),
                ),
            )
            return
        for row in reader:
            if fmt == "kto" and str(row.get("label")).strip().lower() in ("true", "false", "1", "0"):
                row["label"] = row["label"].strip().lower() in ("true", "1")
            yield reader.line_num, "", row


# ------------------------------------------------------------------ eval set


def eval_row(row: Any) -> Any:
    """Check one eval row; return its id (or None)."""
    if not isinstance(row, dict):
        raise RowError("", "row must be a JSON object", found=row, allowed="{prompt|messages, answer|answers}")
    if "messages" in row and "prompt" not in row:
        _turns(row["messages"], "messages", "role", "content", _ROLES)
    else:
        _string(row, "prompt")
    if "answers" in row and "answer" not in row:
        answers = row["answers"]
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
            raise RowError("answers", "'answers' must be a non-empty list of strings", found=answers)
    elif isinstance(row.get("answer"), bool) or not isinstance(row.get("answer"), (str, int, float)):
        raise RowError(
            "answer",
            _wrong(row, "answer", "a string or number"),
            found=row.get("answer"),
            allowed="'answer' (a string or number) or 'answers' (a list of strings)",
        )
    if "id" in row and (isinstance(row["id"], bool) or not isinstance(row["id"], (str, int))):
        raise RowError("id", "'id' must be a string or integer", found=row["id"])
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise RowError("tags", "'tags' must be a list of strings", found=tags)
    return row.get("id")

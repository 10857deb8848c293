"""Row checks and readers for dataset files, and the token estimate (see facts.datasets)."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterator
from typing import Any, BinaryIO

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
# Readers take an open binary handle (generator/_io.open_regular) or bytes, never a path: every data file is
# opened by the one safe reader. Each yields (line or None, key prefix, row | RowError | SKIPPED).

SKIPPED = object()  # a row counted but not measured (sampled files)
_BOM = b"\xef\xbb\xbf"
csv.field_size_limit(64 * 1024 * 1024)  # one long text field (a pretraining document) is fine; the default is 128 KiB


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> RowError:
    return RowError(
        "",
        "not UTF-8 text",
        found=raw[max(0, exc.start - 8) : exc.start + 8],
        allowed=f"UTF-8 (byte {exc.start + 1} of the line is {raw[exc.start]:#04x}; save the file as UTF-8)",
    )


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """1-based physical lines; a UTF-8 byte-order mark at the start is dropped (Excel writes one)."""
    for number, raw in enumerate(handle, start=1):
        yield number, raw[3:] if number == 1 and raw.startswith(_BOM) else raw


def jsonl_rows(handle: BinaryIO, stride: int = 1) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a JSON Lines file with 1-based line numbers; only every `stride`-th row is parsed.

    Every line is decoded as UTF-8 (strictly: a bad byte is a RowError with its line, never replaced).
    A file that is one JSON array (a .json saved as .jsonl) is one error, not an error per line.
    """
    seen = 0
    for number, raw in _lines(handle):
        if not raw.strip():
            continue
        seen += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield number, "", _not_utf8(raw, exc)
            continue
        if seen == 1 and text.lstrip().startswith("[") and _json_array_file(text):
            yield number, "", RowError("", "this is a JSON array, not JSON Lines", allowed="rename the file to .json")
            return
        if (seen - 1) % stride:
            yield number, "", SKIPPED
            continue
        try:
            row = json.loads(text)
        except ValueError as exc:
            yield number, "", RowError("", "not valid JSON", found=str(exc), allowed="one JSON object per line")
            continue
        yield number, "", row


def _json_array_file(first_line: str) -> bool:
    """A first line that opens a JSON array of rows (pretty-printed, or the whole array on one line)."""
    try:
        value = json.loads(first_line)
    except ValueError:
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _one_json_value(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def json_rows(text: str) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a JSON array file (already decoded), keyed by their index.

    A byte-order mark is an error here (it is fine in .jsonl and .csv): the datasets library both frameworks
    load data with refuses a JSON array that starts with one (measured with datasets 4.0.0 and 4.8.4).
    """
    if text.startswith("\ufeff"):
        yield (
            1,
            "",
            RowError(
                "",
                "starts with a UTF-8 byte-order mark, which the frameworks' JSON reader refuses",
                allowed="save the file as UTF-8 without BOM",
            ),
        )
        return
    try:
        data = json.loads(text)
    except ValueError as exc:
        lineno = getattr(exc, "lineno", None)
        if "Extra data" in str(exc) and lineno and lineno > 1 and _one_json_value(text.splitlines()[0]):
            error = RowError("", "this is JSON Lines, not one JSON array", allowed="rename the file to .jsonl")
        else:
            error = RowError("", "not valid JSON", found=str(exc), allowed="a JSON array of objects")
        yield lineno, "", error
        return
    if not isinstance(data, list):
        under = [k for k, v in data.items() if isinstance(v, list)] if isinstance(data, dict) else []
        hint = f"; the rows seem to be under {under[0]!r}: save that list alone" if len(under) == 1 else ""
        yield (
            None,
            "",
            RowError(
                "",
                "top level must be a JSON array",
                found=type(data).__name__,
                allowed=f"a JSON array of objects (or use .jsonl){hint}",
            ),
        )
        return
    for index, row in enumerate(data):
        yield None, f"[{index}]", row


def csv_rows(handle: BinaryIO, fmt: str) -> Iterator[tuple[int | None, str, Any]]:
    """Rows of a CSV file with a header (flat formats only); kto labels true/false/1/0 become booleans.

    Lines are decoded as UTF-8 one by one, so a bad byte is reported with its line; the row it is in is
    reported and skipped.
    """
    if fmt not in CSV_COLUMNS:
        looks = _csv_format(_header(handle))
        hint = f"; its columns look like {looks}" if looks else ""
        yield None, "", RowError("", f"format {fmt} cannot be stored as CSV{hint}", allowed="a .json or .jsonl file")
        return
    bad: dict[int, RowError] = {}

    def decoded() -> Iterator[str]:
        for number, raw in _lines(handle):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad[number] = _not_utf8(raw, exc)
                yield raw.decode("utf-8", errors="replace")  # parsing goes on; the row is reported, not used

    reader = csv.DictReader(decoded())
    try:
        header = reader.fieldnames
        missing = [c for c in CSV_COLUMNS[fmt] if c not in (header or ())]
        if missing:
            looks = _csv_format(header)
            hint = f"; they look like format {looks}" if looks else ""
            yield (
                1,
                "",
                RowError(
                    "", f"CSV header lacks columns for {fmt}{hint}", found=header, allowed=", ".join(CSV_COLUMNS[fmt])
                ),
            )
            return
        start = 2
        for row in reader:
            lines = range(start, reader.line_num + 1)
            start = reader.line_num + 1
            errors = [(n, bad.pop(n)) for n in lines if n in bad]
            if errors:
                yield errors[0][0], "", errors[0][1]
                continue
            if fmt == "kto" and str(row.get("label")).strip().lower() in ("true", "false", "1", "0"):
                row["label"] = row["label"].strip().lower() in ("true", "1")
            yield reader.line_num, "", row
        for number, error in sorted(bad.items()):
            yield number, "", error
    except csv.Error as exc:
        yield reader.line_num, "", RowError("", "not valid CSV", found=str(exc), allowed="CSV with a header row")


def _header(handle: BinaryIO) -> list[str]:
    first = handle.readline().removeprefix(_BOM).decode("utf-8", errors="replace")
    return next(csv.reader([first]), [])


def _csv_format(header) -> str | None:
    """The flat format whose columns a CSV header has, if one does."""
    for fmt, columns in CSV_COLUMNS.items():
        if header and all(c in header for c in columns):
            return fmt
    return None


# ------------------------------------------------------------------ what a row looks like


def detect_format(row: Any) -> str | None:
    """The first format whose check a row passes (None when it passes none)."""
    if not isinstance(row, dict):
        return None
    for fmt in FORMATS:
        try:
            CHECKS[fmt](row)
        except RowError:
            continue
        return fmt
    return None


def normalise_prompt(text: str) -> str:
    """A prompt as overlap checks compare it: Unicode NFKC, case-folded, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def train_prompts(row: dict, fmt: str) -> list[str]:
    """The user-side texts of a valid training row that an eval prompt could copy: for chats each user turn
    and all of them together; for alpaca instruction + input; prompt for preference/kto; text for text."""
    if fmt == "alpaca":
        return [" ".join(t for t in (row["instruction"], row.get("input") or "") if t)]
    if fmt in ("messages", "sharegpt"):
        turns, role, text = ("messages", "role", "content") if fmt == "messages" else ("conversations", "from", "value")
        users = [t[text] for t in row[turns] if t.get(role) in _USER]
        return users + [" ".join(users)] if len(users) > 1 else users
    if fmt in ("preference", "kto"):
        return [row["prompt"]] if isinstance(row.get("prompt"), str) else []
    return [row["text"]]


def eval_prompt(row: dict) -> str:
    """The prompt text of a valid eval row: `prompt`, or its user messages together."""
    if isinstance(row.get("prompt"), str):
        return row["prompt"]
    return " ".join(t["content"] for t in row.get("messages") or [] if t.get("role") in _USER)


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

"""Tests for generator.facts.datasets: counting, token estimates, malformed rows, eval sets."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from generator.facts import datasets
from generator.facts.datasets import estimate_tokens, inspect_eval, inspect_train

DATA = Path(__file__).parent / "data"
BAD = sorted(p.name for p in (DATA / "bad").iterdir())
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"


def _train(path: str, fmt: str, base: Path = DATA):
    return inspect_train([{"path": path, "format": fmt}], base, "spec.yaml")


# ------------------------------------------------------------------ data-driven malformed files


@pytest.mark.parametrize("name", BAD)
def test_bad_file_reports_expected_problems(name):
    """data/bad/<format>__<case>.<ext> -> data/expected/<same name>.txt (rendered problems, one a line)."""
    fmt = name.split("__")[0]
    if fmt == "eval":
        _, problems = inspect_eval(f"bad/{name}", DATA, "spec.yaml", "eval.path")
    else:
        _, problems = _train(f"bad/{name}", fmt)
    got = "".join(p.render() + "\n" for p in problems)
    expected = DATA / "expected" / f"{name}.txt"
    if UPDATE:
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")
    assert problems and all(p.severity == "error" for p in problems)


def test_problems_carry_line_numbers_for_jsonl_and_index_for_json():
    _, problems = _train("bad/alpaca__rows.jsonl", "alpaca")
    assert [p.line for p in problems] == [3, 4, 5, 6, 7, 8]  # line 2 is blank, line 9 is fine
    assert all(p.file == "bad/alpaca__rows.jsonl" for p in problems)
    _, problems = _train("bad/messages__array.json", "messages")
    assert [p.line for p in problems] == [None, None, None]
    assert [p.key for p in problems] == ["[1].messages[1].content", "[2].messages", "[3]"]


def test_problem_listing_stops_after_twenty_per_file(tmp_path):
    rows = [{"instruction": "q", "output": "a"}] + [{"instruction": i} for i in range(25)]
    (tmp_path / "many.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats, problems = _train("many.jsonl", "alpaca", tmp_path)
    assert len(problems) == 21
    assert problems[19].line == 21
    assert problems[-1].message == "and 5 more malformed rows"
    assert stats.examples == 26


# ------------------------------------------------------------------ counting good files


def test_counts_messages_jsonl():
    stats, problems = _train("good/chat.jsonl", "messages")
    assert problems == []
    assert stats.examples == 4  # the blank line is not a row
    assert stats.measured is True
    assert stats.formats == ("messages",)
    assert stats.local_files == ("good/chat.jsonl",)
    assert stats.multi_turn_fraction == 0.25
    assert stats.max_tokens >= stats.p95_tokens >= stats.avg_tokens > 0


def test_token_estimate_for_one_row(tmp_path):
    text = "x" * 400  # 100 tokens
    (tmp_path / "t.jsonl").write_text(json.dumps({"text": text}) + "\n")
    stats, _ = _train("t.jsonl", "text", tmp_path)
    assert stats.max_tokens == 100 + 2  # + BOS/EOS
    row = {"messages": [{"role": "user", "content": "a" * 40}, {"role": "assistant", "content": "b" * 80}]}
    (tmp_path / "m.jsonl").write_text(json.dumps(row) + "\n")
    stats, _ = _train("m.jsonl", "messages", tmp_path)
    assert stats.max_tokens == 10 + 20 + 2 * 4 + 2  # texts + per-message overhead + BOS/EOS


def test_estimate_tokens_heuristic():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("你好世界") == 4  # wide characters count one token each
    assert estimate_tokens("hello 你好") == 2 + 2


def test_counts_json_array_csv_and_directory():
    stats, problems = _train("good/alpaca.json", "alpaca")
    assert problems == [] and stats.examples == 3 and stats.multi_turn_fraction == pytest.approx(1 / 3, abs=1e-3)
    stats, problems = _train("good/alpaca.csv", "alpaca")
    assert problems == [] and stats.examples == 2
    stats, problems = _train("good/chat_dir", "sharegpt")
    assert problems == []
    assert stats.local_files == ("good/chat_dir/part-0.jsonl", "good/chat_dir/part-1.jsonl")
    assert stats.examples == 3 and stats.multi_turn_fraction == pytest.approx(1 / 3, abs=1e-3)


def test_several_entries_add_up():
    entries = [{"path": "good/chat.jsonl", "format": "messages"}, {"path": "good/alpaca.json", "format": "alpaca"}]
    stats, problems = inspect_train(entries, DATA, "spec.yaml")
    assert problems == []
    assert stats.examples == 7 and stats.formats == ("messages", "alpaca") and stats.measured


def test_absolute_path(tmp_path):
    stats, problems = _train(str(DATA / "good" / "chat.jsonl"), "messages", tmp_path)
    assert problems == [] and stats.examples == 4


# ------------------------------------------------------------------ remote, missing, unreadable


def test_hub_dataset_is_not_counted():
    stats, problems = _train("tatsu-lab/alpaca", "alpaca")
    assert stats is None and problems == []


def test_mix_of_local_and_hub_is_not_fully_measured():
    entries = [
        {"path": "good/chat.jsonl", "format": "messages"},
        {"path": "HuggingFaceH4/ultrachat_200k", "format": "messages"},
    ]
    stats, problems = inspect_train(entries, DATA, "spec.yaml")
    assert problems == [] and stats.examples == 4 and stats.measured is False


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing/train.jsonl", "file not found"),
        ("owner/name.json", "file not found"),
        ("no_such_thing", "not found locally and not a hub dataset id"),
        ("a/b/c", "not found locally and not a hub dataset id"),
    ],
)
def test_missing_paths(path, message):
    stats, problems = _train(path, "alpaca")
    assert stats is None
    assert [(p.file, p.key, p.message, p.found) for p in problems] == [
        ("spec.yaml", "data.train[0].path", message, path)
    ]


def test_bad_entries():
    entries = [{"path": "good/chat.jsonl", "format": "chatml"}, {"format": "text"}, "not-a-dict"]
    stats, problems = inspect_train(entries, DATA, "spec.yaml", key="data.extra")
    assert stats is None
    assert [(p.key, p.message) for p in problems] == [
        ("data.extra[0].format", "unknown dataset format"),
        ("data.extra[1].path", "missing dataset path"),
        ("data.extra[2].path", "missing dataset path"),
    ]


def test_empty_file_and_empty_directory(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "emptydir").mkdir()
    _, problems = _train("empty.jsonl", "text", tmp_path)
    assert [p.message for p in problems] == ["file holds no rows"]
    _, problems = _train("emptydir", "text", tmp_path)
    assert [p.message for p in problems] == ["directory holds no data files"]


def test_parquet_is_a_warning_and_not_measured(tmp_path):
    (tmp_path / "train.parquet").write_bytes(b"PAR1")
    stats, problems = _train("train.parquet", "alpaca", tmp_path)
    assert stats is None
    assert [p.severity for p in problems] == ["warning"]


# ------------------------------------------------------------------ big files


def test_large_file_counts_every_line_but_measures_a_sample(tmp_path, monkeypatch):
    rows = [json.dumps({"text": "y" * (4 * (i % 50 + 1))}) for i in range(1000)]
    (tmp_path / "big.jsonl").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(datasets, "SAMPLE_ABOVE_BYTES", 1000)
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 100)
    stats, problems = _train("big.jsonl", "text", tmp_path)
    assert problems == [] and stats.examples == 1000 and stats.measured
    assert stats.max_tokens <= 52  # every 10th row measured: text tokens 1..50 + 2


def test_hundred_thousand_rows_is_fast(tmp_path):
    row = json.dumps(
        {"instruction": "Summarise the text below in one line.", "input": "word " * 60, "output": "ok " * 20}
    )
    (tmp_path / "fast.jsonl").write_text((row + "\n") * 100_000)
    start = time.perf_counter()
    stats, problems = _train("fast.jsonl", "alpaca", tmp_path)
    elapsed = time.perf_counter() - start
    assert problems == [] and stats.examples == 100_000
    assert elapsed < 5.0, f"{elapsed:.2f}s"


# ------------------------------------------------------------------ eval sets


def test_eval_set_ok():
    stats, problems = inspect_eval("good/eval.jsonl", DATA, "spec.yaml", "eval.path")
    assert problems == []
    assert stats.rows == 3 and stats.path == "good/eval.jsonl"
    assert stats.sha256 == hashlib.sha256((DATA / "good" / "eval.jsonl").read_bytes()).hexdigest()


def test_eval_set_json_array(tmp_path):
    rows = [{"id": "a", "prompt": "p", "answer": "x"}, {"id": "a", "prompt": "q", "answer": "y"}]
    (tmp_path / "e.json").write_text(json.dumps(rows))
    stats, problems = inspect_eval("e.json", tmp_path, "spec.yaml", "eval.path")
    assert stats.rows == 2
    assert [(p.key, p.message) for p in problems] == [("[1].id", "duplicate id (first at [0])")]


@pytest.mark.parametrize(
    ("path", "message"),
    [("nope.jsonl", "file not found"), ("evals.csv", "eval set must be a local .jsonl or .json file")],
)
def test_eval_set_missing_or_wrong_kind(path, message):
    stats, problems = inspect_eval(path, DATA, "spec.yaml", "eval.path")
    assert stats is None
    assert [(p.file, p.key, p.message) for p in problems] == [("spec.yaml", "eval.path", message)]

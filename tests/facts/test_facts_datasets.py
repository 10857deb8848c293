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


def test_identical_problems_are_one_problem_with_a_count(tmp_path):
    """25 rows missing the same key are one problem that counts them, not 25 problems (nor 20 and a tail)."""
    rows = [{"instruction": "q", "output": "a"}] + [{"instruction": f"q{i}"} for i in range(25)]
    (tmp_path / "many.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats, problems = _train("many.jsonl", "alpaca", tmp_path)
    (problem,) = problems
    assert problem.line == 2 and problem.key == "output"
    assert problem.message == "missing 'output' (in 25 rows: lines 2, 3, 4, 5, 6 and 20 more)"
    assert stats.examples == 26


def test_identical_problems_in_a_json_array_name_the_rows(tmp_path):
    rows = [{"text": 1}, {"text": "ok"}, {"text": 2}]
    (tmp_path / "t.json").write_text(json.dumps(rows))
    _, problems = _train("t.json", "text", tmp_path)
    (problem,) = problems
    assert problem.key == "[0].text" and problem.message.endswith("(in 2 rows: [0], [2])")


def test_problem_listing_stops_after_the_cap(monkeypatch):
    monkeypatch.setattr(datasets, "MAX_PROBLEMS_PER_FILE", 2)
    _, problems = _train("bad/alpaca__rows.jsonl", "alpaca")
    assert [p.line for p in problems[:2]] == [3, 4]
    assert problems[-1].message == "and 4 more malformed rows"


def test_wrong_format_is_one_problem_and_names_the_format():
    """The issue's case: messages rows declared alpaca give one summary, not 20 identical row errors."""
    _, problems = _train("bad/alpaca__messages_rows.jsonl", "alpaca")
    (problem,) = problems
    assert "rows look like `messages`" in problem.message and "did you mean format: messages?" in problem.message


def test_a_few_rows_of_another_format_are_still_listed_row_by_row(tmp_path):
    rows = [{"instruction": f"q{i}", "output": "a"} for i in range(9)] + [
        {"messages": [{"role": "user", "content": "x"}]}
    ]
    (tmp_path / "mixed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, problems = _train("mixed.jsonl", "alpaca", tmp_path)
    assert [(p.line, p.key) for p in problems] == [(10, "instruction")]


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


def test_hundred_thousand_rows_are_counted(tmp_path):
    """Every row is counted (its speed is benchmarks/build.py's to measure, not a timed assertion here)."""
    row = json.dumps(
        {"instruction": "Summarise the text below in one line.", "input": "word " * 60, "output": "ok " * 20}
    )
    (tmp_path / "fast.jsonl").write_text((row + "\n") * 100_000)
    stats, problems = _train("fast.jsonl", "alpaca", tmp_path)
    assert problems == [] and stats.examples == 100_000


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


# ------------------------------------------------------------------ unreadable files: clean problems, exit 2


def _unreadable_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Data paths a careless or hostile spec can name -> the message they must give."""
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    environ = tmp_path / "environ.jsonl"
    environ.symlink_to("/proc/self/environ")
    zero = tmp_path / "zero.jsonl"
    zero.symlink_to("/dev/zero")
    folder = tmp_path / "parts"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "x"}\n')
    os.mkfifo(folder / "b.jsonl")
    return {
        "fifo": (fifo, "not a regular file"),
        "proc-environ": (environ, "refusing to read a file under /proc"),
        "dev-zero": (zero, "refusing to read a file under /dev"),
        "dev-zero-direct": (Path("/dev/zero"), "refusing to read a file under /dev"),
        "fifo-in-folder": (folder, "not a regular file"),
    }


@pytest.mark.parametrize("case", ["fifo", "proc-environ", "dev-zero", "dev-zero-direct", "fifo-in-folder"])
def test_unreadable_training_file_is_a_problem(tmp_path, case):
    path, message = _unreadable_cases(tmp_path)[case]
    start = time.perf_counter()
    _, problems = _train(str(path), "text", tmp_path)
    assert time.perf_counter() - start < 60  # a guard against reading forever, not a speed target
    assert any(message in p.message and p.severity == "error" for p in problems), problems
    assert not any("PATH=" in p.render() for p in problems)  # nothing of the environment is shown


def test_permission_denied_is_a_problem(tmp_path, monkeypatch):
    path = tmp_path / "secret.jsonl"
    path.write_text('{"text": "x"}\n')
    path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: make the open fail as it would for a user
        import generator._io as io_mod

        real = io_mod.os.open

        def denied(p, *a, **k):
            if str(p) == str(path):
                raise PermissionError(13, "Permission denied", str(p))
            return real(p, *a, **k)

        monkeypatch.setattr(io_mod.os, "open", denied)
    _, problems = _train(str(path), "text", tmp_path)
    assert [p.message for p in problems] == ["cannot read: Permission denied"]


def test_unreadable_eval_set_is_a_problem(tmp_path):
    link = tmp_path / "eval.jsonl"
    link.symlink_to("/proc/self/environ")
    stats, problems = inspect_eval("eval.jsonl", tmp_path, "spec.yaml", "eval.path")
    assert stats is None and "refusing to read a file under /proc" in problems[0].message


@pytest.mark.parametrize("case", ["fifo", "proc-environ", "dev-zero", "fifo-in-folder"])
def test_build_with_an_unreadable_data_file_exits_2(tmp_path, case, cli):
    path, message = _unreadable_cases(tmp_path)[case]
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "unreadable",
                "base_model": "Qwen/Qwen2.5-0.5B",
                "task": "pretrain",
                "data": {"train": [{"path": str(path), "format": "text"}]},
                "hardware": {"gpu": "A10G"},
            }
        )
    )
    result = cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ encodings


def test_byte_order_mark_is_fine_in_jsonl_and_csv(tmp_path):
    """datasets 4.0.0 and 4.8.4 (the frameworks' loaders) read a BOM at the start of .jsonl and .csv."""
    (tmp_path / "b.jsonl").write_bytes(b'\xef\xbb\xbf{"instruction": "a", "output": "b"}\n')
    (tmp_path / "b.csv").write_bytes(b"\xef\xbb\xbfinstruction,output\na,b\n")
    for name in ("b.jsonl", "b.csv"):
        stats, problems = _train(name, "alpaca", tmp_path)
        assert problems == [] and stats.examples == 1


def test_not_utf8_is_never_replaced_silently(tmp_path):
    (tmp_path / "w.jsonl").write_bytes('{"text": "caf\u00e9"}\n'.encode("cp1252"))
    _, problems = _train("w.jsonl", "text", tmp_path)
    assert [(p.line, p.message) for p in problems] == [(1, "not UTF-8 text")]
    assert "0xe9" in problems[0].allowed


# ------------------------------------------------------------------ duplicates and eval overlap


def test_unique_examples_counts_exact_duplicates_across_files(tmp_path):
    rows = [
        {"instruction": "q", "output": "a"},
        {"output": "a", "instruction": "q"},
        {"instruction": "r", "output": "b"},
    ]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "b.json").write_text(
        json.dumps([{"instruction": "r", "output": "b"}, {"instruction": "s", "output": "c"}])
    )
    entries = [{"path": "a.jsonl", "format": "alpaca"}, {"path": "b.json", "format": "alpaca"}]
    stats, problems = inspect_train(entries, tmp_path, "spec.yaml")
    assert problems == [] and (stats.examples, stats.unique_examples) == (5, 3)  # key order does not matter


def test_unique_examples_unknown_when_the_file_is_sampled(tmp_path, monkeypatch):
    (tmp_path / "big.jsonl").write_text("".join(json.dumps({"text": str(i % 3)}) + "\n" for i in range(100)))
    monkeypatch.setattr(datasets, "SAMPLE_ABOVE_BYTES", 10)
    monkeypatch.setattr(datasets, "SAMPLE_ROWS", 10)
    stats, _ = _train("big.jsonl", "text", tmp_path)
    assert stats.examples == 100 and stats.unique_examples is None


@pytest.mark.parametrize(
    ("fmt", "row"),
    [
        ("alpaca", {"instruction": "Capital  of FRANCE?", "output": "Paris"}),
        ("alpaca", {"instruction": "Capital of", "input": "France?", "output": "Paris"}),
        (
            "messages",
            {"messages": [{"role": "user", "content": "capital of france?"}, {"role": "assistant", "content": "P"}]},
        ),
        (
            "sharegpt",
            {"conversations": [{"from": "human", "value": "Capital of France?"}, {"from": "gpt", "value": "P"}]},
        ),
        ("preference", {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Rome"}),
        ("kto", {"prompt": "Capital of France?", "completion": "Paris", "label": True}),
        ("text", {"text": "Capital of France?"}),
    ],
)
def test_eval_prompts_found_in_training_rows_of_every_format(tmp_path, fmt, row):
    ev, _ = inspect_eval("good/eval.jsonl", DATA, "spec.yaml", "eval.path")
    (tmp_path / "t.jsonl").write_text(json.dumps(row) + "\n")
    stats, problems = inspect_train([{"path": "t.jsonl", "format": fmt}], tmp_path, "s", eval_prompts=ev.prompts)
    assert problems == [] and stats.eval_prompts_seen == {"capital of france?"}


def test_eval_overlap_reaches_the_plan(tmp_path, cli):
    """Eval prompts copied into the training data: counted, warned (FT173) and shown in PLAN.md."""
    rows = [{"instruction": f"Question number {i}?", "output": f"Answer {i}."} for i in range(1200)]
    rows += [{"instruction": "Capital of France?", "output": "Paris"}] * 3  # also 2 duplicates
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "eval.jsonl").write_text((DATA / "good" / "eval.jsonl").read_text())
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "overlap",
                "base_model": "Qwen/Qwen2.5-0.5B",
                "data": {"train": [{"path": "train.jsonl", "format": "alpaca"}]},
                "eval": {"path": "eval.jsonl"},
                "hardware": {"gpu": "A10G"},
            }
        )
    )
    result = cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "[FT173] eval.path: 1 of 3 eval prompts also appear in the training data (e.g. id q1)" in result.output
    assert "[FT174] data.train: 2 of 1,203 training rows are exact duplicates (1,201 unique)" in result.output
    plan = (tmp_path / "out" / "overlap" / "PLAN.md").read_text()
    assert "| Eval set | eval.jsonl (3 rows; 1 prompts also in the training data) |" in plan
    assert "1,203 examples (1,201 unique)" in plan
    summary = json.loads((tmp_path / "out" / "overlap" / "plan.json").read_text())["facts"]
    assert summary["data"]["unique_examples"] == 1201 and summary["eval"]["in_train"] == 1

"""The data cache (generator/_datacache.py): a shipped YAML file's parsed data comes back exactly, from the cache
only while the file's text is the same, and only from the user's own private folder."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest

from generator import _cachedir
from generator._datacache import _exact, load_data, load_json_file
from generator._yaml import load_trusted, load_trusted_file

REPO = Path(__file__).resolve().parents[1]
SHIPPED = [
    REPO / "generator" / "catalog" / "models.yaml",
    REPO / "generator" / "catalog" / "gpus.yaml",
    REPO / "generator" / "lint" / "_data" / "curated.yaml",
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FTGEN_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "data"


class Parser:
    """load_trusted, counting its calls (a cache hit does not parse)."""

    def __init__(self):
        self.calls = 0

    def __call__(self, text):
        self.calls += 1
        return load_trusted(text)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_data_comes_back_exactly_from_the_cache(home, path):
    parse = Parser()
    first = load_data(path, parse)
    again = load_data(path, parse)
    assert parse.calls == 1, "the second load is a cache hit"
    assert _exact(again, load_trusted(path.read_text())) and _exact(first, again)
    assert _exact(load_trusted_file(path), again)
    (entry,) = home.iterdir()
    assert (home.stat().st_mode & 0o777, entry.stat().st_mode & 0o777) == (0o700, 0o600)


def test_an_edited_file_is_parsed_again(home, tmp_path):
    data = tmp_path / "models.yaml"
    data.write_text("a: 1\nwhen: 2026-05-07\n")
    parse = Parser()
    assert load_data(data, parse) == {"a": 1, "when": datetime.date(2026, 5, 7)}
    assert load_data(data, parse) == {"a": 1, "when": datetime.date(2026, 5, 7)} and parse.calls == 1
    data.write_text("a: 2\nwhen: 2026-05-07\n")
    assert load_data(data, parse) == {"a": 2, "when": datetime.date(2026, 5, 7)} and parse.calls == 2


@pytest.mark.parametrize(
    "text", ["1: one\n", "a: .nan\n", "a: {__date__: '2026-01-01'}\n", "a: !!binary aGk=\n", "a: 2026-01-01 10:00:00\n"]
)
def test_data_json_cannot_carry_exactly_is_never_cached(home, tmp_path, text):
    data = tmp_path / "odd.yaml"
    data.write_text(text)
    parse = Parser()
    first = load_data(data, parse)
    second = load_data(data, parse)
    assert parse.calls == 2 and not (home.exists() and list(home.iterdir()))
    assert repr(first) == repr(second) == repr(load_trusted(text))


def test_an_entry_others_could_write_or_a_loose_folder_is_never_read(home, tmp_path):
    data = tmp_path / "models.yaml"
    data.write_text("a: 1\n")
    parse = Parser()
    load_data(data, parse)
    (entry,) = home.iterdir()
    poisoned = entry.read_text().replace('"data": {"a": 1}', '"data": {"a": 666}')
    entry.write_text(poisoned)
    assert load_data(data, parse) == {"a": 666}, "the user's own entry is trusted (the test edits it)"
    os.chmod(entry, 0o666)
    assert load_data(data, parse) == {"a": 1} and parse.calls == 2, "a group/other-writable entry is not read"
    entry.write_text(poisoned)
    os.chmod(entry, 0o600)
    os.chmod(home, 0o777)
    assert load_data(data, parse) == {"a": 1} and parse.calls == 3, "nor anything in a folder others may enter"
    assert entry.read_text() == poisoned, "nor is such a folder written to"


def test_without_a_usable_folder_the_file_is_parsed(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("FTGEN_HOME", str(blocked))  # the cache folder cannot be made under a file
    monkeypatch.setattr(_cachedir, "_temp_dir", lambda kind: str(blocked / kind))
    data = tmp_path / "models.yaml"
    data.write_text("a: 1\n")
    parse = Parser()
    assert load_data(data, parse) == load_data(data, parse) == {"a": 1} and parse.calls == 2


JSON_SHIPPED = sorted((REPO / "schemas").glob("*.json")) + [REPO / "generator" / "lint" / "_data" / "facts.json"]


@pytest.mark.parametrize("path", JSON_SHIPPED, ids=lambda p: p.name)
def test_shipped_json_comes_back_exactly_from_the_cache(home, path, monkeypatch):
    first = load_json_file(path)
    assert _exact(first, json.loads(path.read_text()))
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed again"))
    assert _exact(load_json_file(path), first)
    (entry,) = home.iterdir()
    assert entry.name.endswith(".marshal") and entry.stat().st_mode & 0o777 == 0o600


def test_an_edited_json_file_is_parsed_again_and_a_loose_entry_is_never_read(home, tmp_path):
    data = tmp_path / "x.schema.json"
    data.write_text('{"a": 1, "b": [1.5, true, null, "x"]}')
    assert load_json_file(data) == {"a": 1, "b": [1.5, True, None, "x"]}
    data.write_text('{"a": 2}')
    assert load_json_file(data) == {"a": 2}
    (entry,) = home.iterdir()
    import marshal

    stamp, _, _ = marshal.loads(entry.read_bytes())
    entry.write_bytes(marshal.dumps((stamp, '{"a": 2}', {"a": 666})))
    assert load_json_file(data) == {"a": 666}, "the user's own entry is trusted (the test edits it)"
    os.chmod(entry, 0o646)
    assert load_json_file(data) == {"a": 2}, "one others may write is not"
    entry.write_bytes(b"\x00garbage")
    os.chmod(entry, 0o600)
    assert load_json_file(data) == {"a": 2}, "nor is one that is not marshal data"

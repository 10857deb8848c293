"""The one safe reader: regular files only, nothing under /proc, /sys or /dev, a cap on bytes, UTF-8 errors with lines."""

from __future__ import annotations

import os
import threading

import pytest

from generator import _io
from generator.errors import FtgenError


def _message(exc: pytest.ExceptionInfo) -> str:
    return exc.value.problems[0].render()


def test_reads_a_regular_file(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("héllo\n", encoding="utf-8")
    text, raw = _io.read_text(p)
    assert text == "héllo\n" and raw == "héllo\n".encode()


@pytest.mark.parametrize("target", ["/dev/zero", "/proc/self/environ", "/sys/kernel/mm"])
def test_pseudo_files_are_refused_directly_and_through_a_symlink(tmp_path, target):
    if not os.path.exists(target):
        pytest.skip(f"{target} does not exist here")
    link = tmp_path / "data.jsonl"
    link.symlink_to(target)
    for path in (target, link):
        with pytest.raises(FtgenError) as exc:
            _io.read_bytes(path, "spec.yaml", key="data.train[0].path")
        assert "refusing to read a file under" in _message(exc)
        assert "data.train[0].path" in _message(exc)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    done = threading.Event()
    errors = []

    def read():
        try:
            _io.read_bytes(fifo)
        except FtgenError as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO blocked"
    assert errors and "not a regular file" in errors[0].problems[0].render()


def test_the_cap_is_on_bytes_read(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(b"x" * 2048)
    with pytest.raises(FtgenError) as exc:
        _io.read_bytes(p, max_bytes=1024)
    assert "larger than 1 KiB" in _message(exc)
    assert _io.read_bytes(p, max_bytes=2048) == b"x" * 2048


def test_missing_and_folder(tmp_path):
    with pytest.raises(FtgenError) as exc:
        _io.read_bytes(tmp_path / "nope.yaml", kind="spec ")
    assert "spec file not found" in _message(exc)
    with pytest.raises(FtgenError) as exc:
        _io.read_bytes(tmp_path)
    assert "is a folder" in _message(exc)


def test_invalid_utf8_names_its_line(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": "\xff"}\n')
    with pytest.raises(FtgenError) as exc:
        _io.read_text(p)
    problem = exc.value.problems[0]
    assert problem.line == 3 and "not UTF-8" in problem.message

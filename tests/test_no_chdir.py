"""No os.chdir in library code: a spec of another tree is loaded and built with explicit base folders.

spec.load(path, root=...) names the spec, its lock and the build's output folder as the root names them (what
errors, plans and review reports show) and reads them under the root; ftgen review relies on it instead of
changing the process's working folder.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "facts"))
from test_facts_hub import MODELS, lay_out_cache, write_spec

from generator import spec as spec_mod
from generator.build import build_file, compile_spec, write_build
from generator.check import compare
from generator.errors import FtgenError

REPO = Path(__file__).resolve().parent.parent
MISTRAL = "mistralai/Mistral-7B-v0.1"


def test_library_code_never_changes_the_working_folder():
    """A grep over generator/: a process-wide chdir in library code breaks threads, callers' relative paths and
    every later relative read; base folders are passed explicitly instead."""
    offenders = []
    for path in sorted((REPO / "generator").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bchdir\s*\(", line) or "contextlib.chdir" in line:
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


@pytest.fixture
def no_chdir(monkeypatch):
    def refuse(path):
        raise AssertionError(f"os.chdir({path!r}) called")

    monkeypatch.setattr(os, "chdir", refuse)


def test_a_spec_under_a_root_builds_the_same_files_named_as_the_root_names_them(tmp_path, no_chdir):
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "examples", tree / "examples")
    here = build_file(str(REPO / "examples" / "support-bot.yaml"), REPO / "outputs")

    spec = spec_mod.load("examples/support-bot.yaml", root=tree)
    assert spec.file == "examples/support-bot.yaml"
    assert spec.base_dir == (tree / "examples").resolve()
    b = compile_spec(spec, Path("outputs"))
    assert b.out_dir == Path("outputs/support-bot")
    assert b.out_path == tree / "outputs" / "support-bot"
    assert b.files == here.files  # relative paths in the configs and plan.json computed from the tree's folders

    written, _ = write_build(b)
    assert {p.relative_to(b.out_path).as_posix() for p in written} == set(b.files)  # all inside the build folder
    drift = compare(compile_spec(spec, Path("outputs")))
    assert drift.clean and drift.out_dir == Path("outputs/support-bot")


def test_the_lock_is_read_beside_the_spec_under_its_root_and_named_relative(tmp_path, monkeypatch, no_chdir):
    home = tmp_path / "hf-home"
    lay_out_cache(home / "hub", {MISTRAL: MODELS[MISTRAL]["config"]})
    monkeypatch.setenv("HF_HOME", str(home))
    tree = tmp_path / "tree"
    write_spec(tree / "specs", "bot", MISTRAL)

    with pytest.raises(FtgenError) as exc:  # frozen (check, review): no lock yet, and the cache is not asked
        compile_spec(spec_mod.load("specs/bot.yaml", root=tree), Path("outputs"), frozen=True)
    text = " ".join(p.message + " " + (p.allowed or "") for p in exc.value.problems)
    assert "bot.lock.json" in text and str(tree) not in text

    b = compile_spec(spec_mod.load("specs/bot.yaml", root=tree), Path("outputs"))
    assert b.facts.lock.path == tree / "specs" / "bot.lock.json"
    write_build(b)
    assert (tree / "specs" / "bot.lock.json").is_file()
    assert not Path("specs/bot.lock.json").exists()  # nothing relative to the working folder

    shutil.rmtree(home)  # the committed lock alone answers now
    again = compile_spec(spec_mod.load("specs/bot.yaml", root=tree), Path("outputs"), frozen=True)
    assert again.files == b.files


def test_a_broken_lock_is_named_as_the_root_names_it(tmp_path, no_chdir):
    tree = tmp_path / "tree"
    write_spec(tree / "specs", "bot", MISTRAL)
    (tree / "specs" / "bot.lock.json").write_text("{not json")
    with pytest.raises(FtgenError) as exc:
        compile_spec(spec_mod.load("specs/bot.yaml", root=tree), Path("outputs"), frozen=True)
    files = {p.file for p in exc.value.problems}
    assert not any(str(tree) in f for f in files), files


def test_a_missing_spec_under_a_root_is_named_as_given(tmp_path):
    with pytest.raises(FtgenError) as exc:
        spec_mod.load("specs/none.yaml", root=tmp_path)
    assert [p.file for p in exc.value.problems] == ["specs/none.yaml"]

"""ftgen review of specs naming hub models: the committed lock answers, never the reviewer's cache or the hub."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "facts"))
from test_facts_hub import MODELS, lay_out_cache, write_spec
from test_review import git

from generator import review as rv
from generator.build import build_file
from generator.write import write_all

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
MISTRAL = "mistralai/Mistral-7B-v0.1"


def _build(repo: Path, spec: str, **kw) -> None:
    old = Path.cwd()
    os.chdir(repo)
    try:
        b = build_file(spec, Path("outputs"), **kw)
        write_all(b.out_dir, b.files)
        b.facts.lock.path.write_text(b.facts.lock.text)
    finally:
        os.chdir(old)


def test_review_reads_the_committed_lock(tmp_path, monkeypatch):
    home = tmp_path / "hf-home"
    lay_out_cache(home / "hub", {MISTRAL: MODELS[MISTRAL]["config"]})
    monkeypatch.setenv("HF_HOME", str(home))
    repo = tmp_path / "repo"
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    write_spec(repo / "specs", "bot", MISTRAL)
    _build(repo, "specs/bot.yaml")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")

    # head: the model refreshed to a newer commit with a longer context; lock and outputs rebuilt
    folder = home / "hub" / "models--mistralai--Mistral-7B-v0.1"
    newer = "c" * 40
    (folder / "snapshots" / newer).mkdir()
    (folder / "snapshots" / newer / "config.json").write_text(
        json.dumps({**MODELS[MISTRAL]["config"], "max_position_embeddings": 65536})
    )
    (folder / "refs" / "main").write_text(newer)
    _build(repo, "specs/bot.yaml", refresh=True)
    # and a new spec naming a hub model, committed without its lock
    write_spec(repo / "specs", "other", "microsoft/phi-2")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")

    monkeypatch.setenv("HF_HOME", str(tmp_path / "reviewer-has-no-cache"))
    r = rv.review(repo, "HEAD~1", "HEAD")
    specs = {s.name: s for s in r.specs}
    bot = specs["bot"]
    assert bot.base_ok and bot.head_ok  # both sides from their own committed lock
    assert all(c.committed == "up to date" for c in bot.configs), [c.to_dict() for c in bot.configs]
    other = specs["other"]
    assert other.head_ok is False
    assert any("not in the catalog and not locked" in p["message"] for p in other.head_problems)

    # only the lock changed (outputs not rebuilt): the spec is reviewed, its outputs would regenerate
    lock = repo / "specs" / "bot.lock.json"
    data = json.loads(lock.read_text())
    data["models"][MISTRAL]["revision"] = "d" * 40
    lock.write_text(json.dumps(data, indent=2) + "\n")
    r = rv.review(repo, "HEAD")
    bot = {s.name: s for s in r.specs}["bot"]
    assert bot.status == "lock changed" and not bot.ok

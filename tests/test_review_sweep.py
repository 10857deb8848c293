"""ftgen review on a sweep spec: the trial count, total time and cost before and after, and drift in the trials or
sweep.json (outputs not rebuilt) makes the review not ok."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import review as rv
from generator.build import write_build

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
SPEC = (Path(__file__).parent / "cases" / "sweep" / "budget-cap.yaml").read_text().replace("max_usd: 15", "max_usd: 60")


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
    }
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def test_review_shows_the_sweep_and_its_drift(tmp_path):
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    spec = repo / "specs" / "budget-cap.yaml"
    spec.write_text(SPEC.replace("[1, 2, 3]", "[1, 2]"))
    write_build(_build(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    spec.write_text(SPEC)  # a third trial; outputs not rebuilt
    git(repo, "commit", "-qam", "head")
    r = rv.review(repo, "HEAD~1", "HEAD")
    (s,) = r.specs
    assert s.sweep_trials == (2, 3)
    assert s.sweep_usd[1] > s.sweep_usd[0]
    assert not s.ok
    stale = {c.file: c.committed for c in s.configs}
    assert stale["outputs/budget-cap/sweep.json"] == "would regenerate"
    assert any(p.startswith("outputs/budget-cap/trials/t02-ep3/") for p in stale)
    text = rv.markdown(r)
    assert "| Sweep trials | 2 → 3 (+1) |" in text


def _build(repo: Path):
    from generator import spec as spec_mod
    from generator.build import compile_spec

    return compile_spec(spec_mod.load("specs/budget-cap.yaml", root=repo), Path("outputs"))

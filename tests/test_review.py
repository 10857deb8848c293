"""ftgen review on a fixture git repository built at test time: the markdown report is compared as a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import review as rv
from generator.build import build_file
from generator.errors import FtgenError
from generator.write import write_all

DATA = Path(__file__).parent / "data" / "review"
EXPECTED_MD = DATA / "expected.md"
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")


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


def _copy(src: Path, dst: Path) -> None:
    for p in src.rglob("*"):
        if p.is_file():
            target = dst / p.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, target)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """base: a spec with its built outputs and a hand-written config; head: the spec changed (outputs not
    rebuilt), a new spec without outputs, the hand-written config changed."""
    repo = tmp_path_factory.mktemp("review-repo")
    git(repo, "init", "-q", "-b", "main")
    _copy(DATA / "base", repo)
    old = Path.cwd()
    os.chdir(repo)
    try:
        b = build_file("specs/support-bot.yaml", Path("outputs"))
        write_all(b.out_dir, b.files)
    finally:
        os.chdir(old)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "tag", "base")
    _copy(DATA / "head", repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")
    return repo


def test_markdown_report_matches_expected_file(repo):
    text = rv.markdown(rv.review(repo, "base", "HEAD"))
    if UPDATE:
        EXPECTED_MD.write_text(text, encoding="utf-8")
    assert EXPECTED_MD.is_file(), "run FTGEN_UPDATE_EXPECTED=1 pytest tests/test_review.py"
    assert text == EXPECTED_MD.read_text(encoding="utf-8"), "review markdown changed (FTGEN_UPDATE_EXPECTED=1)"


def test_review_never_changes_the_working_folder(repo, monkeypatch, tmp_path):
    """The trees under review are read with explicit base folders: os.chdir is refused for the whole run, from a
    working folder outside the repository, and the report (repo-relative paths) is the same."""

    def refuse(path):
        raise AssertionError(f"os.chdir({path!r}) called")

    monkeypatch.setattr(os, "chdir", refuse)
    monkeypatch.setattr(os, "getcwd", lambda: str(tmp_path))  # a relative path resolved from cwd would miss
    for head in ("HEAD", None):
        text = rv.markdown(rv.review(repo, "base", head))
        if head == "HEAD":
            assert text == EXPECTED_MD.read_text(encoding="utf-8")
        assert str(repo) not in text and "ftgen-review-" not in text


def test_review_content(repo):
    r = rv.review(repo, "base", "HEAD")
    assert not r.ok
    specs = {s.name: s for s in r.specs}
    bot, legal = specs["support-bot"], specs["legal-qa"]
    assert (bot.status, legal.status) == ("changed", "added")
    method = next(d for d in bot.decisions if d.key == "method")
    assert method.before == "qlora" and method.after != "qlora" and method.rule_before and method.because_after
    assert bot.memory_gb[0] and bot.memory_gb[1] and bot.hours[0] is not None
    assert {c.committed for c in bot.configs if c.framework != "ftgen"} == {"would regenerate"}
    assert {c.committed for c in legal.configs} == {"missing"} and legal.base_ok is None
    hand = {c.path: c for c in r.configs}["configs/experiment.yml"]
    rules = {f["rule"] for f in hand.findings}
    assert {"FTL101", "FTL003", "FTL004"} <= rules and hand.errors >= 2
    assert "outputs/support-bot/axolotl.yaml" not in {c.path for c in r.configs}  # generated, not hand-written


def test_json_for_bots(repo):
    data = json.loads(rv.as_json(rv.review(repo, "base", "HEAD")))
    assert data["base"] == "base" and data["head"] == "HEAD" and data["ok"] is False
    bot = next(s for s in data["specs"] if s["name"] == "support-bot")
    assert bot["method"]["before"] == "qlora" and isinstance(bot["decisions"], list)
    assert set(bot["memory_gb"]) == {"before", "after"}


def test_nothing_changed_is_ok(repo):
    r = rv.review(repo, "HEAD", "HEAD")
    assert r.ok and not r.specs and not r.configs
    assert "No spec, generated output or framework config changed." in rv.markdown(r)


def test_working_tree_is_the_default_head(repo):
    spec = repo / "specs" / "legal-qa.yaml"
    original = spec.read_text()
    try:
        spec.write_text(original.replace("examples: 20000", "examples: 50000"))
        r = rv.review(repo, "HEAD")
        assert r.head == rv.WORKTREE and [s.name for s in r.specs] == ["legal-qa"]
        assert any(d.key == "examples" for d in r.specs[0].decisions)
    finally:
        spec.write_text(original)


def test_review_never_writes(repo):
    before = git(repo, "status", "--porcelain")
    rv.review(repo, "base", "HEAD")
    assert git(repo, "status", "--porcelain") == before


def test_bad_ref_is_invalid_input(repo):
    with pytest.raises(FtgenError) as exc:
        rv.review(repo, "no-such-ref", "HEAD")
    assert "not a git commit" in exc.value.problems[0].message


def test_cli_review(cli, repo, tmp_path):
    res = cli("review", "--base", "base", "--head", "HEAD", "--repo", str(repo))
    assert res.exit_code == 1 and "## ftgen review" in res.output
    out = tmp_path / "review.json"
    res = cli("review", "--base", "base", "--head", "HEAD", "--repo", str(repo), "--format", "json", "-o", str(out))
    assert res.exit_code == 1 and json.loads(out.read_text())["specs"]
    assert cli("review", "--base", "nope", "--repo", str(repo)).exit_code == 2
    assert cli("review", "--base", "HEAD", "--head", "HEAD", "--repo", str(repo)).exit_code == 0


def test_precommit_hooks_and_example_workflow_call_real_commands(cli):
    import yaml

    root = Path(__file__).resolve().parent.parent
    hooks = yaml.safe_load((root / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"ftgen-check", "ftgen-lint"}
    for hook in hooks:
        argv = hook["entry"].split()
        assert argv[0] == "ftgen"
        assert cli(*argv[1:], "--help").exit_code == 0, hook["entry"]
    workflow = yaml.safe_load((root / "examples" / "github" / "ftgen-review.yml").read_text())
    runs = " ".join(step.get("run", "") for step in workflow["jobs"]["review"]["steps"])
    for command in ("ftgen review --base", "ftgen check", "ftgen lint --skip-unknown --format github"):
        assert command in runs
    assert not (root / ".github" / "workflows" / "ftgen-review.yml").exists()
    assert "## `ftgen review`" in (root / "docs" / "review.md").read_text()

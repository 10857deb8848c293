"""`ftgen review` on a hostile or careless pull request (issue 12, items 4, 5 and 8).

The review runs in CI on someone else's branch and posts markdown to the pull request: it must not crash on an
ordinary config, must not read (and quote) files outside the repository, must not let a value inject links,
@mentions or HTML into the comment, and must not let a ref become a git option.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from generator import review as rv

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

MARKER = "OUTSIDE-THE-REPO-7f3a"
SPEC = """name: bot
base_model: Qwen/Qwen2.5-7B-Instruct
data:
  train:
  - {path: acme/support-tickets, format: alpaca}
  examples: 5000
hardware: {gpu: RTX4090}
framework: axolotl
"""
# A hand-written LLaMA-Factory config with no eval data: FTL107 is a finding with no line.
LF_NO_EVAL = """model_name_or_path: Qwen/Qwen2.5-0.5B
stage: sft
do_train: true
finetuning_type: lora
dataset: alpaca_en_demo
template: qwen
output_dir: out
"""


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


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository with one spec at `base`, and a folder outside it holding a marker the review must not read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text(f'{{"instruction": "{MARKER}", "output": "x"}}\n' * 3)
    (outside / "spec.yaml").write_text(SPEC.replace("name: bot", f"name: {MARKER.lower()}"))
    (outside / "config.yml").write_text(LF_NO_EVAL + f"run_name: {MARKER}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "specs").mkdir()
    (repo / "specs" / "bot.yaml").write_text(SPEC)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "tag", "base")
    return repo


def _commit(repo: Path, message: str = "head") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def _html(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown)


def _outside_code(html: str) -> str:
    return re.sub(r"<code>.*?</code>", "", html, flags=re.S)


def test_a_finding_without_a_line_renders(repo, cli):
    (repo / "configs").mkdir()
    (repo / "configs" / "lf.yaml").write_text(LF_NO_EVAL)
    _commit(repo)
    r = rv.review(repo, "base", "HEAD")
    [hand] = r.configs
    assert any(f["rule"] == "FTL107" and "line" not in f for f in hand.findings)
    text = rv.markdown(r)
    assert "FTL107" in text
    res = cli("review", "--base", "base", "--head", "HEAD", "--repo", str(repo))
    assert "Traceback" not in res.output and "FTL107" in res.output


@pytest.mark.parametrize("head", ["HEAD", None], ids=["commit", "working-tree"])
def test_symlinks_out_of_the_repo_are_not_followed(repo, tmp_path, head):
    outside = tmp_path / "outside"
    (repo / "data").mkdir()
    (repo / "data" / "train.jsonl").symlink_to(outside / "secret.jsonl")
    (repo / "specs" / "evil.yaml").symlink_to(outside / "spec.yaml")
    (repo / "configs").symlink_to(outside)
    (repo / "specs" / "data-out.yaml").write_text(
        SPEC.replace("name: bot", "name: data-out").replace("acme/support-tickets", "../data/train.jsonl")
    )
    (repo / "specs" / "abs.yaml").write_text(
        SPEC.replace("name: bot", "name: abs").replace("acme/support-tickets", str(outside / "secret.jsonl"))
    )
    if head is not None:
        _commit(repo)
    r = rv.review(repo, "base", head)
    text, data = rv.markdown(r), rv.as_json(r)
    assert MARKER not in text and MARKER not in data and MARKER.lower() not in text
    specs = {s.name: s for s in r.specs}
    assert set(specs) == {"data-out", "abs"}, "the symlinked spec is not read"
    for name in ("data-out", "abs"):
        assert specs[name].head_ok is False
        assert "outside the repository" in specs[name].head_problems[0]["message"]
    assert "data/train.jsonl" in r.not_followed or head is None


def test_committed_symlink_out_of_the_repo_does_not_crash_review_head(repo, tmp_path, cli):
    (repo / "link-to-etc").symlink_to("/etc")
    (repo / "link-to-outside.yaml").symlink_to(tmp_path / "outside" / "spec.yaml")
    _commit(repo)
    res = cli("review", "--base", "base", "--head", "HEAD", "--repo", str(repo))
    assert res.exit_code in (0, 1), res.output
    assert "Traceback" not in res.output and MARKER not in res.output
    assert "Not followed" in res.output and "link-to-etc" in res.output


INJECT = "`x` [click](http://evil.example) @org/admins #1 <img src=x onerror=alert(1)> www.evil.example"


def test_values_cannot_inject_markdown(repo):
    (repo / "configs").mkdir()
    evil_key = "lr`x` [a](http://evil.example) @admin"
    (repo / "configs" / "ax.yml").write_text(
        "base_model: Qwen/Qwen2.5-0.5B-Instruct\n"
        "datasets:\n  - path: tatsu-lab/alpaca\n    type: alpaca\n"
        f"learning_rate: {INJECT!r}\n"
        f"{evil_key!r}: 1\n"
        "output_dir: ./out\nval_set_size: 0.02\n"
    )
    spec = SPEC.replace("framework: axolotl", "framework: axolotl\n")
    spec += f"framework_overrides:\n  axolotl:\n    run_name: {INJECT!r}\n"
    (repo / "specs" / "bot.yaml").write_text(spec)
    _commit(repo)
    r = rv.review(repo, "base", "HEAD")
    text = rv.markdown(r)
    html = _html(text)
    plain = _outside_code(html)
    assert "<a " not in html, "a link was injected"
    assert "<img" not in html and "onerror" not in plain.replace("onerror=alert", ""), "HTML was injected"
    for needle in ("http://evil", "@org/admins", "@admin", "www.evil", "#1 "):
        assert needle not in plain, f"{needle!r} reaches the comment outside a code span"
    # every injected value is still shown, inside code spans that no backtick closes early
    codes = re.findall(r"<code>(.*?)</code>", html, flags=re.S)
    assert any("`x` [click](http://evil.example)" in c for c in codes)


@pytest.mark.parametrize("ref", ["--output=/tmp/ftgen-pwned", "-h", "--help", "--exec=touch /tmp/x", "HEAD --all"])
def test_refs_never_become_git_options(repo, cli, ref, tmp_path):
    res = cli("review", "--base", ref, "--repo", str(repo))
    assert res.exit_code == 2, res.output
    assert "not a git commit" in res.output and "Traceback" not in res.output
    assert not Path("/tmp/ftgen-pwned").exists()


def test_review_output_to_an_unwritable_path_is_a_clean_error(repo, cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = cli("review", "--base", "base", "--head", "HEAD", "--repo", str(repo), "-o", str(blocker / "review.md"))
    assert res.exit_code == 2, res.output
    assert "cannot write the review" in res.output and isinstance(res.exception, SystemExit)


def test_rich_never_turns_text_into_emoji(cli):
    res = cli("show", ":x: :thumbs_up:", "--root", "/nonexistent")
    assert res.exit_code == 2
    assert ":x: :thumbs_up:" in res.output and "❌" not in res.output and "👍" not in res.output


def test_pull_request_yaml_goes_through_the_safe_loader(repo):
    (repo / "configs").mkdir()
    bomb = (
        "a: &a ["
        + ",".join(["lol"] * 9)
        + "]\n"
        + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
    )
    (repo / "configs" / "bomb.yaml").write_text(bomb)
    (repo / "configs" / "tagged.yaml").write_text("x: !!python/object/apply:os.system ['touch /tmp/ftgen-pwned']\n")
    (repo / "specs" / "huge.yaml").write_text("name: huge\n# " + "x" * (5 * 1024 * 1024) + "\n")
    _commit(repo)
    start = time.monotonic()
    r = rv.review(repo, "base", "HEAD")
    assert time.monotonic() - start < 60
    assert not Path("/tmp/ftgen-pwned").exists()
    assert not r.configs and not r.specs


def test_base_model_gpu_and_data_changes_come_first(repo):
    (repo / "specs" / "bot.yaml").write_text(
        SPEC.replace("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-14B-Instruct")
        .replace("RTX4090", "A100-80GB")
        .replace("examples: 5000", "examples: 8000")
    )
    _commit(repo)
    r = rv.review(repo, "base", "HEAD")
    [s] = r.specs
    keys = [c.key for c in s.headline]
    assert keys == ["base_model", "hardware.gpu", "data.examples"]
    text = rv.markdown(r)
    first = text.index("What it trains on")
    assert first < text.index("| Method |") and first < text.index("Decisions that changed")
    assert "`Qwen/Qwen2.5-7B-Instruct` → `Qwen/Qwen2.5-14B-Instruct`" in text
    assert "`RTX4090` → `A100-80GB`" in text


def test_every_change_to_allow_imports_and_overrides_is_its_own_line(repo):
    (repo / "specs" / "bot.yaml").write_text(
        SPEC
        + "allow_imports: [team_plugins, scoring]\n"
        + "framework_overrides:\n  axolotl:\n    plugins: [team_plugins.Extra]\n"
        + "    trl: {reward_funcs: [scoring.exact]}\n    learning_rate: 0.0003\n"
    )
    _commit(repo)
    r = rv.review(repo, "base", "HEAD")
    [s] = r.specs
    lines = [(c.key, c.before, c.after) for c in s.imports]
    assert ("allow_imports", None, "team_plugins") in lines and ("allow_imports", None, "scoring") in lines
    assert ("framework_overrides.axolotl.plugins", None, ["team_plugins.Extra"]) in lines
    assert ("framework_overrides.axolotl.trl.reward_funcs", None, ["scoring.exact"]) in lines
    assert ("framework_overrides.axolotl.learning_rate", None, 0.0003) in lines
    text = rv.markdown(r)
    assert "allows imports of `team_plugins`" in text and "allows imports of `scoring`" in text
    assert "- `framework_overrides.axolotl.plugins`: — → `[team_plugins.Extra]`" in text
    assert text.index("Code the framework may run") < text.index("| Method |")
    # and taking the opt-in away is a line too
    (repo / "specs" / "bot.yaml").write_text(SPEC + "allow_imports: [scoring]\n")
    _commit(repo, "narrow")
    r2 = rv.review(repo, "HEAD~1", "HEAD")
    assert ("allow_imports", "team_plugins", None) in [(c.key, c.before, c.after) for c in r2.specs[0].imports]
    assert "no longer allows imports of `team_plugins`" in rv.markdown(r2)

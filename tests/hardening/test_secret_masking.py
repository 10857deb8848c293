"""Secrets are masked wherever ftgen shows or keeps a value (issue 12, item 6): lint output in every format,
errors that would quote a file's content (an environment dump), the command line a run record keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator import _secrets
from generator.errors import Problem

REPO = Path(__file__).resolve().parents[2]
TOKEN = "hf_SeCrEtSeCrEtSeCrEt0123456789"
PASSWORD = "hunter2-hunter2"
LF_CONFIG = f"""model_name_or_path: Qwen/Qwen2.5-0.5B
stage: sft
do_train: true
finetuning_type: lora
dataset: x
template: qwen
output_dir: out
hub_token: 12345678901234
hf_hub_token: [{TOKEN}]
ms_hub_tokn: {TOKEN}
run_name: "the key is sk-abcdefghijklmnopqrstuvwxyz"
"""
RAW = ("12345678901234", TOKEN, "sk-abcdefghijklmnopqrstuvwxyz")


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_lint_never_prints_a_secret_it_found(tmp_path, cli, fmt):
    cfg = tmp_path / "lf.yaml"
    cfg.write_text(LF_CONFIG)
    result = cli("lint", "--format", fmt, str(cfg))
    assert result.exit_code == 1, result.output
    assert "hub_token" in result.output and "***" in result.output
    for raw in RAW:
        assert raw not in result.output, f"{raw} printed in {fmt} output"


def test_review_of_a_hand_written_config_masks_secrets(tmp_path):
    from generator.lint import lint_file

    cfg = tmp_path / "lf.yaml"
    cfg.write_text(LF_CONFIG)
    dumped = json.dumps([f.to_dict() for f in lint_file(cfg).findings])
    for raw in RAW:
        assert raw not in dumped


def _spec(path: Path, name: str, data_path: str) -> Path:
    path.write_text(
        f"name: {name}\nbase_model: Qwen/Qwen2.5-0.5B-Instruct\n"
        f"data:\n  train:\n    - path: {data_path}\n      format: alpaca\n  examples: 5000\n"
        "hardware: {gpu: A100-80GB}\n"
    )
    return path


@pytest.mark.parametrize("how", ["direct", "symlink"])
@pytest.mark.parametrize("as_json", [False, True])
def test_an_environment_dump_as_data_never_reaches_the_output(tmp_path, how, as_json):
    """A separate process: /proc/self/environ holds the environment a process started with."""
    if how == "symlink":
        (tmp_path / "env.jsonl").symlink_to("/proc/self/environ")
    spec = _spec(tmp_path / "spec.yaml", "leak", "/proc/self/environ" if how == "direct" else "env.jsonl")
    args = ["build", str(spec), "--out", str(tmp_path / "out")] + (["--json"] if as_json else [])
    env = {"HF_TOKEN": TOKEN, "MY_PASSWORD": PASSWORD, **os.environ}  # first: quoted before any cut
    result = subprocess.run(
        [sys.executable, "-m", "generator.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    for stream in (result.stdout, result.stderr):
        assert TOKEN not in stream and PASSWORD not in stream


def test_a_problem_quoting_an_environment_masks_its_secrets():
    dump = f"PATH=/bin\x00HF_TOKEN={TOKEN}\x00DB_PASSWORD={PASSWORD}\x00HOME=/root"
    p = Problem("data.jsonl", "data.train[0]", f"line 1 is not JSON: {dump}", found=dump, line=1)
    for text in (p.render(), json.dumps(p.to_dict())):
        assert TOKEN not in text and PASSWORD not in text and "PATH=/bin" in text
    keyed = Problem("spec.yaml", "framework_overrides.axolotl.hub_token", "x", found="plain-looking-value")
    assert "plain-looking-value" not in keyed.render() and keyed.to_dict()["found"] == "***"
    special = Problem("c.yaml", "special_tokens.pad_token", "x", found="<|pad|>")
    assert "<|pad|>" in special.render(), "special tokens are text, not secrets"


def test_the_recorded_command_lines_are_masked(built_tiny, fake_env_secrets, monkeypatch):
    from generator import run as runner
    from generator.launch import run as launch_run

    real = launch_run.launch_command

    def with_secret(*a, **k):
        argv, extra = real(*a, **k)
        return [*argv, "--hub_token", TOKEN, f"--api-key={PASSWORD}"], extra

    monkeypatch.setattr(launch_run, "launch_command", with_secret)
    record = runner.start(built_tiny, on_line=lambda *a: None, evaluate=False)
    assert record.status == "succeeded", (Path(record.path) / "train.log").read_text()
    saved = (Path(record.path) / "run.json").read_text()
    assert TOKEN not in saved and PASSWORD not in saved
    data = json.loads(saved)
    assert data["command"][-3:] == ["--hub_token", "***", "--api-key=***"]
    assert data["child_cmdline"] is None or TOKEN not in json.dumps(data["child_cmdline"])


@pytest.fixture
def fake_env_secrets(install_fake_framework):
    return install_fake_framework(Path(__file__).resolve().parents[1] / "run" / "fake_framework.py")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True),
        ("hub_token", True),
        ("hf_hub_token", True),
        ("WANDB_API_KEY", True),
        ("swanlab_api_key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("PGPASSWORD", True),
        ("OPENAI_KEY", True),
        ("use_auth_token", True),
        ("pad_token", False),
        ("eos_token", False),
        ("max_new_tokens", False),
        ("tokenizer_config", False),
        ("TOKENIZERS_PARALLELISM", False),
        ("template_thinking_key", False),
        ("special_tokens.pad_token", False),
    ],
)
def test_what_counts_as_a_secret_name(name, secret):
    assert _secrets.is_secret_name(name) is secret


def test_env_redaction_and_stream_masking_use_the_same_rules():
    from generator.envs import redact
    from generator.run.runner import redactor

    env = {"HF_TOKEN": TOKEN, "PATH": "/bin", "TOKENIZERS_PARALLELISM": "false"}
    assert redact(env) == {"HF_TOKEN": "***", "PATH": "/bin", "TOKENIZERS_PARALLELISM": "false"}
    masked = redactor(env)(f"token {TOKEN} and ghp_{'a' * 36}\n".encode())
    assert TOKEN.encode() not in masked and b"ghp_" not in masked and masked.count(b"***") == 2
    assert os.environ.get("NOT_SET_HERE") is None

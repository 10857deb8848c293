"""Secrets reach the framework through the environment and nowhere else; remote code needs the spec's own flag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from generator import run as runner
from generator.build import build_file
from generator.errors import FtgenError
from generator.spec import from_dict

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "HF_TOKEN": "hf_SeCrEt_0123456789abcdef",
    "WANDB_API_KEY": "wandb-SECRET-9876543210",
    "HUGGING_FACE_HUB_TOKEN": "hfhub_Another_Secret_42",
}


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _leaks(folder: Path) -> list[str]:
    """Every file under folder (configs, plan, run.json, logs) that holds a secret value."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out += [f"{path.relative_to(folder)}: {name}" for name, v in SECRETS.items() if v.encode() in data]
    return out


@pytest.fixture
def secrets_set(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_secrets_reach_the_child_but_are_never_written(built_tiny, secret_env, secrets_set):
    shown: list[str] = []
    rec = runner.start(built_tiny, on_line=lambda line, bar: shown.append(line))
    assert rec.status == "succeeded", Path(rec.path, "train.log").read_text()
    log = (Path(rec.path) / "train.log").read_text()
    for name, value in SECRETS.items():
        assert f"{name} seen=yes sha={_fingerprint(value)}" in log, f"{name} did not reach the child"
        assert f"{name}=***" in log, "the value the child printed is masked in train.log"
    assert "login ok for token ***; wandb key=***!" in log, "stderr is masked too"
    assert not _leaks(built_tiny), _leaks(built_tiny)  # config.yaml, source config, run.json, train.log, plan, PLAN.md
    assert not [line for line in shown if any(v in line for v in SECRETS.values())], "the terminal is masked too"
    record = json.loads((Path(rec.path) / "run.json").read_text())
    assert not any(v in json.dumps(record) for v in SECRETS.values())


def test_cli_run_masks_secrets_in_what_it_prints_and_keeps(built_tiny, secret_env, secrets_set, cli):
    result = cli("run", str(built_tiny), "--without-eval-set")
    assert result.exit_code == 0, result.output
    assert not any(v in result.output for v in SECRETS.values())
    assert "HF_TOKEN=***" in result.output
    assert not _leaks(built_tiny), _leaks(built_tiny)
    listing = cli("runs", str(built_tiny))
    assert not any(v in listing.output for v in SECRETS.values())


def test_resume_masks_secrets_too(built_tiny, secret_env, secrets_set, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL_AT", "3")
    rec = runner.start(built_tiny, on_line=lambda *a: None)
    assert rec.status == "failed" and rec.last_checkpoint
    monkeypatch.delenv("FAKE_FAIL_AT")
    again = runner.resume(rec.path, on_line=lambda *a: None)
    assert again.status == "succeeded"
    assert not _leaks(built_tiny), _leaks(built_tiny)


def test_build_outputs_never_hold_environment_secrets(tmp_path, secrets_set):
    b = build_file(REPO / "examples" / "support-bot.yaml", tmp_path)
    assert not [name for name, text in b.files.items() if any(v in text for v in SECRETS.values())]


# ------------------------------------------------------------------ secrets and remote code in the spec

BASE = {
    "name": "x",
    "base_model": "Qwen/Qwen2.5-7B-Instruct",
    "data": {"train": [{"path": "org/ds", "format": "alpaca"}], "examples": 5000},
    "framework": "both",
}


@pytest.mark.parametrize(
    "framework,key",
    [
        ("llamafactory", "hf_hub_token"),
        ("llamafactory", "hub_token"),
        ("axolotl", "comet_api_key"),
        ("llamafactory", "swanlab_api_key"),
        ("axolotl", "swanlab_lark_secret"),
    ],
)
def test_secrets_written_into_the_spec_are_refused(framework, key):
    data = {**BASE, "framework_overrides": {framework: {key: SECRETS["HF_TOKEN"]}}}
    with pytest.raises(FtgenError) as exc:
        from_dict(data, "spec.yaml")
    assert [p.key for p in exc.value.problems] == [f"framework_overrides.{framework}.{key}"]
    assert SECRETS["HF_TOKEN"] not in exc.value.render(), "the error does not echo the secret"


def test_environment_interpolation_is_refused_for_llamafactory(tmp_path):
    """OmegaConf would read ${oc.env:HF_TOKEN} as an interpolation; ftgen refuses rather than pass it on."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump({**BASE, "framework_overrides": {"llamafactory": {"run_name": "${oc.env:HF_TOKEN}"}}})
    )
    with pytest.raises(FtgenError) as exc:
        build_file(spec, tmp_path / "out")
    assert [p.key for p in exc.value.problems] == ["framework_overrides.llamafactory.run_name"]


def _configs(b) -> dict:
    return {r.framework: r.config for r in b.rendered}


def test_remote_code_stays_off_without_the_flag(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(BASE))
    b = build_file(spec, tmp_path / "out")
    assert all(not cfg.get("trust_remote_code", False) for cfg in _configs(b).values())


def test_a_model_that_needs_remote_code_is_refused_without_the_flag(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump({**BASE, "base_model": "internlm/internlm3-8b-instruct", "framework": "llamafactory"})
    )
    with pytest.raises(FtgenError) as exc:
        build_file(spec, tmp_path / "out")
    assert "trust_remote_code" in [p.key for p in exc.value.problems]


def test_a_local_model_with_auto_map_is_refused_without_the_flag(tmp_path):
    model = tmp_path / "remote-model"
    model.mkdir()
    config = json.loads((REPO / "tests" / "cases" / "good" / "models" / "tiny-llama" / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilForCausalLM"}
    (model / "config.json").write_text(json.dumps(config))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump({**BASE, "base_model": "remote-model", "hardware": {"gpu": "CPU"}, "sequence_len": 128})
    )
    with pytest.raises(FtgenError) as exc:
        build_file(spec, tmp_path / "out")
    assert "trust_remote_code" in [p.key for p in exc.value.problems]


def test_remote_code_with_the_flag_is_written_and_flagged_for_review(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                **BASE,
                "base_model": "internlm/internlm3-8b-instruct",
                "framework": "llamafactory",
                "trust_remote_code": True,
            }
        )
    )
    b = build_file(spec, tmp_path / "out")
    assert _configs(b)["llamafactory"]["trust_remote_code"] is True
    warnings = [f for f in b.plan.findings if f.key == "trust_remote_code" and f.severity == "warning"]
    assert warnings, "review lists plan warnings; remote code must be one of them"


@pytest.mark.parametrize("framework", ["axolotl", "llamafactory"])
def test_remote_code_cannot_be_slipped_in_through_framework_overrides(tmp_path, framework):
    data = {**BASE, "framework_overrides": {framework: {"trust_remote_code": True}}}
    with pytest.raises(FtgenError) as exc:
        from_dict(data, "spec.yaml")
    assert [p.key for p in exc.value.problems] == [f"framework_overrides.{framework}.trust_remote_code"]
    ok = from_dict({**data, "trust_remote_code": True}, "spec.yaml")
    assert ok.trust_remote_code

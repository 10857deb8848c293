"""The spec's lock file: written by build, read first by build/check/review, refreshed on request, never by check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from test_facts_hub import MODELS, commit_of, configs_model, lay_out_cache, write_spec

from generator.build import build_file
from generator.errors import FtgenError
from generator.facts.lock import lock_path
from generator.facts.lock import read as read_lock

MISTRAL = "mistralai/Mistral-7B-v0.1"
PHI3 = "microsoft/Phi-3-mini-4k-instruct"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    home = tmp_path / "hf-home"
    lay_out_cache(home / "hub", {MISTRAL: MODELS[MISTRAL]["config"], PHI3: MODELS[PHI3]["config"]})
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home / "hub"


@pytest.mark.parametrize(
    ("spec", "lock"),
    [("specs/bot.yaml", "specs/bot.lock.json"), ("bot.yml", "bot.lock.json"), ("a/bot.v2.yaml", "a/bot.v2.lock.json")],
)
def test_lock_sits_beside_the_spec(spec, lock):
    assert lock_path(spec) == Path(lock)


def test_build_writes_the_lock_once_and_reports_it(cli, cache, tmp_path):
    spec = write_spec(tmp_path, "bot", MISTRAL)
    result = cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    lock = tmp_path / "bot.lock.json"
    assert f"locked {MISTRAL} at {commit_of(MISTRAL)[:12]} (from the Hugging Face cache)" in result.output
    data = json.loads(lock.read_text())
    entry = data["models"][MISTRAL]
    assert (data["lock_version"], entry["id"], entry["revision"]) == (1, MISTRAL, commit_of(MISTRAL))
    assert entry["config"]["num_key_value_heads"] == 8 and "sliding_window" not in entry["config"]
    stamp = lock.stat().st_mtime_ns
    again = cli("build", str(spec), "--out", str(tmp_path / "out"))
    assert again.exit_code == 0 and "locked" not in again.output and lock.stat().st_mtime_ns == stamp


def test_check_reads_only_the_lock_and_never_writes_it(cli, cache, tmp_path):
    spec = write_spec(tmp_path, "bot", MISTRAL)
    # the cache holds the model, but check must agree with CI, which has no cache: no lock -> an error naming the fix
    result = cli("check", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "base_model: not in the catalog and not locked" in text
    assert f"run `ftgen build {spec}`" in text and "then commit bot.lock.json" in text
    assert not (tmp_path / "bot.lock.json").exists()
    assert cli("build", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    assert cli("check", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    assert cli("build", "--check", "--refresh", str(spec)).exit_code == 2


def test_the_lock_wins_over_a_newer_cache_until_refresh(cli, cache, tmp_path):
    spec = write_spec(tmp_path, "bot", MISTRAL)
    assert cli("build", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    newer = "b" * 40
    folder = cache / "models--mistralai--Mistral-7B-v0.1"
    (folder / "snapshots" / newer).mkdir()
    (folder / "snapshots" / newer / "config.json").write_text(
        json.dumps({**MODELS[MISTRAL]["config"], "max_position_embeddings": 8192})
    )
    (folder / "refs" / "main").write_text(newer)
    assert build_file(spec, tmp_path / "out").facts.model.revision == commit_of(MISTRAL)
    result = cli("build", str(spec), "--out", str(tmp_path / "out"), "--refresh")
    assert result.exit_code == 0 and f"at {newer[:12]}" in result.output
    assert json.loads((tmp_path / "bot.lock.json").read_text())["models"][MISTRAL]["revision"] == newer
    assert json.loads((tmp_path / "out" / "bot" / "plan.json").read_text())["facts"]["model"]["max_context"] == 8192


def test_a_new_base_model_replaces_the_lock_entry(cli, cache, tmp_path):
    spec = write_spec(tmp_path, "bot", MISTRAL)
    assert cli("build", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    write_spec(tmp_path, "bot", PHI3)
    assert cli("build", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    assert list(json.loads((tmp_path / "bot.lock.json").read_text())["models"]) == [PHI3]
    assert configs_model(tmp_path / "out" / "bot") == (PHI3, PHI3)


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        (lambda d: "{broken", "", "not valid JSON"),
        (lambda d: {**d, "lock_version": 7}, "lock_version", "not an ftgen lock of a known version"),
        (lambda d: _entry(d, revision="main"), f"models.{MISTRAL}.revision", "not a commit hash"),
        (lambda d: _entry(d, resolved_from="laptop"), f"models.{MISTRAL}.resolved_from", "unknown source"),
        (lambda d: _entry(d, id="../../etc/passwd"), f"models.{MISTRAL}.id", "not a hub model id"),
        (lambda d: _entry(d, chat_format="vicuna"), f"models.{MISTRAL}.chat_format", "unknown chat format"),
        (
            lambda d: _entry(d, config={**d["models"][MISTRAL]["config"], "hidden_size": -1}),
            f"models.{MISTRAL}.config.hidden_size",
            "positive whole number",
        ),
        (
            lambda d: _entry(d, config={**d["models"][MISTRAL]["config"], "model_type": "deepseek_v3"}),
            f"models.{MISTRAL}.config.model_type",
            "not supported",
        ),
    ],
)
def test_a_damaged_lock_is_an_error_naming_the_key(edit, key, message, cache, tmp_path):
    spec = write_spec(tmp_path, "bot", MISTRAL)
    b = build_file(spec, tmp_path / "out")
    lock = b.facts.lock.path
    changed = edit(json.loads(b.facts.lock.text))
    lock.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    with pytest.raises(FtgenError) as err:
        build_file(spec, tmp_path / "out")
    problem = err.value.problems[0]
    assert (problem.file, problem.key) == (str(lock), key) and message in problem.message
    assert build_file(spec, tmp_path / "out", refresh=True).facts.lock.fresh  # --refresh rewrites it


def _entry(data: dict, **changes) -> dict:
    models = {MISTRAL: {**data["models"][MISTRAL], **changes}}
    return {**data, "models": models}


def test_read_lock_without_a_file():
    assert read_lock(Path("/nonexistent/bot.lock.json")) is None


# ------------------------------------------------------------------ aliases and model_config

ALIASES = {
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "qwen2.5-7b": "Qwen/Qwen2.5-7B",
    "META-LLAMA/llama-3.1-8b": "meta-llama/Llama-3.1-8B",
}


@pytest.mark.parametrize("alias", list(ALIASES))
def test_an_alias_is_written_as_the_hub_id_everywhere(alias, tmp_path):
    spec = write_spec(tmp_path, "bot", alias)
    b = build_file(spec, tmp_path / "out")
    assert b.facts.lock is None  # a catalog model needs no lock
    assert {"axolotl.yaml", "llamafactory.yaml", "plan.json", "PLAN.md", "launch.sh"} <= set(b.files)
    verbatim = re.compile(r"(?<![\w/])" + re.escape(alias) + r"(?![\w.-])")
    for name, text in b.files.items():
        assert not verbatim.search(text), f"{name} names the alias {alias!r}"
    assert ALIASES[alias] in b.files["plan.json"] and ALIASES[alias] in b.files["PLAN.md"]
    ax = yaml.safe_load(b.files["axolotl.yaml"])["base_model"]
    lf = yaml.safe_load(b.files["llamafactory.yaml"])["model_name_or_path"]
    assert ax == lf == ALIASES[alias]


def test_model_config_stands_in_for_a_hub_id(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mistral.json").write_text(json.dumps(MODELS[MISTRAL]["config"]))
    spec = write_spec(tmp_path, "bot", MISTRAL, model_config="configs/mistral.json")
    b = build_file(spec, tmp_path / "out")
    assert b.facts.model.source == "model_config" and b.facts.lock is None
    assert b.facts.model.params_b == pytest.approx(7.24, rel=0.01)
    write_all_files(b)
    assert configs_model(b.out_dir) == (MISTRAL, MISTRAL)  # the hub id, never the weightless folder
    assert "the spec's model_config `configs/mistral.json`" in b.files["PLAN.md"]
    assert json.loads(b.files["plan.json"])["facts"]["model"]["source"] == "model_config"


def write_all_files(b):
    from generator.write import write_all

    write_all(b.out_dir, b.files)


@pytest.mark.parametrize(
    ("base_model", "model_config", "key", "message"),
    [
        ("models/tiny", "configs/mistral.json", "model_config", "base_model is a local directory"),
        ("./not/a hub id", "configs/mistral.json", "base_model", "must be the hub id"),
        (MISTRAL, "configs/missing.json", "model_config", "file not found"),
        (MISTRAL, "configs/bad.json", "model_config", "num_attention_heads"),
    ],
)
def test_model_config_errors(base_model, model_config, key, message, tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mistral.json").write_text(json.dumps(MODELS[MISTRAL]["config"]))
    (tmp_path / "configs" / "bad.json").write_text(json.dumps({"model_type": "x", "hidden_size": 8}))
    (tmp_path / "models" / "tiny").mkdir(parents=True)
    (tmp_path / "models" / "tiny" / "config.json").write_text(json.dumps(MODELS[MISTRAL]["config"]))
    spec = write_spec(tmp_path, "bot", base_model, model_config=model_config)
    with pytest.raises(FtgenError) as err:
        build_file(spec, tmp_path / "out")
    assert any(p.key == key and message in p.message for p in err.value.problems), err.value.problems


def test_a_lock_without_chat_format_rebuilds_unchanged(cache, tmp_path):
    """Locks written before ftgen read the tokenizer (and caches holding config.json only) carry no chat_format:
    the rebuild keeps the fallback template and rewrites no lock."""
    spec = write_spec(tmp_path, "bot", MISTRAL)
    b = build_file(spec, tmp_path / "out")
    assert "chat_format" not in json.loads(b.facts.lock.text)["models"][MISTRAL]
    b.facts.lock.path.write_text(b.facts.lock.text)
    again = build_file(spec, tmp_path / "out")
    assert again.facts.lock.current() and not again.facts.lock.fresh
    assert again.facts.model.axolotl_chat_template.startswith("tokenizer_default_fallback_")

"""Hub models outside the catalog: resolved from the HF cache or the hub, locked, rebuilt identically without either.

The HF cache is laid out as huggingface_hub writes it (models--org--name/refs/main naming a commit,
snapshots/<commit>/config.json a symlink into blobs/); the hub is tests/_fake_hub.py on a local port.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import yaml
from _fake_hub import FakeHub

from generator.build import build_file
from generator.check import compare
from generator.errors import FtgenError
from generator.facts import hub
from generator.facts.models import load_catalog, lookup_model
from generator.write import write_all

DATA = yaml.safe_load((Path(__file__).parent / "data" / "published_models.yaml").read_text())
MODELS = DATA["models"]
OUTSIDE_CATALOG = [m for m in MODELS if m not in load_catalog()]


def test_the_issues_models_are_outside_the_catalog():
    assert {"mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-7b-hf", "microsoft/Phi-3-mini-4k-instruct"} <= set(
        OUTSIDE_CATALOG
    )
    assert len(OUTSIDE_CATALOG) >= 9


def commit_of(repo_id: str) -> str:
    return hashlib.sha1(repo_id.encode()).hexdigest()


def lay_out_cache(cache: Path, configs: dict[str, dict], *, refs: bool = True) -> Path:
    """An HF hub cache holding config.json of each repo at one commit, as huggingface_hub lays it out."""
    for repo_id, config in configs.items():
        folder = cache / ("models--" + repo_id.replace("/", "--"))
        commit = commit_of(repo_id)
        text = json.dumps(config, indent=2).encode()
        blob = folder / "blobs" / hashlib.sha1(b"blob %d\0" % len(text) + text).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(text)
        snap = folder / "snapshots" / commit
        snap.mkdir(parents=True, exist_ok=True)
        (snap / "config.json").symlink_to(os.path.relpath(blob, snap))
        if refs:
            (folder / "refs").mkdir(exist_ok=True)
            (folder / "refs" / "main").write_text(commit)
    return cache


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """A populated HF cache in HF_HOME (offline: the hub is never asked)."""
    home = tmp_path / "hf-home"
    lay_out_cache(home / "hub", {m: MODELS[m]["config"] for m in OUTSIDE_CATALOG})
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def write_spec(folder: Path, name: str, base_model: str, **extra) -> Path:
    spec = {
        "name": name,
        "base_model": base_model,
        "data": {"train": [{"path": "org/support-chats", "format": "sharegpt"}], "examples": 6000},
        "hardware": {"gpu": "A100-80GB"},
        "framework": "both",
        **extra,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def configs_model(out_dir: Path) -> tuple[str, str]:
    ax = yaml.safe_load((out_dir / "axolotl.yaml").read_text())
    lf = yaml.safe_load((out_dir / "llamafactory.yaml").read_text())
    return ax["base_model"], lf["model_name_or_path"]


# ------------------------------------------------------------------ the HF cache


@pytest.mark.parametrize("model", OUTSIDE_CATALOG, ids=lambda m: m.split("/")[-1])
def test_hub_model_builds_offline_from_the_cache_and_the_lock_rebuilds_it_without(
    model, hf_cache, tmp_path, monkeypatch
):
    spec = write_spec(tmp_path / "specs", "bot", model)
    b = build_file(spec, tmp_path / "out")
    assert b.facts.model.source == "lock" and b.facts.model.locked_from == "cache"
    assert b.facts.model.params_b * 1e9 == pytest.approx(MODELS[model]["published"], rel=DATA["tolerance"])
    write_all(b.out_dir, b.files)
    assert configs_model(b.out_dir) == (model, model)
    plan = json.loads(b.files["plan.json"])
    facts = plan["facts"]["model"]
    assert (facts["id"], facts["source"], facts["lock"], facts["locked_from"]) == (
        model,
        "lock",
        "bot.lock.json",
        "cache",
    )
    assert plan["facts"]["model"]["revision"] == commit_of(model)
    # the configs load that commit, not whatever the hub's main branch holds when the run starts
    ax = yaml.safe_load((b.out_dir / "axolotl.yaml").read_text())
    lf = yaml.safe_load((b.out_dir / "llamafactory.yaml").read_text())
    assert ax["revision_of_model"] == lf["model_revision"] == commit_of(model)
    assert "the lock `bot.lock.json`" in b.files["PLAN.md"]
    lock = b.facts.lock
    assert lock.path == tmp_path / "specs" / "bot.lock.json" and lock.fresh
    lock.path.write_text(lock.text)

    # another machine: no HF cache, no hub; the committed lock gives the same files, byte for byte
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-home"))
    again = build_file(spec, tmp_path / "out")
    assert again.files == b.files and not again.facts.lock.fresh and again.facts.lock.current()
    checked = build_file(spec, tmp_path / "out", frozen=True)  # what `ftgen check` does
    assert compare(checked).clean


def test_refs_main_names_the_snapshot(hf_cache):
    model = "mistralai/Mistral-7B-v0.1"
    folder = hf_cache / "hub" / "models--mistralai--Mistral-7B-v0.1"
    other = "f" * 40
    (folder / "snapshots" / other).mkdir()
    (folder / "snapshots" / other / "config.json").write_text(json.dumps({**MODELS[model]["config"], "vocab_size": 1}))
    assert hub.from_cache(model).revision == commit_of(model)
    (folder / "refs" / "main").write_text(other + "\n")
    found = hub.from_cache(model)
    assert (found.revision, found.config["vocab_size"]) == (other, 1)


def test_hf_hub_cache_wins_over_hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hub.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hub.hub_cache_dir() == tmp_path / "cache"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-refs", "refs/main not found"),
        ("bad-ref", "does not hold a commit hash"),
        ("no-snapshot", "has no config.json at"),
        ("bad-json", "is not valid JSON"),
    ],
)
def test_broken_cache_entries_say_why(damage, message, tmp_path, monkeypatch):
    model = "mistralai/Mistral-7B-v0.1"
    cache = lay_out_cache(tmp_path / "hub", {model: MODELS[model]["config"]}, refs=damage != "no-refs")
    folder = cache / "models--mistralai--Mistral-7B-v0.1"
    if damage == "bad-ref":
        (folder / "refs" / "main").write_text("main\n")
    elif damage == "no-snapshot":
        (folder / "refs" / "main").write_text("a" * 40)
    elif damage == "bad-json":
        snap = folder / "snapshots" / commit_of(model) / "config.json"
        snap.unlink()
        snap.write_text("{not json")
    with pytest.raises(hub.Miss) as err:
        hub.from_cache(model, cache)
    assert message in str(err.value)
    # through the resolver: listed among the places tried, never a traceback
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    with pytest.raises(FtgenError) as err:
        lookup_model(model, tmp_path, "spec.yaml")
    assert message in err.value.problems[0].message


# ------------------------------------------------------------------ the hub (a local fake)


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    root = tmp_path / "hub-root"
    for model in ("mistralai/Mistral-7B-v0.1", "meta-llama/Llama-2-7b-hf"):
        folder = root / "models" / model
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps(MODELS[model]["config"]))
        (folder / "README.md").write_text("# card\n")
    with FakeHub(root, gated=("meta-llama/Llama-2-7b-hf",)) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        yield server


def test_from_hub_reads_only_config_json_at_the_current_commit(fake_hub, tmp_path):
    found = hub.from_hub("mistralai/Mistral-7B-v0.1")
    repo = fake_hub.repo("model", "mistralai/Mistral-7B-v0.1")
    assert (found.id, found.revision, found.source, found.gated) == (repo.id, repo.sha, "hub", False)
    assert found.config == MODELS["mistralai/Mistral-7B-v0.1"]["config"]
    files = {p.split("/resolve/")[1] for p in fake_hub.paths() if "/resolve/" in p}
    assert files == {f"{repo.sha}/config.json"}  # nothing but config.json, at the commit the API named
    assert any(p.startswith("/api/models/mistralai/Mistral-7B-v0.1") for p in fake_hub.paths("GET"))


def test_build_from_the_hub_writes_the_lock(fake_hub, tmp_path):
    spec = write_spec(tmp_path / "specs", "bot", "mistralai/Mistral-7B-v0.1")
    b = build_file(spec, tmp_path / "out")
    assert b.facts.model.locked_from == "hub" and b.facts.lock.fresh
    lock = json.loads(b.facts.lock.text)["models"]["mistralai/Mistral-7B-v0.1"]
    assert lock["revision"] == fake_hub.repo("model", "mistralai/Mistral-7B-v0.1").sha
    assert lock["resolved_from"] == "hub" and lock["gated"] is False


def test_gated_model_needs_a_token(fake_hub, monkeypatch, tmp_path):
    with pytest.raises(FtgenError) as err:
        lookup_model("meta-llama/Llama-2-7b-hf", tmp_path, "spec.yaml")
    assert "gated on the hub: set HF_TOKEN" in err.value.problems[0].message
    monkeypatch.setenv("HF_TOKEN", fake_hub.token)
    card = lookup_model("meta-llama/Llama-2-7b-hf", tmp_path, "spec.yaml")
    assert card.gated and card.params_b == pytest.approx(6.74, rel=0.01)


def test_unknown_hub_model_and_unreachable_hub(fake_hub, monkeypatch, tmp_path):
    with pytest.raises(FtgenError) as err:
        lookup_model("mistralai/Mistral-7B-v9", tmp_path, "spec.yaml")
    message = err.value.problems[0].message
    assert message.startswith("unknown model: not in the catalog; not in the Hugging Face cache")
    assert f"the hub at {fake_hub.url} has no model mistralai/Mistral-7B-v9" in message
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(FtgenError) as err:
        lookup_model("mistralai/Mistral-7B-v0.1", tmp_path, "spec.yaml")
    assert "cannot reach the hub at http://127.0.0.1:9" in err.value.problems[0].message


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "FTGEN_OFFLINE"])
def test_offline_variables_keep_the_hub_unasked(variable, fake_hub, monkeypatch, tmp_path):
    monkeypatch.setenv(variable, "1")
    with pytest.raises(FtgenError) as err:
        lookup_model("mistralai/Mistral-7B-v0.1", tmp_path, "spec.yaml")
    assert f"not asked: {variable}=1 turns the hub off" in err.value.problems[0].message
    assert fake_hub.requests == []


def test_huggingface_hub_is_imported_only_when_the_hub_is_asked():
    import subprocess
    import sys

    code = (
        "import sys; from generator.cli import main; from generator.build import build_file; "
        "import generator.facts.models, generator.facts.hub; "
        "print('huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_architecture_without_a_row_is_built_with_a_warning(tmp_path):
    folder = tmp_path / "specs" / "models" / "odd"
    folder.mkdir(parents=True)
    config = {**MODELS["mistralai/Mistral-7B-v0.1"]["config"], "model_type": "starcoder2x"}
    config["architectures"] = ["Starcoder2xForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    b = build_file(write_spec(tmp_path / "specs", "odd", "models/odd"), tmp_path / "out")
    [finding] = [f for f in b.plan.findings if f.rule == "FT190"]
    assert finding.severity == "warning" and "sized as a Llama-style decoder" in finding.message
    assert json.loads(b.files["plan.json"])["facts"]["model"]["notes"] == [finding.message]


# A hub fine-tune whose tokenizer chats in another format than its architecture's (OpenHermes 2.5: Mistral
# weights, ChatML turns): the lock records what the tokenizer's chat template writes, and both frameworks follow it.
CHATML = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
HERMES = "teknium/OpenHermes-2.5-Mistral-7B"


@pytest.fixture
def chatml_hub(tmp_path, monkeypatch):
    root = tmp_path / "hub-root"
    folder = root / "models" / HERMES
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(MODELS["mistralai/Mistral-7B-v0.1"]["config"]))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>", "chat_template": CHATML}))
    with FakeHub(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
        yield server


def test_the_lock_records_the_tokenizers_chat_format_and_both_frameworks_follow_it(chatml_hub, monkeypatch, tmp_path):
    found = hub.from_hub(HERMES)
    assert found.chat_format == "chatml"
    files = {p.split("/resolve/")[1].split("/", 1)[1] for p in chatml_hub.paths() if "/resolve/" in p}
    assert files == {"config.json", "tokenizer_config.json"}  # the one file that holds the template, no weights
    spec = write_spec(tmp_path / "specs", "hermes", HERMES)
    b = build_file(spec, tmp_path / "out")
    assert json.loads(b.facts.lock.text)["models"][HERMES]["chat_format"] == "chatml"
    card = b.facts.model
    assert (card.axolotl_chat_template, card.llamafactory_template) == ("tokenizer_default", "chatml")
    assert any("`chatml` template (the architecture alone would get `mistral`)" in n for n in card.notes)
    # the committed lock rebuilds the same configs with neither the hub nor the cache
    write_all(b.out_dir, b.files)
    b.facts.lock.path.write_text(b.facts.lock.text)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-home"))
    again = build_file(spec, tmp_path / "out", frozen=True)
    assert again.files == b.files and compare(again).clean
    ax = yaml.safe_load((b.out_dir / "axolotl.yaml").read_text())
    lf = yaml.safe_load((b.out_dir / "llamafactory.yaml").read_text())
    assert (ax["chat_template"], lf["template"]) == ("tokenizer_default", "chatml")


def test_a_repo_without_tokenizer_files_locks_none_and_downloads_nothing_more(fake_hub):
    found = hub.from_hub("mistralai/Mistral-7B-v0.1")
    assert found.chat_format == "none"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, None),  # the cache holds config.json only: not known
        ({"tokenizer_config.json": json.dumps({"bos_token": "<s>"})}, "none"),
        ({"tokenizer_config.json": json.dumps({"chat_template": CHATML})}, "chatml"),
        ({"chat_template.jinja": "[INST] {{ m }} [/INST]", "tokenizer_config.json": "{}"}, "mistral"),
        ({"tokenizer_config.json": json.dumps({"chat_template": "User: {{ m }}"})}, "other"),
    ],
)
def test_the_cache_says_what_the_tokenizer_writes_when_it_holds_the_file(files, expected, tmp_path, monkeypatch):
    cache = lay_out_cache(tmp_path / "hub", {HERMES: MODELS["mistralai/Mistral-7B-v0.1"]["config"]})
    snap = cache / ("models--" + HERMES.replace("/", "--")) / "snapshots" / commit_of(HERMES)
    for name, text in files.items():
        (snap / name).write_text(text)
    found = hub.from_cache(HERMES, cache)
    assert found.chat_format == expected
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    card = lookup_model(HERMES, tmp_path, "spec.yaml")
    want_ax = {None: "tokenizer_default_fallback_mistral_v1", "none": "mistral_v1"}.get(expected, "tokenizer_default")
    assert card.axolotl_chat_template == want_ax
    assert card.llamafactory_template == {"chatml": "chatml"}.get(expected, "mistral")

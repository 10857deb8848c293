"""The whole hub path, offline: a local HTTP server stands in for the hub (tests/_fake_hub.py).

It serves a tiny model (config, safetensors weights, tokenizer; made by the tiny-model maker) and a tiny
dataset. `ftgen build` resolves the model from it (config.json only) and writes the lock; `ftgen run` trains
with each framework, whose own download code (huggingface_hub, transformers, datasets in its env) fetches the
weights, tokenizer and data files from the server. HF_ENDPOINT is in the environment before either process
imports huggingface_hub. Needs the framework envs; run under `flock /tmp/ftgen-heavy.lock`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _fake_hub import FakeHub

from generator import envs
from generator.facts.hub import TEMPLATE_FILES

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"
MODEL, DATASET = "tiny-org/tiny-llama", "tiny-org/colours"
pytestmark = pytest.mark.e2e


def _need(framework: str):
    if envs.get_env(framework) is None:
        pytest.skip(f"no {framework} env (run `ftgen env install {framework}`)")


@pytest.fixture(scope="module")
def hub_root(tiny_model, tmp_path_factory):
    """ROOT/models/tiny-org/tiny-llama (the shared tiny model's weights and tokenizer) and
    ROOT/datasets/tiny-org/colours/train.jsonl."""
    root = tmp_path_factory.mktemp("hub-root")
    shutil.copytree(tiny_model, root / "models" / MODEL)
    (root / "datasets" / DATASET).mkdir(parents=True)
    shutil.copyfile(DATA / "colours-train.jsonl", root / "datasets" / DATASET / "train.jsonl")
    return root


def _ftgen(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    """The ftgen CLI in its own process, so huggingface_hub is imported there after HF_ENDPOINT is set."""
    cmd = [sys.executable, "-m", "generator.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


def _spec(folder: Path, framework: str) -> Path:
    spec = {
        "name": f"hub-{framework}",
        "base_model": MODEL,
        "data": {"train": [{"path": DATASET, "format": "alpaca"}], "examples": 400},
        "method": "lora",
        "hardware": {"gpu": "CPU"},
        "framework": framework,
        "sequence_len": 128,
        "overrides": {"max_steps": 8, "learning_rate": 5.0e-3, "packing": False, "micro_batch_size": 4},
    }
    path = folder / f"hub-{framework}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize("framework", ["axolotl", "llamafactory"])
def test_build_resolves_from_the_hub_and_run_downloads_through_the_framework(framework, hub_root, tmp_path):
    _need(framework)
    with FakeHub(hub_root) as hub:
        repo = hub.repo("model", MODEL)
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "FTGEN_OFFLINE", "HF_HUB_CACHE")}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-home"), PYTHONPATH=str(REPO))
        spec = _spec(tmp_path, framework)

        built = _ftgen(["build", str(spec), "--out", "outputs"], env, tmp_path)
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"locked {MODEL} at {repo.sha[:12]} (from the hub)" in " ".join(built.stdout.split())
        lock = json.loads((tmp_path / f"hub-{framework}.lock.json").read_text())["models"][MODEL]
        assert (lock["revision"], lock["resolved_from"]) == (repo.sha, "hub")
        # the build asked for config.json and the one tokenizer file that holds the chat template, no weights
        asked = {p.rsplit("/", 1)[1] for p in hub.paths() if "/resolve/" in p}
        assert "config.json" in asked and len(asked) == 2 and asked - {"config.json"} <= set(TEMPLATE_FILES), asked
        assert lock["chat_format"] == "other"  # the tiny tokenizer's "User: ... Assistant:" template
        out_dir = tmp_path / "outputs" / f"hub-{framework}"
        config = yaml.safe_load((out_dir / f"{framework}.yaml").read_text())
        assert config["base_model" if framework == "axolotl" else "model_name_or_path"] == MODEL

        hub.requests.clear()
        ran = _ftgen(["run", str(out_dir), "--quiet", "--json", "--no-eval", "--without-eval-set"], env, tmp_path)
        run_dir = next(p for p in (out_dir / "runs").iterdir() if p.is_dir())
        log = (run_dir / "train.log").read_text(errors="replace")
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:] + log[-5000:]
        rec = json.loads((run_dir / "run.json").read_text())
        assert rec["status"] == "succeeded" and rec["metrics"]["global_step"] == 8
        assert (run_dir / "model" / "adapter_model.safetensors").is_file()
        files = [p for m, p, status in hub.requests if m == "GET" and status == 200 and "/resolve/" in p]
        fetched = {p.split("/resolve/", 1)[1].split("/", 1)[1] for p in files}
        # (config.json is in HF_HOME already: ftgen build fetched it at this commit, so the framework only checks it)
        assert {"model.safetensors", "tokenizer.json", "train.jsonl"} <= fetched, hub.requests
        snapshot = tmp_path / "hf-home" / "hub" / "models--tiny-org--tiny-llama" / "snapshots" / repo.sha
        assert (snapshot / "model.safetensors").is_file()  # the framework's own download, into HF_HOME

        if framework == "llamafactory":  # --offline: the same run from the cache alone, the hub never asked
            hub.requests.clear()
            again = _ftgen(
                ["run", str(out_dir), "--quiet", "--no-eval", "--without-eval-set", "--offline"], env, tmp_path
            )
            assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
            assert hub.requests == []

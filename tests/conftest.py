"""Shared test helpers: repo paths, a CLI runner, and the stubbed-free import of generator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The hub, as the tests see it: an empty Hugging Face cache and no network, whatever this machine holds, so a
# result never depends on a developer's cache. Tests of the cache and hub paths set their own (tests/facts/...).
_HUB_VARS = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT", "HF_HUB_OFFLINE", "FTGEN_OFFLINE")


@pytest.fixture(scope="session", autouse=True)
def _no_hub(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in _HUB_VARS}
    for k in _HUB_VARS:
        os.environ.pop(k, None)
    os.environ["HF_HOME"] = str(tmp_path_factory.mktemp("hf-home"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def cli():
    """Invoke the ftgen CLI in-process; returns click's Result (exit_code, output)."""
    from click.testing import CliRunner

    from generator.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=True)

    return run


@pytest.fixture
def install_fake_framework(tmp_path, monkeypatch):
    """install(script) makes `ftgen run` use an Env whose llamafactory-cli / axolotl run `script` with this
    Python (no torch, seconds), skipping the native validator; returns the Env factory."""
    from generator import envs

    def install(script: Path):
        bin_dir = tmp_path / "fakebin"
        bin_dir.mkdir(exist_ok=True)
        for name in ("llamafactory-cli", "axolotl"):
            launcher = bin_dir / name
            launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$@"\n')
            launcher.chmod(0o755)

        def make(framework):
            return envs.Env(
                framework=framework,
                version="0.0-fake",
                root=tmp_path / "fake-env",
                python=Path(sys.executable),
                bin_dir=bin_dir,
                torch_flavor="cpu",
                external=True,
            )

        monkeypatch.setattr("generator.run.envs.get_env", lambda fw, root=None: make(fw))
        monkeypatch.setattr(
            "generator.run._validated_natively",
            lambda prep, env, text, resolved: {"schema": True, "native": False, "cached": False},
        )
        return make

    return install


@pytest.fixture
def built_tiny(tmp_path):
    """outputs/tiny-cpu built from the shipped example into a temp folder (config only; no weights needed)."""
    from generator.build import build_file
    from generator.write import write_all

    b = build_file(REPO / "examples" / "tiny-cpu.yaml", tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return b.out_dir


def _shared_tiny_model(tmp_path_factory, name: str, data: tuple[str, ...]) -> Path:
    """A tiny random-initialised Llama (make_tiny_model.py: hidden 64, 2 layers, seed 0) whose BPE tokenizer is
    trained on `data` (files in examples/data/), made in the LLaMA-Factory env (else the Axolotl env; each env
    loads the other's) and shared read-only: made once per pytest run, also under pytest-xdist (the first worker
    that needs it builds it under a file lock in the run's shared temp folder; the others wait and reuse it).
    Skips without a framework env."""
    import fcntl
    import json
    import shutil

    from generator import envs

    env = envs.get_env("llamafactory") or envs.get_env("axolotl")
    if env is None:
        pytest.skip("no framework env to build the tiny model (run `ftgen env install llamafactory`)")
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"shared-{name}"
    folder.mkdir(exist_ok=True)
    model, made = folder / "tiny-llama", folder / "made.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not made.is_file():
            shutil.rmtree(model, ignore_errors=True)  # what a worker that failed left half-written
            info = envs.run_json(
                env.python,
                "make_tiny_model.py",
                [str(model), "--data", *(str(REPO / "examples" / "data" / f) for f in data)],
                env=env.subprocess_env(),
                timeout=600,
            )
            made.write_text(json.dumps(dict(info, env=env.framework, data=list(data))))
    return model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The tiny model with a tokenizer trained on the colour task (colours-train.jsonl): what the SFT, eval, sweep,
    hub, torchrun and Slurm e2e tests train. Its compact colour tokens matter: the eval e2e test's fine-tuned
    model must learn the answers in 150 steps (Axolotl: exact match 0.94 with it, 0.19 with tiny_model_prefs's)."""
    return _shared_tiny_model(tmp_path_factory, "tiny-model", ("colours-train.jsonl",))


@pytest.fixture(scope="session")
def tiny_model_prefs(tmp_path_factory):
    """The tiny model with a tokenizer trained on the colour task and the preference data (support-prefs.jsonl):
    what the run, target-matrix (preference and RL tasks too), tracking and interrupt e2e tests train."""
    return _shared_tiny_model(tmp_path_factory, "tiny-model-prefs", ("colours-train.jsonl", "support-prefs.jsonl"))


@pytest.fixture(scope="session")
def lf_tiny_model(request):
    """tiny_model, for tests that train with LLaMA-Factory: skips (before building it) without that env."""
    from generator import envs

    if envs.get_env("llamafactory") is None:
        pytest.skip("no llamafactory env (run `ftgen env install llamafactory`)")
    return request.getfixturevalue("tiny_model")


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n 2 --dist loadgroup`, as scripts/test.sh runs the suite), tests that need one
    machine-wide resource run in one worker, one after another: the Slurm e2e tests share the single-node Slurm's
    CPUs, and the two-process torchrun tests bind torchrun's fixed rendezvous port."""
    for item in items:
        if item.get_closest_marker("slurm") or "torchrun" in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("machine-wide"))

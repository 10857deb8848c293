"""Fixtures for the hardening tests: a fake framework env that echoes secrets, and a built tiny example."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


@pytest.fixture
def secret_env(tmp_path, monkeypatch):
    """An Env whose llamafactory-cli / axolotl print the secrets they were given, then train like the fake framework."""
    from generator import envs

    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name in ("llamafactory-cli", "axolotl"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / '_fake_framework_secrets.py'} \"$@\"\n")
        script.chmod(0o755)

    def make(framework):
        return envs.Env(framework=framework, version="0.0-fake", root=tmp_path / "fake-env", python=Path(sys.executable),
                        bin_dir=bin_dir, torch_flavor="cpu", external=True)

    monkeypatch.setattr("generator.run.envs.get_env", lambda fw, root=None: make(fw))
    monkeypatch.setattr("generator.run._validated_natively",
                        lambda prep, env, text, resolved: {"schema": True, "native": False, "cached": False})
    monkeypatch.setenv("FAKE_STEPS", "4")
    return make


@pytest.fixture
def built_tiny(tmp_path):
    """outputs/tiny-cpu built from the shipped example into a temp folder."""
    from generator.build import build_file
    from generator.write import write_all

    b = build_file(REPO / "examples" / "tiny-cpu.yaml", tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return b.out_dir

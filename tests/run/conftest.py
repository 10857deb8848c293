"""Fixtures for run tests: a fake framework env (fast, no torch) and a built CPU example."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """An Env whose llamafactory-cli / axolotl are the fake framework script run by this Python."""
    from generator import envs

    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name in ("llamafactory-cli", "axolotl"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nexec {sys.executable} {HERE / 'fake_framework.py'} \"$@\"\n")
        script.chmod(0o755)

    def make(framework):
        return envs.Env(framework=framework, version="0.0-fake", root=tmp_path / "fake-env", python=Path(sys.executable),
                        bin_dir=bin_dir, torch_flavor="cpu", external=True)

    monkeypatch.setattr("generator.run.envs.get_env", lambda fw, root=None: make(fw))
    monkeypatch.setattr("generator.run._validated_natively",
                        lambda prep, env, text, resolved: {"schema": True, "native": False, "cached": False})
    return make


@pytest.fixture
def built(tmp_path):
    """outputs/tiny-cpu built from the shipped example into a temp folder (config only; no weights needed)."""
    from generator.build import build_file
    from generator.write import write_all

    b = build_file(REPO / "examples" / "tiny-cpu.yaml", tmp_path / "outputs")
    write_all(b.out_dir, b.files)
    return b.out_dir

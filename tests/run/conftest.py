"""Fixtures for run tests: a fake framework env (fast, no torch), a built CPU example, the CLI in a new process
and the local Slurm (the tiny model the e2e tests train is tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def fake_env(install_fake_framework):
    """An Env whose llamafactory-cli / axolotl are the fake framework script run by this Python."""
    return install_fake_framework(HERE / "fake_framework.py")


@pytest.fixture
def built(built_tiny):
    return built_tiny


REPO = HERE.parent.parent
DATA = REPO / "examples" / "data"


@pytest.fixture(scope="session")
def ftgen():
    """ftgen(*args, timeout=600): the CLI in a new process (python -m generator.cli), as a user runs it; its
    CompletedProcess (returncode, stdout, stderr). The Slurm e2e tests use it."""
    import subprocess
    import sys

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "generator.cli", *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    return run


@pytest.fixture(scope="module")
def slurm():
    """A Slurm that answers: the one scripts/slurm_local.sh starts (or finds); skip with its reason otherwise."""
    import os
    import subprocess

    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "slurm_local.sh")], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        reason = [line for line in proc.stderr.splitlines() if "cannot start" in line]
        pytest.skip(reason[-1] if reason else f"scripts/slurm_local.sh failed: {proc.stderr.strip()[-300:]}")
    conf = [line for line in proc.stdout.splitlines() if line.startswith("SLURM_CONF=")]
    old = os.environ.get("SLURM_CONF")
    if conf:
        os.environ["SLURM_CONF"] = conf[-1].split("=", 1)[1]
    yield
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old

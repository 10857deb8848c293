"""Fixtures for run tests: a fake framework env (fast, no torch) and a built CPU example."""

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

"""Fixtures for the hardening tests: a fake framework env that echoes the secrets it was given."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def secret_env(install_fake_framework, monkeypatch):
    """An Env whose llamafactory-cli / axolotl print the secrets they were given, then train like the fake framework."""
    make = install_fake_framework(HERE / "_fake_framework_secrets.py")
    monkeypatch.setenv("FAKE_STEPS", "4")
    return make

"""Shared test helpers: repo paths, a CLI runner, and the stubbed-free import of generator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture
def cli():
    """Invoke the ftgen CLI in-process; returns click's Result (exit_code, output)."""
    from click.testing import CliRunner

    from generator.cli import main

    def run(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=True)

    return run

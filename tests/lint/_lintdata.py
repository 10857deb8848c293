"""Helpers shared by the lint tests: the corpus of configs written by the frameworks' authors, the data files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
DATA = Path(__file__).parent / "data"
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"


def corpus_files() -> list[tuple[str, Path]]:
    """(framework folder, path) for every corpus config."""
    out = []
    for fw in ("axolotl", "llamafactory"):
        folder = CORPUS / fw
        if folder.is_dir():
            out += [(fw, p) for p in sorted(folder.iterdir()) if p.suffix in (".yml", ".yaml")]
    return out


def load_json(name: str) -> dict:
    path = DATA / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


needs_corpus = pytest.mark.corpus  # the corpus is committed: a missing file fails, never skips

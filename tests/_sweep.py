"""Test helper: examples/tiny-cpu.yaml with a sweep block, built into a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

from generator.build import build_file
from generator.write import write_all

REPO = Path(__file__).resolve().parents[1]
SWEEP = """
sweep:
  parameters:
    overrides.learning_rate: [1.0e-3, 5.0e-3]
  metric: eval.token_f1
"""


def sweep_build(tmp_path: Path, sweep: str = SWEEP) -> Path:
    """examples/tiny-cpu.yaml plus `sweep`, built into tmp_path/outputs/tiny-cpu; returns the build folder."""
    text = (REPO / "examples" / "tiny-cpu.yaml").read_text()
    # beside the example (its relative paths hold), named for this process and test: xdist workers build at once
    spec = REPO / "examples" / f".sweep-test-{os.getpid()}-{tmp_path.name}.yaml"
    spec.write_text(text + sweep)
    try:
        b = build_file(spec, tmp_path / "outputs")
    finally:
        spec.unlink()
    write_all(b.out_dir, b.files)
    return b.out_dir

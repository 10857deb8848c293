"""FT210: local training files of a GPU build reach sky.yaml's nodes (file_mounts), not pytorchjob.yaml's pods
or slurm.sbatch's nodes by themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.build import build_file

CASES = Path(__file__).resolve().parents[1] / "cases" / "good"


@pytest.mark.parametrize(
    "case,warned",
    [
        ("local-and-hub-data", True),  # GPU plan, one local file and one hub dataset
        ("ddp-lora-4xa100", False),  # hub data only
        ("cpu-tiny-local-model", False),  # CPU: no sky.yaml / pytorchjob.yaml
    ],
)
def test_cluster_data_warns_for_local_files_of_gpu_builds(case, warned):
    found = [w for w in build_file(CASES / f"{case}.yaml").plan.warnings if w.rule == "FT210"]
    assert bool(found) == warned
    if warned:
        assert found[0].key == "data.train" and "small.jsonl" in found[0].message
        assert "sky.yaml uploads them" in found[0].message and "ftgen-data" in found[0].allowed
        assert "shared" in found[0].allowed

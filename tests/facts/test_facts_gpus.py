"""Tests for generator.facts.gpus: the catalog, alias lookup, custom GPUs, errors."""

from __future__ import annotations

import pytest

from generator.errors import FtgenError
from generator.facts.gpus import load_gpus, lookup_gpu

REQUIRED = [
    "T4",
    "V100-16GB",
    "V100-32GB",
    "A10G",
    "L4",
    "RTX3090",
    "RTX4090",
    "L40S",
    "A100-40GB",
    "A100-80GB",
    "H100-80GB",
    "H200-141GB",
    "B200",
    "CPU",
]


def test_catalog_holds_required_gpus():
    assert set(REQUIRED) <= set(load_gpus())


@pytest.mark.parametrize("gpu", list(load_gpus().values()), ids=lambda g: g.name)
def test_catalog_gpu_is_consistent(gpu):
    assert gpu.vram_gb > 0 and gpu.tflops_bf16 > 0 and gpu.usd_per_hour >= 0
    if gpu.fp8:  # Ada/Hopper and newer are also Ampere+ features
        assert gpu.bf16 and gpu.flash_attention
    assert gpu.flash_attention == gpu.bf16  # FA2 and bf16 both start at Ampere
    assert gpu.is_cpu == (gpu.name == "CPU")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("A100", "A100-80GB"),
        ("a100-80g", "A100-80GB"),
        ("A100 80GB", "A100-80GB"),
        ("nvidia a100-40gb", "A100-40GB"),
        ("H100", "H100-80GB"),
        ("h200", "H200-141GB"),
        ("4090", "RTX4090"),
        ("RTX 3090", "RTX3090"),
        ("GeForce RTX 4090", "RTX4090"),
        ("l40s", "L40S"),
        ("v100", "V100-16GB"),
        ("Tesla T4", "T4"),
        ("cpu", "CPU"),
        ("b200", "B200"),
    ],
)
def test_lookup_by_alias_is_case_insensitive(name, expected):
    assert lookup_gpu(name, None, "spec.yaml", "hardware.gpu").name == expected


def test_cpu_entry():
    cpu = lookup_gpu("CPU", None, "spec.yaml", "hardware.gpu")
    assert cpu.is_cpu and not cpu.bf16 and not cpu.flash_attention and cpu.vram_gb == 64


def test_custom_gpu_from_vram():
    gpu = lookup_gpu(None, 48, "spec.yaml", "hardware.vram_gb")
    assert gpu.name == "custom-48GB" and gpu.vram_gb == 48.0
    assert gpu.bf16 and not gpu.fp8 and gpu.flash_attention
    assert gpu.usd_per_hour == 0 and gpu.tflops_bf16 == 100
    assert lookup_gpu(None, 22.5, "s", "k").name == "custom-22.5GB"


def test_name_with_matching_vram_is_fine():
    assert lookup_gpu("A100", 80, "spec.yaml", "hardware.gpu").name == "A100-80GB"


def test_name_with_other_vram_is_an_error_naming_alternatives():
    with pytest.raises(FtgenError) as err:
        lookup_gpu("A100", 40, "spec.yaml", "hardware.gpu")
    (problem,) = err.value.problems
    assert problem.key == "hardware.gpu" and "A100-40GB" in problem.allowed


def test_unknown_gpu_lists_close_names():
    with pytest.raises(FtgenError) as err:
        lookup_gpu("H1000", None, "spec.yaml", "hardware.gpu")
    (problem,) = err.value.problems
    assert (problem.file, problem.key, problem.message, problem.found) == (
        "spec.yaml",
        "hardware.gpu",
        "unknown GPU",
        "H1000",
    )
    assert "H100-80GB" in problem.allowed


@pytest.mark.parametrize("vram", [None, 0, -8])
def test_neither_name_nor_vram_is_an_error(vram):
    with pytest.raises(FtgenError) as err:
        lookup_gpu(None, vram, "spec.yaml", "hardware")
    assert err.value.problems[0].message == "no GPU given"

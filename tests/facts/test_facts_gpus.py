"""Tests for generator.facts.gpus: the catalog, real nvidia-smi names, ambiguous names, custom GPUs, errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator import spec as spec_mod
from generator.errors import FtgenError
from generator.facts.gpus import CUSTOM_KEYS, Ambiguous, ambiguous_names, find_gpu, load_gpus, lookup_gpu

NAMES = yaml.safe_load((Path(__file__).parent / "data" / "gpu_names.yaml").read_text(encoding="utf-8"))
CATALOG = (Path(__file__).parents[2] / "generator" / "catalog" / "gpus.yaml").read_text(encoding="utf-8")

REQUIRED = [
    "T4",
    "V100-16GB",
    "V100-32GB",
    "A10",
    "A10G",
    "L4",
    "RTX3090",
    "RTX4070",
    "RTX4080",
    "RTX4090",
    "RTX-A6000",
    "RTX6000-Ada",
    "A40",
    "L20",
    "L40S",
    "A100-40GB",
    "A100-80GB",
    "A800-40GB",
    "A800-80GB",
    "H100-80GB",
    "H800",
    "H200-141GB",
    "GH200-96GB",
    "B200",
    "MI250",
    "MI300X",
    "CPU",
]


def _problem(name, vram=None):
    with pytest.raises(FtgenError) as err:
        lookup_gpu(name, vram, "spec.yaml", "hardware.gpu")
    (problem,) = err.value.problems
    assert (problem.file, problem.key) == ("spec.yaml", "hardware.gpu")
    return problem


# ------------------------------------------------------------------ the catalog


def test_catalog_holds_required_gpus():
    assert set(REQUIRED) <= set(load_gpus())


@pytest.mark.parametrize("gpu", list(load_gpus().values()), ids=lambda g: g.name)
def test_catalog_gpu_is_consistent(gpu):
    assert gpu.vram_gb > 0 and gpu.tflops_bf16 > 0 and gpu.usd_per_hour >= 0
    if gpu.fp8:  # Ada/Hopper and newer are also Ampere+ features
        assert gpu.bf16 and gpu.flash_attention
    assert gpu.flash_attention == gpu.bf16  # FA2 and bf16 both start at Ampere
    assert gpu.is_cpu == (gpu.name == "CPU")
    assert gpu.bf16 == (gpu.arch not in ("volta", "turing", "cpu"))
    assert gpu.fp8 == (gpu.arch in ("ada", "hopper", "blackwell", "cdna3"))
    assert bool(gpu.unsupported) == gpu.arch.startswith("cdna")  # AMD: listed, refused with the reason


@pytest.mark.parametrize("gpu", list(load_gpus().values()), ids=lambda g: g.name)
def test_every_price_names_its_source_and_date(gpu):
    """A price carries who stated it and when; a card without a price says that none was found."""
    assert gpu.price_source
    if gpu.usd_per_hour and not gpu.is_cpu:
        assert re.fullmatch(r"\d{4}-(Q[1-4]|\d{2}(-\d{2})?)", gpu.price_date), gpu.price_date
    elif not gpu.is_cpu:
        assert gpu.price_source.startswith("none found")


def test_catalog_file_documents_price_sources():
    assert "price_source" in CATALOG and "price_date" in CATALOG


# ------------------------------------------------------------------ names as nvidia-smi prints them


@pytest.mark.parametrize(("name", "expected"), list(NAMES["nvidia"].items()))
def test_nvidia_smi_name_resolves(name, expected):
    assert lookup_gpu(name, None, "spec.yaml", "hardware.gpu").name == expected


def test_every_catalog_card_has_a_real_nvidia_smi_spelling():
    supported = {n for n, g in load_gpus().items() if not g.unsupported and not g.is_cpu}
    assert supported - set(NAMES["nvidia"].values()) == set()
    assert {n for n, g in load_gpus().items() if g.unsupported} == set(NAMES["unsupported"].values())


@pytest.mark.parametrize(("name", "expected"), list(NAMES["typed"].items()))
def test_typed_spelling_resolves(name, expected):
    found = find_gpu(name)
    assert found is not None and found.name == expected


# ------------------------------------------------------------------ ambiguous, unknown, unsupported


@pytest.mark.parametrize(("name", "want"), list(NAMES["ambiguous"].items()))
def test_ambiguous_name_is_refused_with_the_choices(name, want):
    problem = _problem(name)
    assert problem.found == name
    assert "ambiguous" in problem.message
    for choice in want["choices"]:
        assert f"{choice} (" in problem.allowed
    if want.get("formerly"):  # users of ftgen 0.1 learn what their spec used to mean
        assert "silently read" in problem.message and want["formerly"] in problem.message
    else:
        assert "silently" not in problem.message


def test_ambiguous_message_in_full():
    problem = _problem("A100")
    assert problem.render() == (
        "spec.yaml: hardware.gpu: A100 is ambiguous: it names 2 cards with different memory, and the memory "
        "decides the plan. Earlier ftgen versions (0.1) silently read A100 as A100-80GB (80 GB): a plan built "
        "from such a spec assumed that card (found 'A100'); allowed: one of A100-40GB (40 GB), A100-80GB (80 GB) "
        "(`ftgen gpus --detect` prints the name of the local card)"
    )


def test_every_ambiguous_name_is_tested():
    tested = {find_gpu(n).name for n in NAMES["ambiguous"]}
    assert tested == set(ambiguous_names())
    assert all(isinstance(find_gpu(n), Ambiguous) for n in ambiguous_names())


@pytest.mark.parametrize("name", NAMES["unknown"])
def test_unknown_real_names_are_not_guessed(name):
    problem = _problem(name)
    assert problem.message.startswith("unknown GPU") and problem.found == name
    assert "vram_gb" in problem.allowed


def test_laptop_gpu_gets_no_desktop_suggestion():
    problem = _problem("NVIDIA GeForce RTX 4090 Laptop GPU")
    assert "laptop" in problem.message and "RTX4090" not in problem.allowed


@pytest.mark.parametrize(("name", "expected"), list(NAMES["unsupported"].items()))
def test_amd_cards_are_refused_with_the_reason(name, expected):
    problem = _problem(name)
    assert problem.message.startswith(f"{expected} is not supported: ") and "ROCm" in problem.message


def test_unknown_gpu_lists_close_names():
    problem = _problem("H1000")
    assert (problem.message, problem.found) == ("unknown GPU", "H1000")
    assert "H100-80GB" in problem.allowed


# ------------------------------------------------------------------ memory given with a name


def test_vram_picks_one_of_an_ambiguous_name():
    assert lookup_gpu("A100", 40, "spec.yaml", "hardware.gpu").name == "A100-40GB"
    assert lookup_gpu("A100", 80, "spec.yaml", "hardware.gpu").name == "A100-80GB"
    assert "ambiguous" in _problem("A100", 48).message


def test_name_with_matching_vram_is_fine():
    assert lookup_gpu("A100-80GB", 80, "spec.yaml", "hardware.gpu").name == "A100-80GB"


def test_name_with_other_vram_is_an_error_naming_alternatives():
    problem = _problem("A100-80GB", 40)
    assert "A100-40GB" in problem.allowed and "80 GB in the catalog" in problem.message


# ------------------------------------------------------------------ custom GPUs


def test_cpu_entry():
    cpu = lookup_gpu("CPU", None, "spec.yaml", "hardware.gpu")
    assert cpu.is_cpu and not cpu.bf16 and not cpu.flash_attention and cpu.vram_gb == 64


def test_custom_gpu_from_vram_assumes_ampere_and_says_so():
    gpu = lookup_gpu(None, 48, "spec.yaml", "hardware.vram_gb")
    assert gpu.name == "custom-48GB" and gpu.vram_gb == 48.0
    assert gpu.bf16 and not gpu.fp8 and gpu.flash_attention
    assert gpu.usd_per_hour == 0 and gpu.tflops_bf16 == 100
    assert gpu.assumed == ("bf16", "flash_attention", "fp8", "tflops_bf16")
    assert lookup_gpu(None, 22.5, "s", "k").name == "custom-22.5GB"


def test_custom_gpu_capabilities_stated_in_the_spec():
    stated = {"bf16": False, "flash_attention": False, "tflops_bf16": 130}
    gpu = lookup_gpu(None, 32, "spec.yaml", "hardware.vram_gb", stated, usd_per_hour=0.5)
    assert (gpu.bf16, gpu.flash_attention, gpu.fp8, gpu.tflops_bf16) == (False, False, False, 130.0)
    assert gpu.assumed == ("fp8",) and gpu.usd_per_hour == 0.5


def test_spec_price_overrides_the_catalog():
    gpu = lookup_gpu("NVIDIA A40", None, "spec.yaml", "hardware.gpu", usd_per_hour=0.39)
    assert gpu.name == "A40" and gpu.usd_per_hour == 0.39 and "spec" in gpu.price_source


def test_spec_and_catalog_agree_on_the_custom_keys():
    assert set(spec_mod.CUSTOM_GPU_KEYS) == set(CUSTOM_KEYS)


@pytest.mark.parametrize("vram", [None, 0, -8])
def test_neither_name_nor_vram_is_an_error(vram):
    with pytest.raises(FtgenError) as err:
        lookup_gpu(None, vram, "spec.yaml", "hardware")
    assert err.value.problems[0].message == "no GPU given"

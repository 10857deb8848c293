"""Tests for generator.facts.detect (`ftgen gpus --detect`): nvidia-smi output in, the report out, as files.

data/nvidia_smi/<case>/: L.txt (what `nvidia-smi -L` prints; L.rc its exit status when not 0), memory.csv (what
`--query-gpu=index,memory.total --format=csv,noheader,nounits` prints), expected.txt (the report). The listings
follow nvidia-smi output pasted in public issues (UUIDs blanked); FTGEN_UPDATE_EXPECTED=1 rewrites expected.txt.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.facts import detect as detect_mod
from generator.facts.detect import Device, detect, parse_list, parse_memory, report

CASES = Path(__file__).parent / "data" / "nvidia_smi"
UPDATE = os.environ.get("FTGEN_UPDATE_EXPECTED") == "1"

FAKE_SMI = """#!/bin/sh
if [ "$1" = "-L" ]; then
  cat "$FAKE_SMI_DIR/L.txt"
  [ -f "$FAKE_SMI_DIR/L.rc" ] && exit "$(cat "$FAKE_SMI_DIR/L.rc")"
  exit 0
fi
[ -f "$FAKE_SMI_DIR/memory.csv" ] && cat "$FAKE_SMI_DIR/memory.csv"
exit 0
"""


def _fake_run(case: Path):
    def run(args, **kw):
        if args[1] == "-L":
            rc = int((case / "L.rc").read_text()) if (case / "L.rc").exists() else 0
            return subprocess.CompletedProcess(args, rc, (case / "L.txt").read_text(), "")
        memory = case / "memory.csv"
        return subprocess.CompletedProcess(args, 0, memory.read_text() if memory.exists() else "", "")

    return run


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_report_from_nvidia_smi_output(case):
    devices, why = detect(run=_fake_run(CASES / case), which=lambda _: "/usr/bin/nvidia-smi")
    got = report(devices, why) + "\n"
    expected = CASES / case / "expected.txt"
    if UPDATE:
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")


def test_no_nvidia_smi_says_so():
    devices, why = detect(which=lambda _: None)
    assert devices == [] and "not on PATH" in why
    assert report(devices, why).startswith("No NVIDIA GPU found on this machine: nvidia-smi is not on PATH")


def test_nvidia_smi_that_cannot_start_says_so():
    def broken(args, **kw):
        raise PermissionError(13, "Permission denied")

    devices, why = detect(run=broken, which=lambda _: "/usr/bin/nvidia-smi")
    assert devices == [] and why.startswith("nvidia-smi failed")


def test_nvidia_smi_that_hangs_times_out(monkeypatch):
    def slow(args, **kw):
        raise subprocess.TimeoutExpired(args, kw["timeout"])

    devices, why = detect(run=slow, which=lambda _: "/usr/bin/nvidia-smi")
    assert devices == [] and "timed out" in why


def test_parsers():
    listing = "GPU 0: NVIDIA L4 (UUID: GPU-1)\n  MIG 1g.6gb     Device  0: (UUID: MIG-2)\ngarbage\n"
    assert parse_list(listing) == [Device(0, "NVIDIA L4", None, ["1g.6gb"])]
    assert parse_memory("0, 23034\n1, [N/A]\n") == {0: 23034}


def test_cli_runs_the_real_command_on_path(tmp_path, monkeypatch):
    """`ftgen gpus --detect` finds nvidia-smi on PATH, runs it, prints the report, exits 0."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(FAKE_SMI)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SMI_DIR", str(CASES / "a100_mig"))
    result = CliRunner().invoke(main, ["gpus", "--detect"])
    assert result.exit_code == 0, result.output
    assert result.output == (CASES / "a100_mig" / "expected.txt").read_text(encoding="utf-8")


def test_cli_without_a_gpu_exits_zero(monkeypatch):
    monkeypatch.setattr(detect_mod.shutil, "which", lambda _: None)
    result = CliRunner().invoke(main, ["gpus", "--detect"])
    assert result.exit_code == 0 and "No NVIDIA GPU found" in result.output


def test_build_never_runs_nvidia_smi(tmp_path, monkeypatch):
    """A build is a function of the spec and the catalog: it must not look at the machine."""
    from generator.build import build_file

    def refuse(*a, **k):
        raise AssertionError("the build ran a program")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(detect_mod, "detect", refuse)
    spec = Path(__file__).parents[2] / "examples" / "legal-qa.yaml"
    build_file(spec, tmp_path)


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_printed_lines_make_a_valid_spec(case, tmp_path):
    """What the report says to put in the spec is a valid hardware section that resolves without assumptions."""
    import yaml

    from generator import spec as spec_mod
    from generator.facts.gpus import lookup_gpu

    text = (CASES / case / "expected.txt").read_text(encoding="utf-8")
    if "hardware:\n" not in text:
        return
    block = text.split("Put this in the spec:\n", 1)[1]
    block = "\n".join(line for line in block.splitlines() if line == "hardware:" or line.startswith("  "))
    hardware = yaml.safe_load(block)["hardware"]
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump(
            {"name": "x", "base_model": "Qwen/Qwen2.5-0.5B", "data": {"train": [{"path": "t/x", "format": "alpaca"}]}}
            | {"hardware": hardware}
        )
    )
    hw = spec_mod.load(tmp_path / "s.yaml").hardware
    gpu = lookup_gpu(hw.gpu, hw.vram_gb, "s.yaml", "hardware", hw.custom, hw.usd_per_hour)
    if "MIG" in text:  # a slice carries its card's capabilities: nothing assumed
        assert gpu.assumed == ()

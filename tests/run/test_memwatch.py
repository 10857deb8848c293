"""generator.run.memwatch: GPU memory through nvidia-smi, process-group RSS, and run.json's memory entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generator import run as runner
from generator.run.memwatch import MemoryWatch, compare_with_estimate, env_interval, group_rss_mib, query_gpus
from generator.run.summary import RunSummary


def _fake_smi(tmp_path: Path, rows: list[str] | None = None, grow: bool = False) -> Path:
    """An nvidia-smi that prints fixed CSV rows, or (grow) a used figure that rises by 1000 MiB per call."""
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir(exist_ok=True)
    if grow:
        counter = tmp_path / "calls"
        counter.write_text("0")
        smi.write_text(f"""#!/bin/sh
n=$(cat {counter}); n=$((n+1)); echo $n > {counter}
echo "0, $((2000 + n * 1000)), 81559"
echo "1, 500, 81559"
""")
    else:
        smi.write_text("#!/bin/sh\n" + "".join(f"echo '{r}'\n" for r in rows or []))
    smi.chmod(0o755)
    return smi


def test_query_gpus_parses_csv_and_skips_junk(tmp_path):
    smi = _fake_smi(tmp_path, ["0, 1024, 81559", "garbage", "1, 2048.5, 81559", "x, y, z"])
    assert query_gpus(str(smi)) == {0: (1024.0, 81559.0), 1: (2048.5, 81559.0)}


def test_query_gpus_none_when_the_tool_fails(tmp_path):
    bad = tmp_path / "nvidia-smi"
    bad.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    bad.chmod(0o755)
    assert query_gpus(str(bad)) is None
    assert query_gpus(str(tmp_path / "missing")) is None
    assert query_gpus(str(_fake_smi(tmp_path, []))) is None


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="Linux /proc")
def test_group_rss_sums_the_process_group():
    code = "import time; x = bytearray(64 * 2**20); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        rss = 0.0
        while time.monotonic() < deadline and rss < 64:
            rss = group_rss_mib(proc.pid) or 0.0
            time.sleep(0.1)
        assert rss >= 64, rss
    finally:
        proc.kill()
        proc.wait()
    assert group_rss_mib(proc.pid) == 0.0
    assert group_rss_mib(1, proc=Path("/nonexistent")) is None


def test_watch_records_gpu_peaks_above_the_baseline(tmp_path):
    smi = _fake_smi(tmp_path, grow=True)
    w = MemoryWatch(interval=0.02, nvidia_smi=str(smi))
    w.start(os.getpgid(0))
    time.sleep(0.3)
    out = w.stop()
    assert out["samples"] >= 3 and out["sampled_every_s"] == 0.02
    g0, g1 = out["gpus"]
    assert g0["index"] == 0 and g0["before_mib"] == 3000 and g0["peak_mib"] >= 3000 + 3000
    assert g1 == {"index": 1, "peak_mib": 500.0, "before_mib": 500.0, "total_mib": 81559.0}


def test_watch_without_a_working_nvidia_smi_samples_host_memory_only(tmp_path):
    bad = tmp_path / "nvidia-smi"
    bad.write_text("#!/bin/sh\nexit 9\n")
    bad.chmod(0o755)
    w = MemoryWatch(interval=0.02, nvidia_smi=str(bad))
    w.start(os.getpgid(0))
    time.sleep(0.1)
    out = w.stop()
    assert "gpus" not in out and out["host_rss_peak_mib"] > 0


def test_compare_with_estimate():
    observed = {"gpus": [{"index": 0, "peak_mib": 11240.0, "before_mib": 1000.0, "total_mib": 81559.0},
                         {"index": 1, "peak_mib": 9216.0, "before_mib": 0.0, "total_mib": 81559.0}]}
    out = compare_with_estimate(observed, 11.0)
    assert out["observed_gib_per_gpu"] == 10.0  # the larger GPU's growth
    assert out["estimate_gib_per_gpu"] == 11.0 and out["estimate_error_pct"] == 10.0
    cpu = compare_with_estimate({"host_rss_peak_mib": 900.0}, 0.5)
    assert "observed_gib_per_gpu" not in cpu and cpu["estimate_gib_per_gpu"] == 0.5


def test_env_interval(monkeypatch):
    monkeypatch.delenv("FTGEN_MEMWATCH_INTERVAL", raising=False)
    assert env_interval() == 2.0
    monkeypatch.setenv("FTGEN_MEMWATCH_INTERVAL", "0")
    assert env_interval() == 0.0
    monkeypatch.setenv("FTGEN_MEMWATCH_INTERVAL", "soon")
    assert env_interval() == 2.0


def test_run_json_carries_observed_memory_beside_the_estimate(built, fake_env, monkeypatch, tmp_path):
    smi = _fake_smi(tmp_path, grow=True)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FTGEN_MEMWATCH_INTERVAL", "0.05")
    rec = runner.start(built, on_line=lambda *a: None)
    data = json.loads((Path(rec.path) / "run.json").read_text())
    mem = data["memory"]
    plan = json.loads((built / "plan.json").read_text())
    assert mem["estimate_gib_per_gpu"] == plan["memory"]["total_gb"]
    assert mem["host_rss_peak_mib"] > 1  # the fake framework is a Python process
    assert mem["gpus"][0]["peak_mib"] > mem["gpus"][0]["before_mib"]
    assert mem["observed_gib_per_gpu"] > 0 and "estimate_error_pct" in mem
    line = dict(RunSummary.of(rec).rows())["memory"]
    assert line.startswith("GPU peak") and "plan:" in line


def test_sampling_can_be_turned_off(built, fake_env, monkeypatch):
    monkeypatch.setenv("FTGEN_MEMWATCH_INTERVAL", "0")
    rec = runner.start(built, on_line=lambda *a: None)
    assert rec.memory == {} and "memory" not in dict(RunSummary.of(rec).rows())

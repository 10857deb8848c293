"""run.json `memory`: the trainer's measured peak beside the plan's estimate (CPU RSS via os.wait4, GPU via the hook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator import run as runner
from generator.run import peak_memory
from generator.run.runner import stream
from generator.run.summary import RunSummary

PLAN = {"memory": {"total_gb": 10.0, "low_gb": 9.9, "high_gb": 11.1}}

#: a stand-in for torch that says CUDA was used, with fixed peaks (bytes)
FAKE_TORCH = """
class _Props:
    total_memory = 80 * 2**30
class cuda:
    @staticmethod
    def is_available(): return True
    @staticmethod
    def is_initialized(): return True
    @staticmethod
    def current_device(): return 0
    @staticmethod
    def get_device_name(d): return "Fake GPU"
    @staticmethod
    def get_device_properties(d): return _Props()
    @staticmethod
    def max_memory_allocated(d): return 6 * 2**30
    @staticmethod
    def max_memory_reserved(d): return 7 * 2**30
"""


def test_fake_run_records_the_trainers_peak_rss_and_the_ratio(built, fake_env, cli):
    rec = runner.start(built, on_line=lambda *a: None)
    assert rec.status == "succeeded"
    data = json.loads((Path(rec.path) / "run.json").read_text())
    mem = data["memory"]
    plan = json.loads((built / "plan.json").read_text())
    assert mem["source"] == "cpu_rss"
    assert mem["estimate_gb"] == plan["memory"]["total_gb"]
    assert mem["estimate_high_gb"] == plan["memory"]["high_gb"]
    assert 0.005 < mem["peak_rss_gb"] < 4  # a Python process that imported yaml
    assert mem["ratio"] == pytest.approx(mem["measured_gb"] / mem["estimate_gb"], abs=1e-3)
    shown = cli("show", rec.path)
    assert shown.exit_code == 0, shown.output
    assert "peak memory" in shown.output and "measured/estimate" in shown.output


def test_the_trainer_gets_the_hook_and_an_empty_folder(tmp_path):
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "rank-0-1.json").write_text("{}")  # a previous attempt's figure
    env = peak_memory.hook_env(tmp_path)
    assert Path(env["PYTHONPATH"]) == peak_memory.HOOK_DIR
    assert (peak_memory.HOOK_DIR / "sitecustomize.py").is_file()
    assert Path(env["FTGEN_MEMORY_DIR"]) == tmp_path / "memory" and not any((tmp_path / "memory").iterdir())


def _python_with_hook(tmp_path: Path, code: str, fake_torch: bool) -> subprocess.CompletedProcess:
    folder = tmp_path / "memory"
    folder.mkdir(exist_ok=True)
    paths = [str(peak_memory.HOOK_DIR)]
    if fake_torch:
        (tmp_path / "mods" / "torch").mkdir(parents=True)
        (tmp_path / "mods" / "torch" / "__init__.py").write_text(FAKE_TORCH)
        paths.append(str(tmp_path / "mods"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), FTGEN_MEMORY_DIR=str(folder), RANK="3")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_hook_writes_cuda_peaks_per_rank_at_exit(tmp_path):
    done = _python_with_hook(tmp_path, "import torch", fake_torch=True)
    assert done.returncode == 0, done.stderr
    files = list((tmp_path / "memory").glob("rank-3-*.json"))
    assert len(files) == 1
    mem = peak_memory.measured(tmp_path, PLAN, max_rss_bytes=5 * 2**30)
    assert mem["source"] == "cuda"  # the GPU figures win over the process's RSS
    assert mem["ranks"] == [{"rank": 3, "device": "Fake GPU", "max_allocated_gb": 6.0, "max_reserved_gb": 7.0}]
    from generator.memory import CUDA_CONTEXT_GIB

    assert mem["measured_gb"] == pytest.approx(7.0 + CUDA_CONTEXT_GIB, abs=1e-3)
    assert mem["ratio"] == pytest.approx((7.0 + CUDA_CONTEXT_GIB) / 10.0, abs=1e-3)
    assert "measured/estimate" in peak_memory.describe(mem)


def test_hook_is_silent_without_cuda_and_never_breaks_the_trainer(tmp_path):
    done = _python_with_hook(tmp_path, "print('trained')", fake_torch=False)
    assert done.returncode == 0 and done.stdout.strip() == "trained" and not done.stderr
    assert not list((tmp_path / "memory").iterdir())
    # a process that exits with an error keeps its own exit status
    done = _python_with_hook(tmp_path, "import sys; sys.exit(3)", fake_torch=False)
    assert done.returncode == 3


def test_torn_or_hostile_rank_files_are_no_figure(tmp_path):
    folder = tmp_path / "memory"
    folder.mkdir()
    (folder / "rank-0-1.json").write_text("{not json")
    (folder / "rank-1-2.json").write_text(json.dumps({"rank": "x", "max_allocated": 1, "max_reserved": 2}))
    (folder / "rank-2-3.json").write_text(json.dumps([1, 2]))
    mem = peak_memory.measured(tmp_path, PLAN, max_rss_bytes=2**30)
    assert mem["source"] == "cpu_rss" and mem["measured_gb"] == 1.0 and mem["ratio"] == 0.1
    assert peak_memory.measured(tmp_path, {}, None) is None


def test_stream_reads_the_childs_peak_rss_from_wait4(tmp_path):
    code = "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('ok')"
    out = stream([sys.executable, "-c", code], cwd=tmp_path, env=dict(os.environ), log_path=tmp_path / "log")
    assert out.exit_code == 0
    assert out.max_rss_bytes is not None and out.max_rss_bytes > 200 * 2**20


def test_summary_without_memory_has_no_line(built, fake_env):
    rec = runner.start(built, on_line=lambda *a: None)
    rec.memory = None
    assert all(k != "peak memory" for k, _ in RunSummary.of(rec).rows())
    rec.memory = {"measured_gb": "hostile"}
    assert all(k != "peak memory" for k, _ in RunSummary.of(rec).rows())


def test_hook_still_loads_the_sitecustomize_it_shadows(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['SHADOWED_RAN'] = '1'\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(peak_memory.HOOK_DIR), str(other)]))
    code = "import os; print(os.environ.get('SHADOWED_RAN'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr

"""Sample a running framework's memory: GPU memory in use (nvidia-smi) and the resident memory of its process group.

The peaks go into run.json next to the plan's estimate, so every run checks the memory estimate on the
hardware it ran on. Sampling is coarse (every `interval` seconds): a spike shorter than that can be missed,
so the observed peak is a lower bound of the true one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

GPU_QUERY = ["--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"]


def query_gpus(nvidia_smi: str, timeout: float = 10.0) -> dict[int, tuple[float, float]] | None:
    """{gpu index: (used MiB, total MiB)} from nvidia-smi, or None when it cannot be read."""
    try:
        out = subprocess.run([nvidia_smi, *GPU_QUERY], capture_output=True, text=True, timeout=timeout, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    gpus: dict[int, tuple[float, float]] = {}
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            continue
        try:
            gpus[int(parts[0])] = (float(parts[1]), float(parts[2]))
        except ValueError:
            continue
    return gpus or None


def group_rss_mib(pgid: int, proc: Path = Path("/proc")) -> float | None:
    """Resident memory (MiB) summed over the processes of one process group (Linux /proc), None elsewhere."""
    if not proc.is_dir():
        return None
    total_kib = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
                    break
        except (OSError, ValueError, IndexError):
            continue
    return total_kib / 1024


class MemoryWatch:
    """Samples GPU memory and the process group's RSS in a daemon thread until stopped."""

    def __init__(self, interval: float = 2.0, nvidia_smi: str | None = None):
        self.interval = interval
        self.nvidia_smi = nvidia_smi if nvidia_smi is not None else shutil.which("nvidia-smi")
        self.pgid: int | None = None
        self.samples = 0
        self.gpu_baseline: dict[int, float] = {}
        self.gpu_peak: dict[int, float] = {}
        self.gpu_total: dict[int, float] = {}
        self.rss_peak: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, pgid: int) -> None:
        """Start sampling the process group `pgid` (the framework's leader pid)."""
        self.pgid = pgid
        if self.nvidia_smi:
            first = query_gpus(self.nvidia_smi)
            if first is None:
                self.nvidia_smi = None  # present but not working (no driver): CPU only
            else:
                self.gpu_baseline = {i: used for i, (used, _) in first.items()}
                self.gpu_total = {i: total for i, (_, total) in first.items()}
        self._thread = threading.Thread(target=self._loop, name="ftgen-memwatch", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        if self.pgid is not None:
            rss = group_rss_mib(self.pgid)
            if rss:
                self.rss_peak = max(self.rss_peak or 0.0, rss)
        if self.nvidia_smi:
            gpus = query_gpus(self.nvidia_smi)
            for i, (used, total) in (gpus or {}).items():
                self.gpu_peak[i] = max(self.gpu_peak.get(i, 0.0), used)
                self.gpu_total[i] = total
        self.samples += 1

    def _loop(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def stop(self) -> dict:
        """Stop sampling; the observed peaks as a run.json entry."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 15)
        out: dict = {"sampled_every_s": self.interval, "samples": self.samples,
                     "host_rss_peak_mib": None if self.rss_peak is None else round(self.rss_peak, 1)}
        if self.gpu_peak:
            out["gpus"] = [
                {"index": i, "peak_mib": round(peak, 1), "before_mib": round(self.gpu_baseline.get(i, 0.0), 1),
                 "total_mib": round(self.gpu_total.get(i, 0.0), 1)}
                for i, peak in sorted(self.gpu_peak.items())
            ]
        return out


def compare_with_estimate(observed: dict, estimate_gib: float | None) -> dict:
    """Add the plan's per-GPU estimate and the observed per-GPU peak (minus what was in use before) in GiB."""
    out = dict(observed)
    out["estimate_gib_per_gpu"] = estimate_gib
    gpus = observed.get("gpus") or []
    if gpus:
        grown = [max(0.0, g["peak_mib"] - g["before_mib"]) / 1024 for g in gpus]
        out["observed_gib_per_gpu"] = round(max(grown), 2)
        if estimate_gib:
            out["estimate_error_pct"] = round((estimate_gib - out["observed_gib_per_gpu"])
                                              / max(out["observed_gib_per_gpu"], 1e-9) * 100, 1)
    return out


def env_interval(default: float = 2.0) -> float:
    """FTGEN_MEMWATCH_INTERVAL (seconds; 0 turns sampling off)."""
    try:
        return max(0.0, float(os.environ.get("FTGEN_MEMWATCH_INTERVAL", default)))
    except ValueError:
        return default

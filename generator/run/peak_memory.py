"""The measured peak memory of a run, beside the plan's estimate (run.json `memory`).

Two sources, neither of which runs anything during training:
  GPU  the trainer's own processes write torch.cuda.max_memory_allocated / max_memory_reserved per rank when they
       exit, through ftgen's hook (generator/_env_scripts/memhook/sitecustomize.py on the trainer's PYTHONPATH,
       FTGEN_MEMORY_DIR naming the folder); ftgen reads the files after the trainer has exited.
  CPU  the peak resident set size of the trainer, from the kernel's accounting of the child ftgen waited for
       (os.wait4 in runner.stream: the largest ru_maxrss of the trainer and the processes it waited for).
The ratio is measured / estimate: on GPU the reserved peak of the busiest rank + the CUDA context the estimate counts
against the estimate's total; on CPU the whole process's RSS (Python, libraries, the model, training) against the
GPU estimate, which is indicative only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import _io

HOOK_DIR = Path(__file__).resolve().parent.parent / "_env_scripts" / "memhook"
FOLDER = "memory"  # inside the run folder
GIB = 2**30


def hook_env(run_dir: Path) -> dict[str, str]:
    """Environment for the trainer: the hook on PYTHONPATH and an empty folder for this attempt's figures."""
    folder = run_dir / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return {"PYTHONPATH": str(HOOK_DIR), "FTGEN_MEMORY_DIR": str(folder)}


def _ranks(run_dir: Path) -> list[dict]:
    ranks = []
    folder = run_dir / FOLDER
    if not folder.is_dir():
        return ranks
    for path in sorted(folder.glob("rank-*.json")):
        try:
            data = _io.read_json(path, str(path), 1 << 16)
        except Exception:  # a torn or hostile file is no figure, never a crash
            continue
        if not isinstance(data, dict):
            continue
        try:
            ranks.append(
                {
                    "rank": int(data["rank"]),
                    "device": str(data.get("device", ""))[:80],
                    "max_allocated_gb": round(int(data["max_allocated"]) / GIB, 3),
                    "max_reserved_gb": round(int(data["max_reserved"]) / GIB, 3),
                }
            )
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(ranks, key=lambda r: r["rank"])


def measured(run_dir: Path, plan: dict, max_rss_bytes: int | None) -> dict | None:
    """run.json's `memory`: the plan's estimate, what was measured, and measured / estimate; None when neither."""
    est = plan.get("memory") if isinstance(plan.get("memory"), dict) else {}
    total = est.get("total_gb")
    out: dict = {
        "estimate_gb": total,
        "estimate_low_gb": est.get("low_gb"),
        "estimate_high_gb": est.get("high_gb"),
    }
    ranks = _ranks(run_dir)
    if ranks:
        from ..memory import CUDA_CONTEXT_GIB

        busiest = max(ranks, key=lambda r: r["max_reserved_gb"])
        out.update(
            {
                "source": "cuda",
                "ranks": ranks,
                "peak_allocated_gb": max(r["max_allocated_gb"] for r in ranks),
                "peak_reserved_gb": busiest["max_reserved_gb"],
                # the estimate's total holds the CUDA context, which the allocator's statistics do not
                "measured_gb": round(busiest["max_reserved_gb"] + CUDA_CONTEXT_GIB, 3),
            }
        )
    elif max_rss_bytes:
        out.update({"source": "cpu_rss", "peak_rss_gb": round(max_rss_bytes / GIB, 3)})
        out["measured_gb"] = out["peak_rss_gb"]
    else:
        return None if total is None else {**out, "source": None, "measured_gb": None, "ratio": None}
    out["ratio"] = round(out["measured_gb"] / total, 3) if total else None
    return out


def describe(memory: dict | None) -> str:
    """One line for `ftgen show`: measured, estimate and their ratio."""
    if not isinstance(memory, dict) or memory.get("measured_gb") is None:
        return ""
    est = memory.get("estimate_gb")
    ratio = memory.get("ratio")
    if memory.get("source") == "cuda":
        what = (
            f"peak reserved {memory['peak_reserved_gb']:.2f} GiB (allocated {memory['peak_allocated_gb']:.2f}, "
            f"{len(memory.get('ranks') or [])} rank(s)) + CUDA context"
        )
    else:
        what = f"peak RSS {memory['measured_gb']:.2f} GiB (CPU run: whole process, not comparable to a GPU plan)"
    if est is None or ratio is None:
        return what
    return f"{what} vs estimate {est:.2f} GiB: measured/estimate {ratio:.2f}"

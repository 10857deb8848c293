"""Time a cold `ftgen build` of an example spec (a fresh interpreter each time), and the in-process build.

python benchmarks/build.py [--spec examples/support-bot.yaml] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default=str(ROOT / "examples" / "support-bot.yaml"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    cold = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "generator.cli", "build", args.spec, "--out", tmp],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            cold.append(time.perf_counter() - t)
        sys.path.insert(0, str(ROOT))
        from generator.build import build_file

        build_file(args.spec, tmp)  # warm caches (schemas, catalogs, templates)
        warm = []
        for _ in range(args.runs * 3):
            t = time.perf_counter()
            build_file(args.spec, tmp)
            warm.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        python_start = time.perf_counter() - t
    print(f"spec: {Path(args.spec).name}")
    print(
        f"cold `ftgen build` (new process, writes files): median {statistics.median(cold) * 1000:.0f} ms, "
        f"min {min(cold) * 1000:.0f} ms over {len(cold)} runs"
    )
    print(f"  of which a bare Python start: {python_start * 1000:.0f} ms")
    print(f"warm in-process build (no writes): median {statistics.median(warm) * 1000:.1f} ms over {len(warm)} runs")


if __name__ == "__main__":
    main()

"""`ftgen run` wall time against invoking the framework CLI directly on the same config, side by side.

    python benchmarks/run_overhead.py [--spec examples/tiny-cpu.yaml] [--framework llamafactory] [--runs 3]

Both sides train the same resolved config (same output layout) in the same env; the runs alternate so
machine load hits both alike. ftgen's side includes its whole `ftgen run` process (schema check, the
cached native-validation verdict, run record, log tee, metrics, loss curve), with --no-eval so that only
training is compared. One unmeasured ftgen run first fills the native-validation cache.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default=str(ROOT / "examples" / "tiny-cpu.yaml"))
    ap.add_argument("--framework", default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    from generator import envs
    from generator.build import build_file
    from generator.launch import launch_command
    from generator.run import prepare, run_config
    from generator.write import write_all

    tmp = Path(tempfile.mkdtemp(prefix="ftgen-bench-"))
    b = build_file(args.spec, tmp / "outputs")
    write_all(b.out_dir, b.files)
    prep = prepare(b.out_dir, args.framework)
    env = envs.get_env(prep.framework)
    if env is None:
        raise SystemExit(f"no {prep.framework} env: ftgen env install {prep.framework}")
    cli = [sys.executable, "-m", "generator.cli", "run", str(b.out_dir), "--quiet", "--framework", prep.framework]
    extra = (
        ["--no-eval"]
        if "--no-eval" in subprocess.run(cli[:4] + ["--help"], capture_output=True, text=True, cwd=ROOT).stdout
        else []
    )
    subprocess.run(cli + extra, cwd=ROOT, check=True, capture_output=True)  # warm-up: fills the validation cache

    direct_times, ftgen_times = [], []
    for i in range(args.runs):
        run_dir = tmp / f"direct-{i}"
        run_dir.mkdir()
        cfg_path = run_dir / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(run_config(prep, run_dir), sort_keys=False))
        argv, extra_env = launch_command(prep.framework, cfg_path, env, launcher="local", nproc=1)
        t = time.perf_counter()
        with open(run_dir / "train.log", "wb") as log:
            subprocess.run(
                argv, cwd=run_dir, env=env.subprocess_env(extra_env), stdout=log, stderr=subprocess.STDOUT, check=True
            )
        direct_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(cli + extra, cwd=ROOT, check=True, capture_output=True)
        ftgen_times.append(time.perf_counter() - t)
        print(f"run {i + 1}: direct {direct_times[-1]:.1f} s, ftgen run {ftgen_times[-1]:.1f} s", flush=True)
    d, f = statistics.median(direct_times), statistics.median(ftgen_times)
    print(f"\n{prep.framework}, {Path(args.spec).name}, {args.runs} runs each (alternating)")
    print(
        f"direct CLI median {d:.2f} s; ftgen run median {f:.2f} s; overhead {100 * (f / d - 1):+.1f}% "
        f"(ratio {f / d:.3f})"
    )


if __name__ == "__main__":
    main()

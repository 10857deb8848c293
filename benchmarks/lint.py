"""Benchmark `ftgen lint` against each framework's own validator on the shared corpus: wall time and verdicts.

    python benchmarks/lint.py                       # envs from `ftgen env` (generator.envs.get_env)
    python benchmarks/lint.py --axolotl-python /path/ax/bin/python --llamafactory-python /path/lf/bin/python
    python benchmarks/lint.py --write-verdicts tests/lint/data/native_verdicts.json   # refresh the test data

Both sides judge the configs for an Ampere+ GPU (native: target "gpu"), since the corpus configs are GPU configs.
Lint is timed in-process after its imports (best of --repeat cold runs: memoised validation results are
cleared before each); the native validators are timed end to end (one process each, as `ftgen` runs them). Wall time and CPU time (lint's process time against the native
validator's child-process CPU) are both reported: on a busy machine the CPU ratio is the steadier figure.
The verdict compared is "the framework's own validation refuses the config": lint predicts it from its findings
(errors whose `when` is "validate"). A native rejection that comes from the machine (a package that is not
installed, no GPU, no launcher) is no verdict on the config and is left out. Targets: lint at least 100x faster,
the same verdict on every config the native validator gives one for.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from generator import envs, frameworks  # noqa: E402
from generator.lint import clear_caches, collect_paths, lint_paths  # noqa: E402
from generator.validate import classify, native_validate_many  # noqa: E402

DEFAULT_CORPUS = ROOT / "tests" / "data" / "corpus"
TARGET_RATIO = 100.0


def native_verdict(problems: list, framework: str) -> tuple[str, list[str]]:
    """valid | invalid | env, and the messages. A native rejection that depends on the machine or the installed
    packages, not on the config (each framework module lists them: generator.validate.classify), is "env"."""
    messages = [f"{p.key}: {p.message}" if p.key else p.message for p in problems]
    if not problems:
        return "valid", []
    errors, _machine = classify(framework, problems)
    return ("invalid" if errors else "env"), messages


def _env_for(framework: str, python: str | None, root: Path | None):
    if python:
        return envs.use_external(framework, python, root=root)
    return envs.get_env(framework, root)


def run(corpus: Path, pythons: dict[str, str | None], env_root: Path | None, repeat: int = 3) -> dict:
    report: dict = {"corpus": str(corpus), "frameworks": {}}
    tmp_root = None
    if any(pythons.values()) and env_root is None:
        tmp_root = tempfile.TemporaryDirectory(prefix="ftgen-bench-envs-")
        env_root = Path(tmp_root.name)
    for fw in frameworks.names():
        files = collect_paths([corpus / fw])
        if not files:
            continue
        lint_paths(files[:2])  # imports, schema compilation and caches: not part of the per-run cost
        times, cpus = [], []
        for _ in range(repeat):
            clear_caches()  # every timed run is cold: nothing memoised from an earlier run
            t0, c0 = time.perf_counter(), time.process_time()
            results = lint_paths(files)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        lint_s, lint_cpu = min(times), min(cpus)
        entry: dict = {
            "files": len(files),
            "lint_seconds": round(lint_s, 3),
            "lint_cpu_seconds": round(lint_cpu, 3),
            "lint_ms_per_config": round(1000 * lint_s / len(files), 2),
            "lint_errors": sum(r.count("error") for r in results),
            "lint_warnings": sum(r.count("warning") for r in results),
            "lint_files_with_errors": sum(1 for r in results if r.count("error")),
        }
        env = _env_for(fw, pythons.get(fw), env_root)
        if env is None:
            entry["native"] = f"no {fw} env (ftgen env install {fw}, or --{fw}-python)"
            report["frameworks"][fw] = entry
            continue
        t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        native = native_validate_many(fw, files, env, target="gpu", timeout=1800)
        native_s = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        native_cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
        verdicts, rows = {}, []
        agree = judged = 0
        for r, path in zip(results, files):
            verdict, messages = native_verdict(native.get(str(Path(path).absolute()), []), fw)
            predicted = "invalid" if r.refused_by_framework else "valid"
            name = Path(path).name
            verdicts[name] = {
                "native": verdict,
                "messages": messages,
                "lint": predicted,
                "lint_errors": [f"{f.rule} {f.key} ({f.when})" for f in r.findings if f.severity == "error"],
            }
            if verdict == "env":
                continue
            judged += 1
            if verdict == predicted:
                agree += 1
            else:
                rows.append(
                    {
                        "file": name,
                        "native": verdict,
                        "lint": predicted,
                        "native_messages": messages,
                        "lint_errors": verdicts[name]["lint_errors"],
                    }
                )
        entry.update(
            {
                "native_seconds": round(native_s, 2),
                "native_ms_per_config": round(1000 * native_s / len(files), 1),
                "speedup": round(native_s / lint_s, 1),
                "native_cpu_seconds": round(native_cpu, 2),
                "cpu_speedup": round(native_cpu / lint_cpu, 1) if lint_cpu else None,
                "native_valid": sum(1 for v in verdicts.values() if v["native"] == "valid"),
                "native_invalid": sum(1 for v in verdicts.values() if v["native"] == "invalid"),
                "native_env_only": sum(1 for v in verdicts.values() if v["native"] == "env"),
                "verdicts_compared": judged,
                "verdicts_agree": agree,
                "agreement": round(agree / judged, 4) if judged else None,
                "disagreements": rows,
                "lint_stricter_silent": sum(
                    1 for r in results if any(f.severity == "error" and f.when == "silent" for f in r.findings)
                ),
                "lint_stricter_train": sum(
                    1 for r in results if any(f.severity == "error" and f.when == "train" for f in r.findings)
                ),
            }
        )
        entry["verdicts"] = verdicts
        report["frameworks"][fw] = entry
    if tmp_root is not None:
        tmp_root.cleanup()
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--env-root", type=Path, default=None, help="ftgen env root (default: $FTGEN_HOME/envs)")
    for fw in frameworks.all_frameworks():
        ap.add_argument(
            f"--{fw.name}-python",
            default=None,
            help=f"an interpreter with {fw.env.dist}=={fw.version} (registered as an external env in a temp root)",
        )
    ap.add_argument("--repeat", type=int, default=3, help="lint runs to take the best of")
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    ap.add_argument(
        "--write-verdicts",
        type=Path,
        default=None,
        help="write per-file native verdicts (the lint tests' reference data)",
    )
    args = ap.parse_args()
    report = run(
        args.corpus,
        {fw.name: getattr(args, f"{fw.name}_python") for fw in frameworks.all_frameworks()},
        args.env_root,
        args.repeat,
    )
    ok = True
    print(
        f"{'framework':<13} {'files':>5} {'lint s':>7} {'native s':>9} {'speedup':>8} {'cpu x':>7} {'agree':>10}  "
        "errors/warnings"
    )
    for fw, e in report["frameworks"].items():
        if isinstance(e.get("native"), str):
            print(
                f"{fw:<13} {e['files']:>5} {e['lint_seconds']:>7} {'-':>9} {'-':>8} {'-':>7} {'-':>10}  {e['native']}"
            )
            ok = False
            continue
        agree = f"{e['verdicts_agree']}/{e['verdicts_compared']}"
        print(
            f"{fw:<13} {e['files']:>5} {e['lint_seconds']:>7} {e['native_seconds']:>9} {e['speedup']:>7}x "
            f"{e['cpu_speedup']:>6}x {agree:>10}  {e['lint_errors']}/{e['lint_warnings']}"
        )
        for row in e["disagreements"]:
            print(
                f"  disagree {row['file']}: native {row['native']} {row['native_messages'][:1]}; "
                f"lint {row['lint']} {row['lint_errors'][:3]}"
            )
        ok = ok and e["speedup"] >= TARGET_RATIO and e["verdicts_agree"] == e["verdicts_compared"]
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.write_verdicts:
        data = {
            fw: {name: {"native": v["native"], "messages": v["messages"]} for name, v in sorted(e["verdicts"].items())}
            for fw, e in report["frameworks"].items()
            if "verdicts" in e
        }
        args.write_verdicts.parent.mkdir(parents=True, exist_ok=True)
        args.write_verdicts.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print("targets met" if ok else f"targets: >= {TARGET_RATIO:.0f}x faster and every verdict the same")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Build a matrix of specs over every (framework, task, method, hardware) and judge what ftgen writes for each.

    python benchmarks/spec_matrix.py [--out benchmarks/results/spec_matrix.json] [--no-native] [--only axolotl]

Every cell is a spec as a user would write it (a catalog model, a hub dataset in the task's format, a GPU typed
the way people type it); the models rotate over the cells so that several families are seen. Each is built in
memory through the whole rules engine, then judged three ways:

1. ftgen itself: a build that stops with an FtgenError is a *refusal by ftgen* (e.g. LLaMA-Factory has no GRPO
   stage), counted with its reason: fine when the reason is stated, never a traceback (a crash exits 1);
2. the framework's own validator (Axolotl's config loader, LLaMA-Factory's argument parser, in their envs), all
   configs of a framework in one process per target hardware (generator.validate.validate_builds): *refused* is a
   config ftgen wrote that the framework will not train;
3. read back: the written config, read through the framework's key table (the reading `ftgen convert` uses),
   must say the plan's task, method, precision, batch and LoRA settings: a config that trains something else than
   the plan says is *wrong*.

Prints a table per (framework, task) and every refusal or mismatch; exits 1 when a config is refused by its
framework, reads back wrong, or a build crashed.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator import frameworks  # noqa: E402
from generator.build import build_file, write_build  # noqa: E402
from generator.errors import FtgenError  # noqa: E402
from generator.frameworks._table import Where  # noqa: E402

FRAMEWORKS = ("axolotl", "llamafactory")
TASKS = {  # task -> (data format, extra spec keys)
    "sft": ("alpaca", {}),
    "sft-multi-turn": ("sharegpt", {"multi_turn": True}),
    "sft-messages": ("messages", {}),
    "pretrain": ("text", {}),
    "dpo": ("preference", {}),
    "kto": ("kto", {}),
    "orpo": ("preference", {}),
    "grpo": ("alpaca", {}),
}
METHODS = ("qlora", "lora", "full")
HARDWARE = {  # as people type them: nvidia-smi names, short names, several nodes
    "4090": {"gpu": "NVIDIA GeForce RTX 4090"},
    "T4": {"gpu": "Tesla T4"},
    "A100-80x1": {"gpu": "A100-80GB"},
    "H100x8": {"gpu": "NVIDIA H100 80GB HBM3", "gpus_per_node": 8},
    "A100-40x4x2": {"gpu": "A100-SXM4-40GB", "gpus_per_node": 4, "nodes": 2},
}
MODELS = (
    "Qwen/Qwen2.5-1.5B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "Qwen/Qwen3-4B",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "google/gemma-2-2b-it",
    "meta-llama/Llama-3.1-8B-Instruct",
)
# what the read-back must agree with the plan on (plan decision key -> field of the framework's reading)
CHECKED = (
    "task",
    "method",
    "precision",
    "sequence_len",
    "micro_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "num_epochs",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "gradient_checkpointing",
    "pref_beta",
    "seed",
)
REWARDS = '''"""Reward functions for the matrix's GRPO cells."""


def correct(completions, **kwargs):
    return [0.0 for _ in completions]
'''


def cells(only: str | None):
    for i, (fw, task, method, hw) in enumerate(itertools.product(FRAMEWORKS, TASKS, METHODS, HARDWARE)):
        if only and fw != only:
            continue
        yield i, fw, task, method, hw


def spec_for(i: int, fw: str, task: str, method: str, hw: str) -> dict:
    fmt, extra = TASKS[task]
    base_task = task.split("-")[0]
    spec = {
        "name": f"m{i:03d}-{fw[:3]}-{task}-{method}-{hw}".lower(),
        "base_model": MODELS[i % len(MODELS)],
        "task": base_task,
        "method": method,
        "data": {"train": [{"path": "org/ds", "format": fmt}], "examples": 5000, **extra},
        "hardware": HARDWARE[hw],
        "framework": fw,
    }
    if base_task == "grpo":
        spec["rl"] = {"reward_funcs": ["rewards.correct"], "num_generations": 4}
    return spec


def read_back(fw: str, config_path: Path, plan: dict) -> list[str]:
    """The plan's settings the written config does not say (empty: it trains what the plan says)."""
    import yaml

    cfg = yaml.safe_load(config_path.read_text())
    framework = frameworks.get(fw)
    read = framework.read(cfg, Where(base=config_path.parent)).fields
    fields = {**framework.defaults(read), **read}  # a key left out means the framework's default
    decided = {d["key"]: d["value"] for d in plan["decisions"]}
    decided["task"], decided["method"] = plan["task"], plan["method"]
    wrong = []
    for key in CHECKED:
        if key not in decided or (key.startswith("lora_") and plan["method"] == "full"):
            continue
        want, got = decided[key], fields.get(key)
        if key == "pref_beta" and plan["task"] not in ("dpo", "kto", "orpo"):
            continue
        if isinstance(want, list) and isinstance(got, list):
            want, got = sorted(map(str, want)), sorted(map(str, got))
        elif isinstance(want, (int, float)) and isinstance(got, (int, float)):
            if abs(float(want) - float(got)) <= 1e-12 * max(1.0, abs(float(want))):
                continue
        if want != got:
            wrong.append(f"{key}: plan {want!r}, config {got!r}")
    quant = fields.get("quant_bits")
    if (plan["method"] == "qlora") != (quant == 4):
        wrong.append(f"quantisation: plan {plan['method']}, config quant_bits {quant!r}")
    return wrong


def judge(only: str | None = None, native: bool = True) -> tuple[list[dict], float, float]:
    """Build every cell (in a temporary folder) and judge it; returns (rows, build seconds, total seconds)."""
    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ftgen-matrix-") as tmp:
        tmp = Path(tmp)
        (tmp / "specs").mkdir()
        (tmp / "specs" / "rewards.py").write_text(REWARDS)
        builds = []
        for i, fw, task, method, hw in cells(only):
            spec = spec_for(i, fw, task, method, hw)
            path = tmp / "specs" / f"{spec['name']}.yaml"
            path.write_text(json.dumps(spec))
            row = {"cell": spec["name"], "framework": fw, "task": task, "method": method, "hardware": hw}
            row["model"] = spec["base_model"]
            rows.append(row)
            try:
                b = build_file(path, tmp / "out")
                write_build(b)
            except FtgenError as e:
                row["outcome"] = "refused by ftgen"
                row["why"] = "; ".join(f"{p.key}: {p.message}" for p in e.problems)[:300]
                continue
            except Exception:  # a crash: the bug this benchmark is for
                row["outcome"] = "crash"
                row["why"] = traceback.format_exc(limit=3)[-600:]
                continue
            build_dir = tmp / "out" / spec["name"]
            plan = json.loads((build_dir / "plan.json").read_text())
            row.update(plan_method=plan["method"], plan_task=plan["task"])
            wrong = read_back(fw, build_dir / frameworks.get(fw).config_name, plan)
            row["outcome"] = "wrong" if wrong else "built"
            if wrong:
                row["why"] = "; ".join(wrong)
            builds.append((row, build_dir))
        built_s = time.monotonic() - started
        if native and builds:
            from generator.validate import validate_builds

            for (row, _), verdict in zip(builds, validate_builds([b for _, b in builds])):
                c = verdict.configs[0]
                row["native"] = c.status
                if c.status == "refused":
                    row["outcome"] = "refused by framework"
                    row["why"] = "; ".join(f"{p.key}: {p.message}" for p in c.errors)[:400]
                elif c.status == "not checked here":
                    row["not_checked"] = c.not_checked[:200]
        shutil.rmtree(tmp / "out", ignore_errors=True)
    return rows, built_s, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "spec_matrix.json")
    ap.add_argument("--no-native", action="store_true", help="skip the frameworks' own validators")
    ap.add_argument("--only", choices=FRAMEWORKS, help="one framework's cells")
    args = ap.parse_args()
    rows, built_s, total_s = judge(args.only, native=not args.no_native)

    by = collections.defaultdict(collections.Counter)
    for r in rows:
        by[(r["framework"], r["task"])][r["outcome"]] += 1
    outcomes = ("built", "refused by ftgen", "refused by framework", "wrong", "crash")
    print(f"{'framework':13} {'task':15} " + " ".join(f"{o:>20}" for o in outcomes))
    for (fw, task), c in sorted(by.items()):
        print(f"{fw:13} {task:15} " + " ".join(f"{c[o]:>20}" for o in outcomes))
    total = collections.Counter(r["outcome"] for r in rows)
    print(f"{'all':29} " + " ".join(f"{total[o]:>20}" for o in outcomes))
    natively = sum(1 for r in rows if r.get("native") in ("accepted", "refused"))
    print(
        f"\n{len(rows)} cells; built in {built_s:.0f} s, {total_s:.0f} s with the validators "
        f"({natively} configs judged by their framework, "
        f"{sum(1 for r in rows if 'not_checked' in r)} not checkable on this machine)"
    )
    reasons = collections.Counter(
        (r["framework"], r["why"].split(";")[0][:160]) for r in rows if r["outcome"] == "refused by ftgen"
    )
    if reasons:
        print("\nrefused by ftgen (with the reason it gives):")
        for (fw, why), n in reasons.most_common():
            print(f"  {n:3} x {fw}: {why}")
    for r in rows:
        if r["outcome"] in ("refused by framework", "wrong", "crash"):
            print(f"\n{r['outcome'].upper()}: {r['cell']} ({r['model']})\n  {r['why']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cells": rows, "totals": dict(total), "seconds": round(total_s, 1)}, indent=1))
    print(f"\nJSON: {args.out}")
    return 1 if total["refused by framework"] or total["wrong"] or total["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())

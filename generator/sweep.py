"""Hyperparameter sweeps: a spec's `sweep:` block -> trials (each a complete build) and sweep.json."""

from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import FtgenError, Problem
from .spec import Spec, SweepSpec

TRIALS_DIR = "trials"
SWEEP_FILE = "sweep.json"
SWEEP_VERSION = 1

# short names of the usual knobs in trial ids (any other key is used as it is, underscores dropped)
_SHORT = {
    "learning_rate": "lr",
    "lora_r": "r",
    "lora_alpha": "alpha",
    "lora_dropout": "drop",
    "num_epochs": "ep",
    "micro_batch_size": "mbs",
    "gradient_accumulation_steps": "ga",
    "global_batch_size": "gbs",
    "warmup_ratio": "wu",
    "weight_decay": "wd",
    "max_steps": "steps",
    "lr_scheduler": "sched",
    "lora_target_modules": "mods",
}


@dataclass(frozen=True)
class Trial:
    """One combination of a sweep: its id (a folder name), the overrides it sets (key without `overrides.`)."""

    id: str
    index: int
    overrides: dict[str, Any]

    @property
    def parameters(self) -> dict[str, Any]:
        return {f"overrides.{k}": v for k, v in self.overrides.items()}


@dataclass
class Outcome:
    """A sweep compiled: the trials kept (with their builds) and those dropped with the reason."""

    kept: list[tuple[Trial, Any]] = field(default_factory=list)  # (trial, Build)
    dropped: list[tuple[Trial, str]] = field(default_factory=list)


def _value_text(value: Any) -> str:
    """A value as a short, lowercase, filesystem-safe word: 1e-4, 2p5e-4, 16, on, all-linear."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e5):
            mantissa, exp = f"{value:.6e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            text = f"{mantissa}e{int(exp)}"
        else:
            text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)):
        text = "+".join(_value_text(v) for v in value)
    else:
        text = str(value)
    text = text.replace(".", "p").replace("+", "-").lower()
    return re.sub(r"[^a-z0-9-]+", "-", text).strip("-")[:24] or "x"


def trial_id(index: int, overrides: dict[str, Any]) -> str:
    """t00-lr1e-4-r8: the trial's position, then each parameter's short name and value (deterministic)."""
    words = [f"{_SHORT.get(k, k.replace('_', ''))}{_value_text(v)}" for k, v in overrides.items()]
    return "-".join([f"t{index:02d}", *words])


def trials(sweep: SweepSpec, seed: int) -> list[Trial]:
    """The sweep's trials in order: every grid combination, or max_trials of them drawn with the spec's seed."""
    keys = [k[len("overrides.") :] for k, _ in sweep.parameters]
    combos = list(itertools.product(*(values for _, values in sweep.parameters)))
    if sweep.method == "random" and len(combos) > sweep.max_trials:
        picked = sorted(random.Random(seed).sample(range(len(combos)), sweep.max_trials))
        combos = [combos[i] for i in picked]
    out = []
    for i, combo in enumerate(combos):
        overrides = dict(zip(keys, combo))
        out.append(Trial(trial_id(i, overrides), i, overrides))
    return out


def trial_spec(spec: Spec, trial: Trial) -> Spec:
    """The spec a trial builds: the sweep's overrides applied over the spec's own, no sweep, named after it."""
    tracking = spec.tracking
    if tracking is not None and tracking.project is None:  # every trial in the sweep's experiment / project
        tracking = replace(tracking, project=spec.name)
    return replace(
        spec,
        name=f"{spec.name}-{trial.id}",
        overrides={**spec.overrides, **trial.overrides},
        sweep=None,
        tracking=tracking,
    )


def _reason(exc: FtgenError) -> str:
    return "; ".join(
        f"{p.key}: {p.message}" + (f" (allowed: {p.allowed})" if p.allowed else "")
        for p in exc.problems
        if p.severity == "error"
    )[:1000]


def compile_trials(spec: Spec, out_dir: Path, framework: str | None, *, frozen: bool, refresh: bool) -> Outcome:
    """Compile every trial of spec's sweep into its own build under out_dir/trials/<id>; a trial the rules refuse
    (does not fit memory, ...) is dropped with the reason, and so is one that would take the sum of the trials'
    time or cost past the spec's budget."""
    from .build import compile_spec

    assert spec.sweep is not None
    outcome = Outcome()
    hours = usd = 0.0
    for t in trials(spec.sweep, spec.seed):
        try:
            b = compile_spec(
                trial_spec(spec, t),
                framework=framework,
                frozen=frozen,
                refresh=refresh,
                out_dir=Path(out_dir) / TRIALS_DIR / t.id,
            )
        except FtgenError as exc:
            outcome.dropped.append((t, _reason(exc)))
            continue
        cost = b.plan.time_cost
        t_hours = (cost.hours or 0.0) if cost else 0.0
        t_usd = (cost.usd or 0.0) if cost else 0.0
        over = []
        if spec.budget.max_hours is not None and hours + t_hours > spec.budget.max_hours:
            over.append(
                f"~{hours + t_hours:.2f} h with the trials before it, over budget.max_hours {spec.budget.max_hours:g}"
            )
        if spec.budget.max_usd is not None and usd + t_usd > spec.budget.max_usd:
            over.append(f"~${usd + t_usd:.2f} with the trials before it, over budget.max_usd {spec.budget.max_usd:g}")
        if over:
            outcome.dropped.append((t, "budget: the sweep would take " + "; ".join(over)))
            continue
        hours += t_hours
        usd += t_usd
        outcome.kept.append((t, b))
    if not outcome.kept:
        raise FtgenError(
            [
                Problem(
                    spec.file,
                    "sweep",
                    "no trial of the sweep can run: " + " | ".join(f"{t.id}: {why}" for t, why in outcome.dropped),
                    allowed="values that fit the hardware and the budget",
                    line=spec.line_of("sweep"),
                )
            ]
        )
    return outcome


def _estimate(b) -> dict:
    cost = b.plan.time_cost
    memory = b.plan.memory
    return {
        "method": str(b.plan.method),
        "memory_gb": memory.total_gb if memory else None,
        "hours": cost.hours if cost else None,
        "usd": cost.usd if cost else None,
    }


def totals(kept: list[tuple[Trial, Any]]) -> dict:
    hours = [e["hours"] for e in (_estimate(b) for _, b in kept)]
    usd = [e["usd"] for e in (_estimate(b) for _, b in kept)]
    return {
        "trials": len(kept),
        "hours": round(sum(h for h in hours if h is not None), 2),
        "usd": round(sum(u for u in usd if u is not None), 2) if any(u is not None for u in usd) else None,
    }


def sweep_json(spec: Spec, outcome: Outcome) -> str:
    """sweep.json: how the trials were chosen, each trial's parameters, folder and estimates, the dropped ones."""
    from . import __version__

    sw = spec.sweep
    assert sw is not None
    data = {
        "sweep_version": SWEEP_VERSION,
        "ftgen_version": __version__,
        "name": spec.name,
        "spec": Path(spec.file).name,
        "spec_sha256": spec.sha256,
        "method": sw.method,
        "seed": spec.seed,
        "max_trials": sw.max_trials,
        "grid_size": sw.grid_size,
        "metric": sw.metric,
        "goal": "max" if sw.maximise else "min",
        "parameters": {k: list(v) for k, v in sw.parameters},
        "trials": [
            {"id": t.id, "dir": f"{TRIALS_DIR}/{t.id}", "parameters": t.parameters, **_estimate(b)}
            for t, b in outcome.kept
        ],
        "dropped": [{"id": t.id, "parameters": t.parameters, "reason": why} for t, why in outcome.dropped],
        "total": totals(outcome.kept),
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def files(spec: Spec, outcome: Outcome) -> dict[str, str]:
    """The files the sweep adds to the build: every trial's files under trials/<id>/, and sweep.json."""
    written = {
        f"{TRIALS_DIR}/{t.id}/{name}": _trial_folder(text, spec.name, t.id)
        for t, b in outcome.kept
        for name, text in b.files.items()
    }
    written[SWEEP_FILE] = sweep_json(spec, outcome)
    return written


def _trial_folder(text: str, name: str, trial: str) -> str:
    """The launch files name the build folder after the spec (`cd outputs/<spec name>`, the PyTorchJob's
    /workspace/<spec name>): a trial's folder is outputs/<name>/trials/<id>, not outputs/<name>-<id>."""
    pattern = rf"(outputs|/workspace)/{re.escape(f'{name}-{trial}')}(?![A-Za-z0-9_.-])"
    return re.sub(pattern, lambda m: f"{m.group(1)}/{name}/{TRIALS_DIR}/{trial}", text)


def read(build_dir: Path) -> dict | None:
    """A build folder's sweep.json (None when the build is not a sweep); FtgenError when it cannot be read."""
    from . import _io

    path = Path(build_dir) / SWEEP_FILE
    if not path.is_file():
        return None
    data = _io.read_json(path, str(path), 16 * 1024 * 1024)
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise FtgenError([Problem(str(path), "trials", "not a sweep.json written by `ftgen build`")])
    return data

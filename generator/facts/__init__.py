"""Resolve the facts a spec depends on: model card, GPU, dataset and eval-set statistics."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import FtgenError, Problem
from .types import GPU, DatasetStats, EvalStats, Facts, ModelCard

if TYPE_CHECKING:
    from ..spec import Spec

__all__ = ["resolve", "Facts", "ModelCard", "GPU", "DatasetStats", "EvalStats"]

DEFAULT_GPU = "A100-80GB"
DEFAULT_AVG_TOKENS = 512.0


def resolve(spec: Spec, *, frozen: bool = False, refresh: bool = False) -> Facts:
    """Look everything up; raise FtgenError listing every problem at once.

    frozen (check, review): a hub model comes from the spec's lock only, never this machine's cache or the hub.
    refresh (build --refresh): ignore the lock and resolve the model again.
    """
    # here, not at the top: `ftgen lint` reads the catalogs (facts.models, facts.gpus) without resolving a spec
    from .datasets import inspect_eval, inspect_train
    from .gpus import lookup_gpu
    from .lock import LockWrite, lock_path
    from .lock import render as render_lock
    from .models import resolve_model

    problems: list[Problem] = []
    notes: list[str] = []

    def attempt(fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except FtgenError as exc:
            problems.extend(exc.problems)
            return None

    lock_name = lock_path(spec.file) if spec.file and not spec.file.startswith("<") else None
    lock_file = spec.located(lock_name) if lock_name is not None else None  # beside the spec, under its root
    resolved = attempt(
        resolve_model,
        spec.base_model,
        spec.base_dir,
        spec.file,
        "base_model",
        model_config=spec.model_config,
        lock=lock_file,
        frozen=frozen,
        refresh=refresh,
        line=spec.line_of("base_model"),
    )
    if lock_file != lock_name:  # errors name the lock as the spec's root names it (spec.file likewise)
        problems[:] = [replace(p, file=str(lock_name)) if p.file == str(lock_file) else p for p in problems]
    model = resolved.card if resolved else None
    lock = None
    if resolved is not None and resolved.entry is not None and lock_file is not None:
        lock = LockWrite(lock_file, render_lock([resolved.entry]), resolved.entry, resolved.fresh)
    hw = spec.hardware
    if hw.gpu is None and hw.vram_gb is None:
        notes.append(f"no hardware.gpu in the spec: planned for {DEFAULT_GPU}")
    gpu = attempt(
        lookup_gpu,
        hw.gpu if (hw.gpu or hw.vram_gb) else DEFAULT_GPU,
        hw.vram_gb,
        spec.file,
        "hardware.gpu" if hw.gpu or not hw.vram_gb else "hardware.vram_gb",
        hw.custom,
        hw.usd_per_hour,
    )

    ev, eval_problems = None, []
    if spec.eval is not None:  # first: the training pass looks for its prompts
        ev, eval_problems = inspect_eval(spec.eval.path, spec.base_dir, spec.file, "eval.path")

    entries = [{"path": t.path, "format": t.format} for t in spec.data.train]
    data, data_problems = inspect_train(entries, spec.base_dir, spec.file, eval_prompts=ev.prompts if ev else None)
    problems.extend(data_problems)
    problems.extend(eval_problems)
    if ev is not None and data is not None:
        ev = _overlap(ev, data)
    data = _merge_data(spec, data, problems)

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise FtgenError(errors)
    return Facts(model=model, gpu=gpu, data=data, eval=ev, notes=tuple(notes), lock=lock)


def _overlap(ev: EvalStats, data: DatasetStats) -> EvalStats:
    """Count the eval rows whose prompt a (local) training row also has."""
    rows = [label for key in ev.prompts if key in data.eval_prompts_seen for label in ev.prompts[key]]
    return replace(ev, in_train=len(rows), in_train_rows=tuple(rows[:5]))


def _merge_data(spec: Spec, measured: DatasetStats | None, problems: list[Problem]) -> DatasetStats | None:
    """Counts from local files win; the spec fills in what cannot be measured (hub datasets)."""
    d = spec.data
    if measured is not None and measured.measured:
        return replace(measured, avg_tokens=d.avg_tokens) if d.avg_tokens is not None else measured
    if d.examples is None:
        problems.append(
            Problem(
                spec.file,
                "data.examples",
                "required when a training dataset is not a local file",
                allowed="the number of training examples, e.g. examples: 12000",
                line=spec.line_of("data"),
            )
        )
        return None
    avg = d.avg_tokens or (measured.avg_tokens if measured and measured.avg_tokens else DEFAULT_AVG_TOKENS)
    return DatasetStats(
        examples=d.examples,
        avg_tokens=avg,
        max_tokens=measured.max_tokens if measured else None,
        formats=tuple(dict.fromkeys(t.format for t in d.train)),
        local_files=measured.local_files if measured else (),
        measured=False,
        p95_tokens=(measured.p95_tokens if measured else None) or int(avg * 2),
    )

"""Collect what a framework left in output_dir: checkpoints, trainer_state.json metrics, a loss-curve PNG."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from .. import _io
from ..errors import FtgenError

MAX_STATE_BYTES = 256 * 1024 * 1024  # trainer_state.json grows with logged steps

_CKPT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(output_dir: Path) -> list[dict]:
    """Complete checkpoint-N folders, oldest first, as {"path", "step"}.

    A checkpoint counts once its trainer_state.json exists: HF Trainer writes that file last, so a folder
    without it was cut off mid-save (interrupted run) and must not be resumed from.
    """
    found = []
    if Path(output_dir).is_dir():
        for p in Path(output_dir).iterdir():
            m = _CKPT.match(p.name)
            if m and p.is_dir() and (p / "trainer_state.json").is_file():
                found.append({"path": str(p), "step": int(m.group(1))})
    return sorted(found, key=lambda c: c["step"])


def trainer_state(output_dir: Path) -> dict | None:
    """LLaMA-Factory writes trainer_state.json at the top of output_dir; Axolotl only in checkpoint-N/."""
    output_dir = Path(output_dir)
    candidates = [output_dir / "trainer_state.json"]
    candidates += [Path(c["path"]) / "trainer_state.json" for c in reversed(checkpoints(output_dir))]
    for path in candidates:
        if path.is_file():
            try:
                return _io.read_json(path, max_bytes=MAX_STATE_BYTES)
            except FtgenError:
                continue
    return None


def _results_files(output_dir: Path) -> dict:
    merged: dict = {}
    for name in ("train_results.json", "eval_results.json", "all_results.json"):
        path = Path(output_dir) / name
        if path.is_file():
            try:
                data = _io.read_json(path, max_bytes=MAX_STATE_BYTES)
            except FtgenError:
                continue
            if isinstance(data, dict):
                merged.update(data)
    return merged


def summarise(output_dir: Path) -> tuple[dict[str, Any], list[dict]]:
    """(final metrics, history). Final: train_loss, eval_loss, perplexity, every eval_* field, steps."""
    state = trainer_state(output_dir) or {}
    history = [h for h in state.get("log_history", []) if isinstance(h, dict)]
    metrics: dict[str, Any] = {}
    losses = [h for h in history if "loss" in h]
    evals = [h for h in history if "eval_loss" in h]
    if losses:
        metrics["first_loss"] = losses[0]["loss"]
        metrics["last_loss"] = losses[-1]["loss"]
    for h in history:
        if "train_loss" in h:
            metrics["train_loss"] = h["train_loss"]
    if evals:
        metrics["first_eval_loss"] = evals[0]["eval_loss"]
        for k, v in evals[-1].items():
            if k.startswith("eval_"):
                metrics[k] = v
    metrics.update({k: v for k, v in _results_files(output_dir).items() if k.startswith(("eval_", "train_"))})
    if "eval_loss" in metrics and isinstance(metrics["eval_loss"], (int, float)):
        metrics["perplexity"] = math.exp(min(metrics["eval_loss"], 50))
    if state.get("global_step") is not None:
        metrics["global_step"] = state["global_step"]
    if state.get("max_steps"):
        metrics["max_steps"] = state["max_steps"]
    return metrics, history


def preload_plotting() -> None:
    """Import matplotlib (Agg) ahead of time; safe to call from a background thread."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot
    except Exception:
        pass


def loss_curve(history: list[dict], path: Path, title: str) -> Path | None:
    """Plot training loss and eval loss against step; None when there is nothing to plot."""
    train = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    evals = [(h["step"], h["eval_loss"]) for h in history if "eval_loss" in h and "step" in h]
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="training loss", color="#1f77b4")
    if evals:
        ax.plot(*zip(*evals), "o-", label="eval loss", color="#d62728")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path

"""What every run needs whichever framework runs it: output folder, seed, trackers, data cache, workers."""

from __future__ import annotations

from ._context import Context
from ._registry import rule


@rule("FT106", "framework-defaults", order=230)
def framework_defaults(ctx: Context) -> None:
    """Set what every training config needs and no other rule decides: where it writes, its seed, trackers, the
    tokenised-data cache and tokenisation workers.

    What: `output_dir: ./out` (`ftgen run` points it at a fresh runs/<run-id>/model for every run);
    `overwrite_output_dir: false` (LLaMA-Factory; never write over checkpoints by accident); `seed` from the
    spec, else 42; `report_to: none` (LLaMA-Factory `report_to`; Axolotl reports nowhere unless use_wandb /
    use_mlflow ask); `dataset_cache_dir: prepared` (Axolotl `dataset_prepared_path`, beside the run);
    `retokenize: true` (LLaMA-Factory `overwrite_cache`: tokenise again instead of trusting a cache of older
    data); `dataset_num_proc` tokenisation workers: 2 on CPU, 8 on GPU machines (Axolotl `dataset_num_proc`,
    LLaMA-Factory `preprocessing_num_workers`).
    Why: a run that resumes or overwrites another by accident, or reads a stale tokenised cache, trains on the
    wrong thing without saying so; telemetry leaves the machine unasked; a fixed seed makes a run repeatable.
    `ftgen run` collects metrics itself, so no tracker is needed.
    Example: any plan -> output_dir ./out, overwrite_output_dir false, seed 42, report_to none,
    dataset_cache_dir prepared, retokenize true, dataset_num_proc 8 (2 on CPU).
    References: HF TrainingArguments (output_dir, overwrite_output_dir, seed, report_to); Axolotl docs/config
    (dataset_prepared_path, dataset_num_proc); LLaMA-Factory DataArguments (overwrite_cache,
    preprocessing_num_workers); shared/frameworks.md (LLaMA-Factory silently resumes into an output_dir with
    checkpoints).
    """
    cpu = ctx.facts.gpu.is_cpu
    ctx.decide("output_dir", "./out", "`ftgen run` points this at a fresh runs/<run-id>/ folder")
    ctx.decide(
        "overwrite_output_dir", False, "never resume or overwrite by accident; `ftgen run` gives each run a new folder"
    )
    if "seed" in ctx.spec.lines:
        ctx.record_spec("seed", ctx.spec.seed, "seed in the spec")
    else:
        ctx.decide("seed", ctx.spec.seed, f"fixed seed ({ctx.spec.seed}) for reproducible runs")
    ctx.decide("report_to", "none", "no telemetry; metrics are collected by `ftgen run`")
    ctx.decide("dataset_cache_dir", "prepared", "tokenised data is cached beside the run")
    ctx.decide("retokenize", True, "re-tokenise when the data changes")
    ctx.decide(
        "dataset_num_proc",
        2 if cpu else 8,
        "tokenisation workers: " + ("2 on a CPU machine" if cpu else "8 on a GPU node"),
    )

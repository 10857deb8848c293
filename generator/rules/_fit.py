"""Bridge from the decisions so far to the memory and time estimators."""

from __future__ import annotations

from typing import Any

from .. import frameworks, memory, targets
from ._context import Context

PAIRED_TASKS = ("dpo", "orpo")  # chosen and rejected both go through the model: twice the sequences


def pair_factor(ctx: Context) -> int:
    return 2 if ctx.spec.task in PAIRED_TASKS else 1


def planned_frameworks(ctx: Context) -> list[str]:
    """The frameworks the plan writes configs for (FT104), or will, before FT104 has run."""
    if "frameworks" in ctx.decisions:
        return list(ctx["frameworks"])
    fw = ctx.spec.framework
    if fw == "both":
        return [name for name in frameworks.names() if targets.supports(name, ctx.spec.task)]
    if fw == "auto":
        choice = targets.auto_choice(ctx.spec.task)
        return [choice[0]] if choice else []
    return [fw]


def setup(ctx: Context, **changes: Any) -> memory.TrainSetup:
    """A TrainSetup from the decisions so far, with `changes` applied (for what-if checks).

    micro_batch_size here counts sequences through the model (x2 for paired preference tasks).
    A framework that keeps fp32 master weights for the method (Framework.master_dtype: LLaMA-Factory's full
    fine-tunes) is planned with them (18 bytes/parameter for AdamW).
    """
    method = changes.pop("method", ctx.get("method", "qlora"))
    targets = ctx.get("lora_target_modules") or list(ctx.facts.model.lora_targets)
    if targets == ["all-linear"]:
        targets = list(ctx.facts.model.lora_targets)
    values = dict(
        method=method,
        micro_batch_size=ctx.get("micro_batch_size", 1) * pair_factor(ctx),
        sequence_len=ctx.get("sequence_len", 2048),
        precision=ctx.get("precision", "bf16"),
        gradient_checkpointing=ctx.get("gradient_checkpointing", True),
        flash_attention=ctx.get("attn_implementation", "sdpa") in ("flash_attention_2", "sdpa"),
        optimizer=ctx.get("optimizer", _default_optimizer(method)),
        lora_rank=ctx.get("lora_r", 16),
        lora_targets=tuple(targets),
        quant_bits=4 if method == "qlora" else None,
        world_size=ctx.spec.hardware.world_size,
        sharding=str(ctx.get("distributed", "single")),
        reference_model=ctx.spec.task in ("dpo", "kto") and method == "full",
        # unknown (None, planned as accumulating) until the batch rule has decided it
        gradient_accumulation_steps=ctx.get("gradient_accumulation_steps"),
        lora_dropout=float(ctx.get("lora_dropout", memory.TrainSetup.lora_dropout)) if method != "full" else 0.0,
    )
    masters = {frameworks.get(fw).master_dtype(str(method)) for fw in planned_frameworks(ctx)} - {"auto"}
    if masters:
        values["master_dtype"] = "fp32" if "fp32" in masters else masters.pop()
    if "micro_batch_size" in changes:
        changes["micro_batch_size"] = changes["micro_batch_size"] * pair_factor(ctx)
    values.update(changes)
    if "method" not in changes:
        values["quant_bits"] = 4 if values["method"] == "qlora" else None
    return memory.TrainSetup(**values)


def _default_optimizer(method: str) -> str:
    return "paged_adamw_8bit" if method == "qlora" else "adamw_torch"


def margin(ctx: Context, **changes: Any) -> float:
    """The share of GPU memory a plan may fill: memory.fit_margin, from the estimate's measured error band."""
    return memory.fit_margin(setup(ctx, **changes))


def budget_gb(ctx: Context, **changes: Any) -> float:
    """Usable GPU memory per device: the card's memory times the fit margin of this kind of run."""
    return ctx.facts.gpu.vram_gb * margin(ctx, **changes)


def estimate(ctx: Context, **changes: Any) -> memory.MemoryEstimate:
    return memory.estimate(ctx.facts.model, setup(ctx, **changes))


def fits(ctx: Context, **changes: Any) -> bool:
    return estimate(ctx, **changes).total_gb <= budget_gb(ctx)

"""Bridge from the decisions so far to the memory and time estimators."""

from __future__ import annotations

from typing import Any

from .. import memory
from ._context import Context

SAFETY = 0.90  # plan to use at most 90% of GPU memory: allocator fragmentation and spikes need headroom


PAIRED_TASKS = ("dpo", "orpo")  # chosen and rejected both go through the model: twice the sequences


def pair_factor(ctx: Context) -> int:
    return 2 if ctx.spec.task in PAIRED_TASKS else 1


def _frameworks(ctx: Context) -> list[str]:
    if "frameworks" in ctx.decisions:
        return ctx["frameworks"]
    fw = ctx.spec.framework
    if fw == "both":
        return ["axolotl", "llamafactory"]
    if fw == "auto":
        return ["llamafactory"] if ctx.spec.task in ("dpo", "kto", "orpo") else ["axolotl"]
    return [fw]


def setup(ctx: Context, **changes: Any) -> memory.TrainSetup:
    """A TrainSetup from the decisions so far, with `changes` applied (for what-if checks).

    micro_batch_size here counts sequences through the model (x2 for paired preference tasks).
    LLaMA-Factory keeps fp32 master weights for full fine-tunes (its adapter.py casts trainable
    parameters to fp32 unless pure_bf16), so its full fine-tunes are planned at 18 bytes/parameter.
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
        sharding=_sharding_of(ctx.get("distributed", "single")),
        reference_model=ctx.spec.task in ("dpo", "kto") and method == "full",
        # unknown (None, planned as accumulating) until the batch rule has decided it
        gradient_accumulation_steps=ctx.get("gradient_accumulation_steps"),
    )
    if method == "full" and "llamafactory" in _frameworks(ctx):
        values["master_dtype"] = "fp32"
    if "micro_batch_size" in changes:
        changes["micro_batch_size"] = changes["micro_batch_size"] * pair_factor(ctx)
    values.update(changes)
    if "method" not in changes:
        values["quant_bits"] = 4 if values["method"] == "qlora" else None
    return memory.TrainSetup(**values)


def _default_optimizer(method: str) -> str:
    return "paged_adamw_8bit" if method == "qlora" else "adamw_torch"


def _sharding_of(distributed: str) -> str:
    return distributed if distributed in ("zero1", "zero2", "zero3", "zero3_offload", "fsdp") else "none"


def budget_gb(ctx: Context) -> float:
    """Usable GPU memory per device."""
    return ctx.facts.gpu.vram_gb * SAFETY


def estimate(ctx: Context, **changes: Any) -> memory.MemoryEstimate:
    return memory.estimate(ctx.facts.model, setup(ctx, **changes))


def fits(ctx: Context, **changes: Any) -> bool:
    return estimate(ctx, **changes).total_gb <= budget_gb(ctx)

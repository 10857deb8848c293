"""Rules about the machine: precision, attention, sequence length, packing, memory fit, multi-GPU strategy."""

from __future__ import annotations

from .. import frameworks
from . import _fit
from ._context import Context
from ._registry import rule

_CHEAPER = {"full": "lora", "lora": "qlora"}


@rule("FT110", "precision", order=30)
def precision(ctx: Context) -> None:
    """Pick the training precision from the GPU.

    What: bf16 where the GPU supports it (Ampere and newer), else fp16 with loss scaling; fp32 on CPU. With it:
    `tf32` on for bf16 training on a GPU that has TF32 (Ampere and newer), off otherwise; on CPU `use_cpu`
    (LLaMA-Factory's switch) and `lora_kernels` off (Axolotl's lora_mlp/qkv/o/embedding_kernel: Triton, CUDA
    only). In the configs: `bf16` / `fp16` (both frameworks), `tf32`, `use_cpu`, Axolotl `lora_*_kernel`.
    A GPU given only by `hardware.vram_gb` gets a warning that lists each capability the spec did not state
    and ftgen assumed (bf16, FlashAttention-2, no fp8, 100 TFLOP/s: an Ampere-class card).
    Why: bf16 has fp32's exponent range, so it trains without loss scaling and rarely overflows; fp16 on
    pre-Ampere GPUs needs dynamic loss scaling; CPUs run fp32 (both frameworks crash on CPU with fp16 on);
    TF32 matmuls are several times faster than fp32 on Ampere+ at no measurable quality cost. An assumed bf16
    on a pre-Ampere card fails at the start of training, so the plan says what it assumed.
    Example: A100-80GB -> bf16, tf32; T4 -> fp16; CPU -> fp32, use_cpu, lora_kernels off; `vram_gb: 32` ->
    bf16, with a warning.
    References: Kalamkar et al. 2019, bfloat16 (arXiv:1905.12322); NVIDIA mixed-precision guide;
    shared/frameworks.md (CPU needs bf16 false and fp16 false).
    """
    gpu = ctx.facts.gpu
    if gpu.assumed:
        from ..facts.gpus import describe_assumed

        ctx.warn(
            "hardware.vram_gb",
            f"{gpu.name} is not in the catalog: assumed {describe_assumed(gpu)} (an Ampere-class card)",
            allowed="state the card's capabilities (hardware."
            + " / ".join(gpu.assumed)
            + "), or name a catalog GPU (`ftgen gpus`)",
        )
    if gpu.is_cpu:
        value, why = "fp32", "training on CPU: fp32 (half precision is not supported by either framework on CPU)"
    elif gpu.bf16:
        value, why = "bf16", f"{gpu.name} supports bf16: fp32 range without loss scaling"
    else:
        value, why = "fp16", f"{gpu.name} has no bf16: fp16 with dynamic loss scaling"
    chosen = ctx.decide("precision", value, why)
    tf32 = chosen == "bf16" and gpu.bf16 and not gpu.is_cpu
    ctx.decide(
        "tf32",
        tf32,
        f"{gpu.name} has TF32 matmuls (Ampere+)"
        if tf32
        else "no TF32: " + ("CPU" if gpu.is_cpu else f"{chosen} training"),
    )
    if gpu.is_cpu:
        ctx.decide("use_cpu", True, "training on CPU")
        ctx.decide("lora_kernels", False, "CPU: the fused LoRA kernels are Triton code that needs CUDA")
    if chosen == "bf16" and not gpu.bf16:
        ctx.error("overrides.precision", f"{gpu.name} does not support bf16", found=chosen, allowed="fp16 or fp32")
    if chosen in ("bf16", "fp16") and gpu.is_cpu:
        ctx.error("overrides.precision", "half precision does not train on CPU", found=chosen, allowed="fp32")


@rule("FT111", "attention-implementation", order=40)
def attention(ctx: Context) -> None:
    """Pick the attention kernel.

    What: FlashAttention-2 on GPUs that have it (Ampere and newer), else PyTorch SDPA; SDPA on CPU.
    Why: FlashAttention never materialises the s x s score matrix, so attention memory grows linearly with
    sequence length, and it is faster; SDPA is the portable fallback that transformers picks by default.
    Example: H100-80GB -> flash_attention_2; V100-32GB -> sdpa.
    References: Dao 2023, FlashAttention-2 (arXiv:2307.08691); transformers docs, attention interface.
    """
    gpu = ctx.facts.gpu
    if gpu.flash_attention and not gpu.is_cpu:
        ctx.decide("attn_implementation", "flash_attention_2", f"{gpu.name} supports FlashAttention-2")
    else:
        ctx.decide("attn_implementation", "sdpa", f"{gpu.name} has no FlashAttention-2: PyTorch SDPA")


def _pow2_at_least(n: float, floor: int = 256) -> int:
    size = floor
    while size < n:
        size *= 2
    return size


@rule("FT120", "sequence-length", order=50)
def sequence_length(ctx: Context) -> None:
    """Set the maximum sequence length from the data and the model's context.

    What: the smallest power of two (at least 256) that holds the 95th-percentile example, capped at the
    model's context window; a spec value above the model's context is an error.
    Why: padding and attention cost grow with the length; a length that cuts most examples loses their
    answers (the loss is on the end of the sequence); the model cannot attend beyond its context.
    Example: p95 of 700 tokens on Llama-3.1-8B -> 1024.
    References: Axolotl docs/config (sequence_len); LLaMA-Factory cutoff_len; the model's config.json
    max_position_embeddings.
    """
    model, data = ctx.facts.model, ctx.facts.data
    if ctx.spec.sequence_len is not None:
        value = ctx.record_spec("sequence_len", ctx.spec.sequence_len, "sequence_len set in the spec")
        if value > model.max_context:
            ctx.error(
                "sequence_len",
                f"longer than {model.id}'s context window",
                found=value,
                allowed=f"at most {model.max_context}",
            )
        return
    p95 = data.p95_tokens or data.avg_tokens * 2
    value = min(_pow2_at_least(p95), model.max_context)
    ctx.decide(
        "sequence_len",
        value,
        f"holds the 95th-percentile example (~{int(p95)} tokens)"
        + (f", capped at the model's {model.max_context}-token context" if value == model.max_context else ""),
    )


@rule("FT121", "sample-packing", order=90)
def packing(ctx: Context) -> None:
    """Pack several short examples into one sequence for supervised fine-tuning and pretraining.

    What: packing on for sft/pretrain when the average example uses under half the sequence length;
    off for preference and RL stages (their trainers pair or sample sequences and do not pack).
    Why: without packing, short examples are padded to the batch's longest and most compute is spent on
    padding; packing with attention masks per example keeps examples independent.
    Example: avg 300 tokens, sequence_len 2048 -> packing on.
    References: Axolotl docs/multipack.qmd; LLaMA-Factory `packing` / `neat_packing`; Krell et al. 2021
    (arXiv:2107.02027).
    """
    task = ctx.spec.task
    if task not in ("sft", "pretrain"):
        ctx.decide("packing", False, f"task {task}: its trainer does not pack sequences")
        return
    avg, seq = ctx.facts.data.avg_tokens, ctx["sequence_len"]
    if avg < seq / 2:
        ctx.decide("packing", True, f"average example ~{avg:.0f} tokens is under half of sequence_len {seq}")
    else:
        ctx.decide("packing", False, f"average example ~{avg:.0f} tokens fills much of sequence_len {seq}")


def best_sharding(ctx: Context, method: str) -> str:
    """The lightest multi-GPU strategy under which `method` fits one GPU at micro batch 1."""
    world = ctx.spec.hardware.world_size
    if world == 1:
        return "single"
    for strategy in ("ddp", "zero2", "zero3", "zero3_offload"):
        if _fit.fits(ctx, method=method, micro_batch_size=1, gradient_checkpointing=True, sharding=strategy):
            return strategy
    return "zero3_offload"


def _need(ctx: Context, method: str) -> float:
    sharding = best_sharding(ctx, method)
    return _fit.estimate(
        ctx,
        method=method,
        micro_batch_size=1,
        gradient_checkpointing=True,
        sharding=sharding,
    ).total_gb


@rule("FT130", "memory-fit-method", order=100)
def memory_fit_method(ctx: Context) -> None:
    """Make sure the method fits GPU memory; downgrade full -> LoRA -> QLoRA, or refuse a forced method.

    What: estimates memory at micro batch 1 with gradient checkpointing (the smallest footprint) and the
    lightest sharding that works; a method chosen by the rules that does not fit becomes the next cheaper
    one, with the numbers in the reason; a method the spec forces is an error naming what would fit.
    Why: the commonest failure in both frameworks' trackers is running out of GPU memory after hours of
    setup; it is cheaper to know at build time.
    Example: full on Llama-3.1-8B on one 24 GB GPU -> needs ~100 GB -> lora needs ~22 GB -> qlora.
    References: generator/memory.py (per-component estimate); HF transformers model_memory_anatomy;
    QLoRA paper (arXiv:2305.14314).
    """
    method = ctx["method"]
    have = _fit.budget_gb(ctx)
    need = _need(ctx, method)
    if need <= have:
        return
    gpu = ctx.facts.gpu.name
    world = ctx.spec.hardware.world_size
    where = f"{world} x {gpu}" if world > 1 else gpu
    if ctx.is_spec("method"):
        alternatives = [m for m in ("lora", "qlora") if m != method and _need(ctx, m) <= have]
        ctx.error(
            "method",
            f"{method} needs ~{need:.1f} GB per GPU even at micro batch 1 with gradient "
            f"checkpointing, more than the {have:.1f} GB usable on {where}",
            found=method,
            allowed=(
                ", ".join(alternatives) + " fit"
                if alternatives
                else "nothing fits: use a bigger GPU, more GPUs or a smaller model"
            ),
        )
        return
    trail = [f"{method} needs ~{need:.1f} GB > {have:.1f} GB usable on {where}"]
    while method in _CHEAPER:
        method = _CHEAPER[method]
        need = _need(ctx, method)
        if need <= have:
            ctx.decide("method", method, "; ".join(trail) + f"; {method} fits (~{need:.1f} GB)")
            return
        trail.append(f"{method} needs ~{need:.1f} GB")
    ctx.error(
        "hardware",
        f"{ctx.facts.model.id} does not fit: " + "; ".join(trail),
        found=where,
        allowed="a GPU with more memory, more GPUs, or a smaller model",
    )


@rule("FT131", "multi-gpu-strategy", order=110)
def multi_gpu_strategy(ctx: Context) -> None:
    """Choose DDP, DeepSpeed ZeRO-2/3 (with CPU offload) or FSDP when there is more than one GPU.

    What: one GPU -> single; several -> DDP when a full replica fits each GPU, else ZeRO-2 (shards
    gradients and optimizer states), else ZeRO-3 (also weights), else ZeRO-3 with CPU offload. In the configs:
    `deepspeed:` names the ZeRO file written beside them (deepspeed_zero2.json, ...); Axolotl FSDP is
    `fsdp_version: 2` with `fsdp_config` (full state dict, transformer-based wrap, reshard after forward). A
    framework that cannot run the strategy (LLaMA-Factory FSDP, Axolotl several processes on CPU) is an error.
    Why: DDP has the least communication; each ZeRO stage trades more communication for less memory.
    Example: full fine-tune of a 70B model on 8 x H100-80GB -> zero3.
    References: Rajbhandari et al. 2020, ZeRO (arXiv:1910.02054); DeepSpeed docs; PyTorch FSDP2 docs.
    """
    method = ctx["method"]
    value = best_sharding(ctx, method)
    world = ctx.spec.hardware.world_size
    if world == 1:
        chosen = ctx.decide("distributed", "single", "one GPU")
        if chosen in ("ddp", "fsdp"):
            ctx.warn("overrides.distributed", f"distributed {chosen} has no effect on one GPU")
        elif chosen != "single":
            ctx.info(
                "overrides.distributed",
                f"{chosen} on one GPU: DeepSpeed still partitions into CPU memory "
                "only with offload; the config uses it as asked",
            )
        return
    why = {
        "ddp": f"{method} fits one GPU: plain data parallel across {world} GPUs",
        "zero2": "a full replica does not fit one GPU; sharding gradients and optimizer states (ZeRO-2) does",
        "zero3": "only sharding the weights too (ZeRO-3) fits",
        "zero3_offload": "even ZeRO-3 does not fit: ZeRO-3 with parameters and optimizer offloaded to CPU",
    }[value]
    chosen = ctx.decide("distributed", value, why)
    cpu = ctx.facts.gpu.is_cpu
    if cpu and chosen.sharded:
        ctx.error(
            "hardware.gpu",
            f"{chosen} (DeepSpeed / FSDP sharding) needs accelerators; on CPU only plain data parallel runs",
            found=chosen,
            allowed="a model that fits each process (method lora or qlora), or a GPU",
        )
    values = {k: d.value for k, d in ctx.decisions.items()}
    for name in ctx.get("frameworks", []):
        for r in frameworks.get(name).refusals(values, cpu, world):
            ctx.error(r.key, r.message, found=r.found, allowed=r.allowed)

"""Training time and cost: FLOPs per token, an MFU assumption per GPU class, tokens/s, hours, USD."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .facts.types import GPU, ModelCard
from .memory import TrainSetup, lora_trainable_params, shapes

# ----------------------------------------------------------------------------- the MFU table
#
# Fraction of the GPU's dense bf16 tensor peak (GPU.tflops_bf16) that a fine-tuning stack
# (HF Trainer under Axolotl / LLaMA-Factory, FlashAttention-2, sample packing) sustains,
# counting every FLOP it executes (recompute included, i.e. hardware FLOPs utilisation).
# Sources, and how the numbers were chosen (ftgen assumptions, not measurements):
#   * Megatron-LM, Narayanan et al. 2021 (arXiv:2104.04473): 52 % of A100 peak for GPT
#     pretraining with a hand-tuned stack; FlashAttention-2, Dao 2023 (arXiv:2307.08691):
#     225 TFLOP/s per A100 (72 %) end to end for GPT-style training: upper bounds.
#   * torchtitan, Liang et al. 2024 (arXiv:2410.06511): Llama 3.1 8B on H100 with FSDP2 +
#     torch.compile, roughly 30-40 % MFU; Hopper's larger peak is harder to saturate than A100's.
#   * HF Trainer fine-tuning is less tuned than either: 0.40 of A100 peak, 0.35 of H100/H200, for a
#     full fine-tune.
#   * LoRA: the same share of its (smaller) FLOP count. torchtune's README (Llama 3.1 8B, one GPU)
#     shows LoRA sustaining ~1.4x the FLOP rate of the full fine-tune (4090: 3083 x 6N vs 1650 x 8N;
#     A6000: 4699 x 6N vs 2579 x 8N), the full run being slowed by its paged optimizer; on
#     datacenter GPUs with a resident optimizer ftgen assumes no difference.
#   * Turing/Volta (T4, V100): fp16, no FlashAttention-2: about half the Ampere share.
#   * CPU: a fraction of the fp32 peak in the catalog (tflops_bf16 holds fp32 for the CPU card);
#     a rough figure, only to say "days, not hours".
THROUGHPUT: dict[str, dict[str, float]] = {
    # class        full  lora      (first match wins: more specific names first)
    "B200": {"full": 0.30, "lora": 0.30},
    "H200": {"full": 0.35, "lora": 0.35},
    "H100": {"full": 0.35, "lora": 0.35},
    "A100": {"full": 0.40, "lora": 0.40},
    "L40S": {"full": 0.35, "lora": 0.35},
    "L4": {"full": 0.35, "lora": 0.35},
    "A10": {"full": 0.35, "lora": 0.35},
    "RTX4090": {"full": 0.35, "lora": 0.35},
    "RTX3090": {"full": 0.35, "lora": 0.35},
    "V100": {"full": 0.20, "lora": 0.20},
    "T4": {"full": 0.18, "lora": 0.18},
    "CPU": {"full": 0.30, "lora": 0.30},
    "default": {"full": 0.30, "lora": 0.30},
}

#: QLoRA runs LoRA's FLOPs plus a dequantisation of every NF4 weight in forward and backward.
#: torchtune README (Llama 3.1 8B, RTX 4090, compiled NF4): LoRA 3083 vs QLoRA 2413 tokens/s = 0.78;
#: Google Cloud Vertex AI "LoRA and QLoRA recommendations": LoRA "about 66 % faster" than QLoRA
#: (0.60). bitsandbytes without torch.compile sits between: 0.70.
QLORA_SPEED = 0.70

#: Multi-GPU scaling efficiency per doubling of the GPU count: 0.95 inside a node (NVLink),
#: 0.90 per doubling across nodes (InfiniBand / Ethernet); 8 GPUs per node assumed.
SCALING_PER_DOUBLING_INTRA = 0.95
SCALING_PER_DOUBLING_INTER = 0.90
GPUS_PER_NODE = 8

#: Extra communication of the sharding strategies relative to DDP. ZeRO-1/2 move the same volume
#: as DDP (2 x params) and ZeRO-3/FSDP 1.5x (Rajbhandari et al. 2020, arXiv:1910.02054, sec. 7);
#: zero3_offload adds PCIe traffic and a CPU Adam step (ZeRO-Offload, Ren et al. 2021,
#: arXiv:2101.06840): taken as half speed.
SHARDING_SPEED = {
    "single": 1.0,
    "ddp": 1.0,
    "zero1": 1.0,
    "zero2": 0.97,
    "zero3": 0.90,
    "fsdp": 0.90,
    "zero3_offload": 0.50,
}

#: fp32 training runs on TF32 tensor cores at half the bf16 rate (A100: 156 vs 312 TFLOP/s).
FP32_SPEED = 0.5
#: Eager attention instead of FlashAttention-2 on a GPU that has it (Dao 2023: 2-4x faster attention;
#: attention is ~10-20 % of fine-tuning time at 2-4k tokens).
NO_FLASH_SPEED = 0.85
#: Dynamic padding without packing: each micro batch pads to its longest sample; for typical chat
#: data the longest of a few samples is ~1.3x the mean. Factor 1 + PAD_OVERHEAD * (1 - 1/micro_batch).
PAD_OVERHEAD = 0.30
#: Fixed time per run outside the training loop: loading and quantising weights, tokenising, saving.
STARTUP_HOURS = 0.1


@dataclass(frozen=True)
class TimeCost:
    """How long a training run takes and what it costs."""

    tokens_per_epoch: int
    epochs: float
    total_tokens: int
    steps: int
    tokens_per_second: float  # whole cluster
    hours: float
    usd: float | None  # None when the GPU has no price
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "tokens_per_epoch": int(self.tokens_per_epoch),
            "epochs": self.epochs,
            "total_tokens": int(self.total_tokens),
            "steps": int(self.steps),
            "tokens_per_second": round(self.tokens_per_second, 1),
            "hours": round(self.hours, 2),
            "usd": None if self.usd is None else round(self.usd, 2),
            "assumptions": list(self.assumptions),
        }


def gpu_class(gpu: GPU) -> str:
    """The THROUGHPUT row for a GPU: the first class (table order, A100 before A10, L40S before L4)
    whose name appears in the GPU's name or aliases; "default" when none does."""
    if gpu.is_cpu:
        return "CPU"
    names = [re.sub(r"[^a-z0-9]", "", n.lower()) for n in (gpu.name, *gpu.aliases)]
    for cls in THROUGHPUT:
        key = cls.lower()
        if any(key in n or (cls.startswith("RTX") and key[3:] in n) for n in names):
            return cls
    return _ARCH_CLASS.get(gpu.arch, "default")


#: The THROUGHPUT row of a catalog card no row names, by its architecture (Quadro RTX 8000 -> the T4 row,
#: RTX A6000 -> the A10 row: Ampere below the A100's HBM bandwidth).
_ARCH_CLASS = {"volta": "V100", "turing": "T4", "ampere": "A10", "ada": "L40S", "hopper": "H100", "blackwell": "B200"}


def flops_per_token(model: ModelCard, setup: TrainSetup, attn_len: float) -> float:
    """Training FLOPs per token.

    Kaplan et al. 2020 (arXiv:2001.08361) / Chinchilla (Hoffmann et al. 2022): 6N per token,
    2N forward + 4N backward, N = matmul parameters (active experts only for MoE; lm_head included,
    input embedding excluded). Attention adds 12*L*hq*s per token (PaLM, Chowdhery et al. 2022,
    arXiv:2204.02311, appendix B), s the attended length.
    LoRA / QLoRA: the frozen base still runs forward (2N) and backward w.r.t. activations (2N) but
    computes no weight gradients: 4N, plus 6 per adapter parameter.
    Gradient checkpointing recomputes the forward: +2N and +1/3 of the attention term (8N for full).
    """
    sh = shapes(model)
    n = sh.layers * (sh.attn_params + sh.active_mlp_params) + sh.vocab * sh.h
    attn = 12.0 * sh.layers * sh.hq * attn_len
    if setup.method == "full":
        flops = 6.0 * n + attn
    else:
        flops = 4.0 * n + attn + 6.0 * lora_trainable_params(model, setup.lora_rank, setup.lora_targets)
    if setup.gradient_checkpointing:
        flops += 2.0 * n + attn / 3.0
    return flops


def scaling_efficiency(world_size: int) -> float:
    """Cluster efficiency: SCALING_PER_DOUBLING_INTRA per doubling up to a node, _INTER beyond."""
    if world_size <= 1:
        return 1.0
    intra = math.log2(min(world_size, GPUS_PER_NODE))
    inter = math.log2(world_size / GPUS_PER_NODE) if world_size > GPUS_PER_NODE else 0.0
    return SCALING_PER_DOUBLING_INTRA**intra * SCALING_PER_DOUBLING_INTER**inter


def estimate_time_cost(
    model: ModelCard,
    setup: TrainSetup,
    gpu: GPU,
    examples: int,
    avg_tokens: float,
    epochs: float,
    global_batch: int,
    packing: bool,
) -> TimeCost:
    """Estimate tokens, optimizer steps, cluster tokens/s, wall-clock hours and USD of one run."""
    if examples < 0 or avg_tokens <= 0 or epochs <= 0 or global_batch < 1:
        raise ValueError(
            f"estimate_time_cost: examples >= 0, avg_tokens > 0, epochs > 0, global_batch >= 1 "
            f"(found {examples}, {avg_tokens}, {epochs}, {global_batch})"
        )
    notes: list[str] = []
    seq_tokens = min(float(avg_tokens), float(setup.sequence_len))
    if avg_tokens > setup.sequence_len:
        notes.append(f"examples average {avg_tokens:.0f} tokens > sequence_len {setup.sequence_len}: truncated")
    tokens_per_epoch = int(round(examples * seq_tokens))
    total_tokens = int(round(tokens_per_epoch * epochs))

    if packing:
        sequences = math.ceil(tokens_per_epoch / setup.sequence_len)
        steps = math.ceil(sequences * epochs / global_batch)
        compute_tokens = float(total_tokens)
        notes.append(f"packing: {sequences:,} sequences of {setup.sequence_len} tokens per epoch, no padding")
    else:
        steps = math.ceil(examples * epochs / global_batch)
        pad = 1.0 + PAD_OVERHEAD * (1.0 - 1.0 / setup.micro_batch_size)
        compute_tokens = total_tokens * pad
        if pad > 1.0:
            notes.append(f"no packing: dynamic padding costs x{pad:.2f} tokens (micro batch {setup.micro_batch_size})")

    cls = gpu_class(gpu)
    row = THROUGHPUT[cls]
    mfu = row["full"] if setup.method == "full" else row["lora"]
    notes.append(f"MFU {mfu:.2f} of {gpu.tflops_bf16:g} TFLOP/s ({cls} row of THROUGHPUT, {setup.method})")
    if setup.method == "qlora":
        mfu *= QLORA_SPEED
        notes.append(f"QLoRA dequantisation: x{QLORA_SPEED} of LoRA speed (torchtune README, Vertex AI docs)")
    if setup.precision == "fp32" and not gpu.is_cpu:
        mfu *= FP32_SPEED
        notes.append(f"fp32 on TF32 tensor cores: x{FP32_SPEED}")
    if not setup.flash_attention and gpu.flash_attention:
        mfu *= NO_FLASH_SPEED
        notes.append(f"eager attention instead of FlashAttention-2: x{NO_FLASH_SPEED}")

    fpt = flops_per_token(model, setup, seq_tokens)
    base = (6 if setup.method == "full" else 4) + (2 if setup.gradient_checkpointing else 0)
    notes.append(f"{fpt / 1e9:.1f} GFLOP per token ({base}N + attention; Kaplan 2020, PaLM appendix B)")
    per_gpu = gpu.tflops_bf16 * 1e12 * mfu / fpt
    shard = setup.sharding if setup.world_size > 1 else "single"
    eff = scaling_efficiency(setup.world_size) * SHARDING_SPEED[shard]
    if setup.world_size > 1:
        notes.append(f"{setup.world_size} GPUs: scaling efficiency {eff:.2f} (incl. {shard} communication)")
    tps = per_gpu * setup.world_size * eff
    hours = compute_tokens / tps / 3600.0 + STARTUP_HOURS
    notes.append(f"+{STARTUP_HOURS} h fixed start-up (load, quantise, tokenise, save)")
    if gpu.is_cpu:
        notes.append("CPU: a rough order-of-magnitude figure")

    usd = None
    if gpu.usd_per_hour:
        usd = gpu.usd_per_hour * setup.world_size * hours
    else:
        notes.append(f"{gpu.name} has no price: no cost")
    return TimeCost(
        tokens_per_epoch=tokens_per_epoch,
        epochs=epochs,
        total_tokens=total_tokens,
        steps=steps,
        tokens_per_second=tps,
        hours=hours,
        usd=usd,
        assumptions=tuple(notes),
    )


# ----------------------------------------------------------------------------- RL generation (GRPO)
#
# GRPO samples its completions with the model being trained before each optimizer step. Without vLLM this is
# transformers' generate: one decode step per completion token for the whole per-GPU generation batch at once.
# At the small batches RL uses, a decode step is bound by per-layer kernel launches and Python overhead, not
# by FLOPs: ftgen assumes DECODE_SECONDS_PER_LAYER per layer per decode step (eager PyTorch, no CUDA graphs),
# x QLORA_DECODE_SLOWDOWN when bitsandbytes dequantises every weight at every step, and every completion
# running to max_completion_length (an upper bound: RL completions often stop earlier). These are ftgen
# assumptions, not measurements; a GPU run of benchmarks would replace them.
DECODE_SECONDS_PER_LAYER = 1.0e-3
QLORA_DECODE_SLOWDOWN = 2.0
#: vLLM (CUDA graphs, paged KV cache) decodes small batches roughly this much faster than eager generate.
VLLM_DECODE_SPEEDUP = 10.0


def generation_hours(
    model: ModelCard, method: str, steps: int, completion_len: int, use_vllm: bool
) -> tuple[float, str]:
    """Hours GRPO spends sampling completions over `steps` optimizer steps, and how that was estimated."""
    step_s = shapes(model).layers * DECODE_SECONDS_PER_LAYER
    how = f"{shapes(model).layers} layers x {DECODE_SECONDS_PER_LAYER * 1e3:g} ms per decode step"
    if method == "qlora":
        step_s *= QLORA_DECODE_SLOWDOWN
        how += f" x{QLORA_DECODE_SLOWDOWN:g} (4-bit dequantisation)"
    if use_vllm:
        step_s /= VLLM_DECODE_SPEEDUP
        how += f" / {VLLM_DECODE_SPEEDUP:g} (vLLM)"
    hours = steps * completion_len * step_s / 3600.0
    return hours, (
        f"GRPO generation (assumed): {steps:,} steps x {completion_len} tokens x {how} = ~{hours:.1f} h "
        "(completions assumed to run to max_completion_length)"
    )


def with_generation(tc: TimeCost, gen_hours: float, note: str, gpu: GPU, world_size: int) -> TimeCost:
    """`tc` with the generation time added to the hours and the cost."""
    hours = tc.hours + gen_hours
    usd = gpu.usd_per_hour * world_size * hours if gpu.usd_per_hour else None
    return TimeCost(
        tokens_per_epoch=tc.tokens_per_epoch,
        epochs=tc.epochs,
        total_tokens=tc.total_tokens,
        steps=tc.steps,
        tokens_per_second=tc.tokens_per_second,
        hours=hours,
        usd=usd,
        assumptions=(*tc.assumptions, note),
    )

"""Hyperparameter rules: LoRA shape, optimizer, learning rate, epochs, schedule, batch, stage settings."""

from __future__ import annotations

import math

from .. import memory
from . import _fit
from ._context import Context
from ._registry import rule


@rule("FT140", "lora-adapter-shape", order=120)
def lora_shape(ctx: Context) -> None:
    """Set LoRA rank, alpha, dropout and target modules for adapter methods.

    What: rank 16 (8 when the priority is cost; 64 for quality or a high distribution shift), alpha = 2 x
    rank, dropout 0.05, and every linear projection of the transformer blocks as a target.
    Why: the QLoRA paper found that adapting all linear layers, not only attention, is what matches full
    16-bit fine-tuning, and that rank matters less once all layers are adapted; alpha = 2r keeps the
    update scale steady as rank changes (a common default in the frameworks' examples).
    Example: qlora on Qwen2.5-7B -> r 16, alpha 32, dropout 0.05, targets q,k,v,o,gate,up,down_proj.
    References: Dettmers et al. 2023, QLoRA (arXiv:2305.14314) sec. 4; Hu et al. 2021, LoRA
    (arXiv:2106.09685); Axolotl examples (lora_target_linear); LLaMA-Factory examples (lora_target: all).
    """
    if ctx["method"] == "full":
        return
    spec = ctx.spec
    if spec.goals.priority == "cost":
        r, why = 8, "priority cost: a small adapter"
    elif spec.goals.priority == "quality" or spec.data.distribution_shift == "high":
        r, why = (
            64,
            ("priority quality" if spec.goals.priority == "quality" else "high distribution shift")
            + ": more adapter capacity",
        )
    else:
        r, why = 16, "balanced default: rank matters little once all linear layers are adapted (QLoRA paper)"
    r = ctx.decide("lora_r", r, why)
    ctx.decide("lora_alpha", 2 * r, f"alpha = 2 x rank ({r}) keeps the update scale steady")
    ctx.decide("lora_dropout", 0.05, "light regularisation on the adapter path (QLoRA paper: 0.05-0.1)")
    targets = ctx.decide(
        "lora_target_modules",
        list(ctx.facts.model.lora_targets),
        f"all linear projections of {ctx.facts.model.family} blocks (QLoRA paper: all layers)",
    )
    unknown = [t for t in targets if t != "all-linear" and t not in ctx.facts.model.lora_targets]
    try:  # a module the memory model cannot size would fail every later rule that estimates memory
        memory.lora_trainable_params(ctx.facts.model, r, tuple(targets))
    except ValueError as exc:
        ctx.error(
            "overrides.lora_target_modules",
            "ftgen cannot plan for these modules",
            found=unknown,
            allowed=str(exc).split("allowed: ", 1)[-1],
        )
        return
    if unknown and ctx.facts.model.source != "local":
        ctx.warn(
            "overrides.lora_target_modules",
            f"not linear modules of {ctx.facts.model.family} blocks",
            found=unknown,
            allowed=", ".join(ctx.facts.model.lora_targets) + ", all-linear",
        )


@rule("FT141", "optimizer", order=130)
def optimizer(ctx: Context) -> None:
    """Choose the optimizer.

    What: QLoRA -> paged 8-bit AdamW; LoRA and full -> fused AdamW on GPU (plain AdamW on CPU); a full
    fine-tune whose AdamW states do not fit -> 8-bit AdamW.
    Why: paged optimizers move optimizer state to CPU memory during spikes instead of failing (QLoRA paper);
    8-bit AdamW keeps 2 bytes per parameter of state instead of 8 with no measurable quality loss.
    Example: full fine-tune of an 8B model on one 80 GB GPU -> adamw_8bit.
    References: QLoRA (arXiv:2305.14314) paged optimizers; Dettmers et al. 2022, 8-bit optimizers
    (arXiv:2110.02861); transformers OptimizerNames.
    """
    method, cpu = ctx["method"], ctx.facts.gpu.is_cpu
    if method == "qlora" and not cpu:
        ctx.decide("optimizer", "paged_adamw_8bit", "QLoRA: paged 8-bit AdamW absorbs memory spikes")
        return
    base = "adamw_torch" if cpu else "adamw_torch_fused"
    why = "CPU: plain PyTorch AdamW" if cpu else "fused AdamW: fastest exact AdamW on GPU"
    if (
        method == "full"
        and not cpu
        and not _fit.fits(ctx, optimizer=base, micro_batch_size=1, gradient_checkpointing=True)
    ):
        if _fit.fits(ctx, optimizer="adamw_8bit", micro_batch_size=1, gradient_checkpointing=True):
            base, why = "adamw_8bit", "AdamW's 8 bytes/parameter of state do not fit; 8-bit AdamW (2 bytes) does"
    if method == "qlora" and cpu:
        why = "CPU: paged optimizers need CUDA; plain PyTorch AdamW"
    ctx.decide("optimizer", base, why)


_LR = {  # (task family, method) -> (learning rate, source)
    ("sft", "qlora"): (2e-4, "QLoRA paper: 2e-4 for 7B-13B models"),
    ("sft", "lora"): (2e-4, "QLoRA paper / Axolotl LoRA examples: 2e-4"),
    ("sft", "full"): (1e-5, "LLaMA-Factory full-SFT examples: 1e-5"),
    ("pref", "qlora"): (5e-6, "LLaMA-Factory DPO LoRA example: 5e-6"),
    ("pref", "lora"): (5e-6, "LLaMA-Factory DPO LoRA example: 5e-6"),
    ("pref", "full"): (5e-7, "Zephyr (Tunstall et al. 2023, arXiv:2310.16944) full DPO: 5e-7"),
    ("orpo", "qlora"): (8e-6, "ORPO paper (Hong et al. 2024, arXiv:2403.07691): 8e-6"),
    ("orpo", "lora"): (8e-6, "ORPO paper (arXiv:2403.07691): 8e-6"),
    ("orpo", "full"): (5e-6, "ORPO paper (arXiv:2403.07691): 5e-6 for full models"),
    ("grpo", "qlora"): (1e-5, "TRL GRPO docs with LoRA: ~1e-5"),
    ("grpo", "lora"): (1e-5, "TRL GRPO docs with LoRA: ~1e-5"),
    ("grpo", "full"): (1e-6, "TRL GRPOConfig default: 1e-6"),
    ("pretrain", "qlora"): (1e-4, "continued pretraining with adapters: half the SFT rate"),
    ("pretrain", "lora"): (1e-4, "continued pretraining with adapters: half the SFT rate"),
    ("pretrain", "full"): (2e-5, "continued pretraining, full weights: 2e-5"),
}


def _task_family(task: str) -> str:
    return {"dpo": "pref", "kto": "pref"}.get(task, task)


@rule("FT142", "learning-rate", order=140)
def learning_rate(ctx: Context) -> None:
    """Set the peak learning rate by task and method, lower for very large models.

    What: adapters for SFT 2e-4 (1e-4 above 20B parameters); full SFT 1e-5; DPO/KTO 5e-6 with adapters,
    5e-7 full; ORPO 8e-6; GRPO 1e-5 with adapters, 1e-6 full; pretraining 1e-4 / 2e-5.
    Why: adapters start at zero and need large steps; full fine-tunes move pretrained weights and need small
    ones; preference losses are sharp and diverge at SFT rates; the QLoRA paper halves the rate for 33B+.
    Example: qlora sft on Llama-3.1-70B -> 1e-4.
    References: QLoRA (arXiv:2305.14314) appendix B; LLaMA-Factory examples; Zephyr (arXiv:2310.16944);
    ORPO (arXiv:2403.07691); TRL GRPOConfig.
    """
    method, task = ctx["method"], ctx.spec.task
    lr, source = _LR[(_task_family(task), method)]
    if ctx.facts.model.params_b > 20 and method != "full" and task in ("sft", "pretrain"):
        lr, source = (
            lr / 2,
            source + f", halved for a {ctx.facts.model.params_b:.0f}B model (QLoRA paper: 1e-4 for 33B+)",
        )
    ctx.decide("learning_rate", lr, source)


@rule("FT143", "epochs", order=150)
def epochs(ctx: Context) -> None:
    """Set the number of epochs from the dataset size.

    What: under 10K examples 3 epochs; 10K-100K 2; 100K+ 1; preference stages and pretraining 1 (2 under
    10K preference pairs).
    Why: small datasets need repeated passes to move the model; large ones overfit or waste compute on
    repeats; preference losses overfit fast.
    Example: 5,000 alpaca rows -> 3 epochs.
    References: LLaMA-Factory examples (3 epochs on small SFT sets); Zephyr (1-3 DPO epochs);
    QLoRA paper (steps-based budgets); Muennighoff et al. 2023, data-constrained scaling (arXiv:2305.16264).
    """
    n, task = ctx["examples"], ctx.spec.task
    if task == "pretrain":
        ctx.decide("num_epochs", 1, "continued pretraining: one pass over the corpus")
    elif task in ("dpo", "kto", "orpo", "grpo"):
        value = 2 if n < 10_000 else 1
        ctx.decide("num_epochs", value, f"{task} with {n:,} examples: preference and RL losses overfit fast")
    else:
        value = 3 if n < 10_000 else 2 if n < 100_000 else 1
        ctx.decide(
            "num_epochs",
            value,
            f"{n:,} examples: "
            + {3: "small datasets need several passes", 2: "two passes", 1: "one pass is enough at 100K+"}[value],
        )


@rule("FT144", "lr-schedule", order=160)
def lr_schedule(ctx: Context) -> None:
    """Set the learning-rate schedule, warmup and weight decay.

    What: cosine decay with 3% linear warmup and no weight decay.
    Why: warmup protects freshly initialised adapters and optimizer moments from large early steps; cosine
    decay is what both frameworks' examples use; weight decay matters little for short fine-tunes.
    Example: any plan -> lr_scheduler cosine, warmup_ratio 0.03, weight_decay 0.0.
    References: Loshchilov & Hutter 2017, SGDR (arXiv:1608.03983); QLoRA paper (warmup 0.03);
    Axolotl and LLaMA-Factory examples (cosine).
    """
    ctx.decide("lr_scheduler", "cosine", "cosine decay, as in both frameworks' examples")
    ctx.decide("warmup_ratio", 0.03, "3% warmup (QLoRA paper)")
    ctx.decide("weight_decay", 0.0, "short fine-tunes gain little from weight decay")


def _target_global_batch(ctx: Context) -> int:
    n = ctx["examples"]
    return 32 if n >= 100_000 else 16 if n >= 2_000 else 8


@rule("FT145", "batch-and-checkpointing", order=170)
def batch_and_checkpointing(ctx: Context) -> None:
    """Fit micro batch and gradient checkpointing to memory, then accumulate to the target global batch.

    What: target global batch 16 (8 under 2K examples, 32 at 100K+); the micro batch is the largest that
    fits (at most 8, at most the global batch) without gradient checkpointing, and only when that fails
    with it; gradient accumulation makes up the rest. Evaluation runs at the training micro batch
    (`eval_batch_size`: Axolotl eval_batch_size, LLaMA-Factory per_device_eval_batch_size).
    Why: checkpointing saves activation memory at ~30% more compute, so it is switched on only when needed;
    larger micro batches use the GPU better; the global batch sets the optimisation dynamics.
    Example: qlora 8B, seq 2048 on a 24 GB GPU -> micro batch 2 with checkpointing, accumulation 8.
    References: Chen et al. 2016, gradient checkpointing (arXiv:1604.06174); QLoRA paper (batch 16);
    generator/memory.py.
    """
    world = ctx.spec.hardware.world_size
    forced_global, global_batch = ctx.spec_value("global_batch_size")
    if not forced_global:
        global_batch = _target_global_batch(ctx)
    ctx.decide("global_batch_size", global_batch, f"{ctx['examples']:,} examples: a global batch of {global_batch}")
    target = max(1, min(8, global_batch // world))
    vram = _fit.budget_gb(ctx)
    forced_ckpt, ckpt_value = ctx.spec_value("gradient_checkpointing")
    model = ctx.facts.model

    pairs = _fit.pair_factor(ctx)

    def biggest(ckpt: bool) -> int:
        sequences = memory.max_micro_batch(
            model,
            _fit.setup(ctx, gradient_checkpointing=ckpt),
            vram_gb=ctx.facts.gpu.vram_gb,
            cap=target * pairs,
        )
        return sequences // pairs

    if forced_ckpt:
        ckpt = ckpt_value
        mb = biggest(ckpt)
        ckpt_why = "set in the spec"
    else:
        mb = biggest(False)
        if mb >= target:
            ckpt, ckpt_why = False, f"micro batch {target} fits without recomputation"
        else:
            ckpt = True
            mb = biggest(True)
            ckpt_why = f"activations at micro batch {target} exceed memory without it"
    ctx.decide("gradient_checkpointing", ckpt, ckpt_why)
    mb = max(mb, 1)
    mb = ctx.decide(
        "micro_batch_size",
        mb,
        f"largest micro batch (up to {target}) that fits {vram:.1f} GB usable"
        f" with gradient checkpointing {'on' if ckpt else 'off'}",
    )
    ctx.decide("eval_batch_size", mb, "evaluate at the training micro batch (it fits: no gradients in evaluation)")
    accum = max(1, math.ceil(global_batch / (mb * world)))
    ctx.decide(
        "gradient_accumulation_steps",
        accum,
        f"{mb} per GPU x {world} GPU(s) x {accum} = {mb * world * accum} toward the global batch {global_batch}",
    )
    est = _fit.estimate(ctx)
    ctx.extras["memory"] = est
    if est.total_gb > vram:
        ctx.error(
            "overrides.micro_batch_size" if ctx.is_spec("micro_batch_size") else "hardware",
            f"the plan needs ~{est.total_gb:.1f} GB per GPU, more than {vram:.1f} GB usable on {ctx.facts.gpu.name}",
            found=mb,
            allowed="a smaller micro batch, gradient checkpointing, or a cheaper method",
        )


@rule("FT146", "stage-settings", order=175)
def stage_settings(ctx: Context) -> None:
    """Set the preference-loss beta and loss, or the GRPO sampling settings.

    What: DPO sigmoid loss with beta 0.1; KTO beta 0.1; ORPO (odds-ratio loss) beta 0.1; GRPO reward
    functions, generations per prompt and completion length from the spec's `rl` block, generated on the
    training GPUs (no vLLM server: `use_vllm` false). In the configs: LLaMA-Factory `pref_beta` / `pref_loss`,
    Axolotl `rl_beta` and the `trl:` block.
    Why: beta 0.1 is the value the DPO, KTO and ORPO papers and TRL's defaults use; it balances fitting the
    preferences against drifting from the reference model.
    Example: task dpo -> pref_beta 0.1, pref_loss sigmoid.
    References: Rafailov et al. 2023, DPO (arXiv:2305.18290); Ethayarajh et al. 2024, KTO
    (arXiv:2402.01306); ORPO (arXiv:2403.07691); Shao et al. 2024, GRPO (arXiv:2402.03300); TRL docs.
    """
    task = ctx.spec.task
    if task in ("dpo", "kto", "orpo"):
        ctx.decide("pref_beta", 0.1, f"{task.upper()} paper / TRL default beta")
        ctx.decide(
            "pref_loss",
            {"dpo": "sigmoid", "kto": "kto_pair", "orpo": "orpo"}[task],
            {"dpo": "the DPO paper's sigmoid loss", "kto": "KTO loss", "orpo": "ORPO's odds-ratio loss"}[task],
        )
    elif task == "grpo":
        rl = ctx.spec.rl
        ctx.record_spec("reward_funcs", list(rl.reward_funcs), "rl.reward_funcs in the spec")
        ctx.record_spec("num_generations", rl.num_generations, "rl.num_generations (default 8, as in TRL)")
        ctx.record_spec("max_completion_length", rl.max_completion_length, "rl.max_completion_length (default 256)")
        ctx.decide("use_vllm", False, "completions are generated on the training GPUs: no vLLM server to start")


@rule("FT150", "eval-and-save-cadence", order=180)
def eval_and_save(ctx: Context) -> None:
    """Hold out data for eval_loss and set evaluation, checkpoint and logging cadence.

    What: hold out 5% of the training examples (at least 20, at most 1,000 rows) for eval_loss; evaluate and
    save a checkpoint 10 times per run (same cadence, so the best checkpoint is on disk), keep the last 3;
    log about 50 times per run (at most every 10 steps); evaluate on steps (`eval_strategy: steps`) when rows are
    held out, never otherwise; plot the loss curve where the framework can (LLaMA-Factory `plot_loss`).
    Why: a held-out loss is the cheapest overfitting alarm; aligned eval and save steps let a run keep its
    best checkpoint; frequent logging gives the loss curve and the progress bar something to show.
    Example: 12,000 examples, 3 epochs, global batch 16 -> val 5% (600 rows), ~2,140 steps, eval/save every 214.
    References: HF Trainer docs (eval_strategy, save_strategy, load_best_model_at_end); Axolotl
    val_set_size; LLaMA-Factory val_size.
    """
    n = ctx["examples"]
    val_rows = min(1000, max(20, round(n * 0.05)))
    if val_rows >= n / 2:
        val_rows = max(1, n // 10)
    val = ctx.decide("val_set_size", round(val_rows / n, 4), f"{val_rows} of {n:,} examples held out for eval_loss")
    train_n = max(1, round(n * (1 - val)))
    sequences, packed = train_n, ""
    if ctx["packing"]:  # packed sequences hold several examples (95% fill is typical of multipack)
        sequences = max(1, math.ceil(train_n * ctx.facts.data.avg_tokens / (ctx["sequence_len"] * 0.95)))
        packed = f" packed into ~{sequences:,} sequences"
    steps_per_epoch = max(1, math.ceil(sequences / ctx["global_batch_size"]))
    ctx.extras["steps_per_epoch"] = steps_per_epoch
    forced_steps, max_steps = ctx.spec_value("max_steps")
    total = max_steps if forced_steps else math.ceil(steps_per_epoch * ctx["num_epochs"])
    if forced_steps:
        ctx.decide("max_steps", max_steps, "max_steps set in the spec")
    ctx.decide(
        "total_steps",
        total,
        f"{train_n:,} training rows{packed} / global batch {ctx['global_batch_size']} x {ctx['num_epochs']} epoch(s)"
        if not forced_steps
        else "max_steps from the spec",
    )
    every = max(1, total // 10)
    if val:
        ctx.decide("eval_strategy", "steps", f"evaluate on the held-out rows every {every} steps")
    else:
        ctx.decide("eval_strategy", "no", "no rows held out: nothing to evaluate on")
    ctx.decide("eval_steps", every, f"evaluate 10 times over ~{total} steps")
    ctx.decide("save_steps", ctx["eval_steps"], "save on the eval cadence so the best checkpoint is kept")
    ctx.decide("save_total_limit", 3, "keep the last 3 checkpoints")
    ctx.decide("logging_steps", max(1, min(10, total // 50)), f"about 50 log points over ~{total} steps")
    ctx.decide("plot_loss", True, "write the framework's own loss-curve image (training_loss.png)")

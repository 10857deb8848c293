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
    ("pref", "qlora"): (
        5e-6,
        "adapter rate for DPO/KTO: 10 x the full-weight 5e-7 (Zephyr); LLaMA-Factory's DPO LoRA example and "
        "TRL's DPO LoRA command use 5e-6 (Axolotl's DPO/KTO LoRA examples reuse its SFT 1e-4-2e-4)",
    ),
    ("pref", "lora"): (
        5e-6,
        "adapter rate for DPO/KTO: 10 x the full-weight 5e-7 (Zephyr); LLaMA-Factory's DPO LoRA example and "
        "TRL's DPO LoRA command use 5e-6 (Axolotl's DPO/KTO LoRA examples reuse its SFT 1e-4-2e-4)",
    ),
    ("pref", "full"): (5e-7, "Zephyr (Tunstall et al. 2023, arXiv:2310.16944) full DPO: 5e-7"),
    ("orpo", "qlora"): (
        5e-5,
        "adapter rate for ORPO: 10 x the full-weight 5e-6 (ORPO paper, arXiv:2403.07691, whose runs are full "
        "fine-tunes at 5e-6-8e-6), below Axolotl's ORPO QLoRA example (2e-4)",
    ),
    ("orpo", "lora"): (
        5e-5,
        "adapter rate for ORPO: 10 x the full-weight 5e-6 (ORPO paper, arXiv:2403.07691, whose runs are full "
        "fine-tunes at 5e-6-8e-6), below Axolotl's ORPO QLoRA example (2e-4)",
    ),
    ("orpo", "full"): (5e-6, "ORPO paper (arXiv:2403.07691): 5e-6 for full fine-tunes of 7B models"),
    ("grpo", "qlora"): (1e-5, "adapter rate for GRPO: 10 x TRL GRPOConfig's full-weight default 1e-6"),
    ("grpo", "lora"): (1e-5, "adapter rate for GRPO: 10 x TRL GRPOConfig's full-weight default 1e-6"),
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

    What: SFT 2e-4 with adapters (1e-4 above 20B parameters), 1e-5 full; the preference and RL stages take
    the stage's full-weight rate from its paper or trainer and give adapters 10 x that: DPO/KTO 5e-7 full,
    5e-6 adapters; ORPO 5e-6 full, 5e-5 adapters (a full-weight 8e-6 before); GRPO 1e-6 full, 1e-5
    adapters; pretraining 2e-5 full, 1e-4 adapters.
    Why: adapters start at zero and are scaled by alpha / r, so they need larger steps than pretrained weights
    (SFT: 1e-5 full vs 1e-4-2e-4 LoRA in both frameworks' examples, 10-20 x); preference losses are sharp,
    so ftgen takes the low end of that ratio, 10 x. The frameworks' authors disagree on LoRA preference
    rates: Axolotl's DPO, KTO and ORPO LoRA/QLoRA examples use 1e-4-2e-4 (its SFT adapter rate, reused),
    LLaMA-Factory's DPO LoRA example 5e-6. ftgen follows LLaMA-Factory for DPO/KTO (also what TRL's DPO docs
    run with LoRA, and 10 x the Zephyr full-weight rate), because at 1e-4 a DPO adapter drives the implicit
    reward margin up within a few hundred steps and the policy drifts from the reference (the failure beta is
    there to limit); for ORPO, which trains from the base model with an SFT term in its loss, 10 x the
    full-weight rate (5e-5) moves toward Axolotl's 2e-4 without reaching the SFT adapter rate. The QLoRA paper halves the rate for 33B+ models.
    Example: qlora sft on Llama-3.1-70B -> 1e-4; orpo with lora -> 5e-5 (not a full-weight 5e-6-8e-6).
    References: QLoRA (arXiv:2305.14314) appendix B; Zephyr (arXiv:2310.16944); ORPO (arXiv:2403.07691);
    TRL GRPOConfig and DPO docs; the frameworks' example configs in tests/data/corpus (Axolotl
    llama-3_instruct-dpo-lora-8b.yml 2e-4, mistral_dpo_mistral-dpo-qlora.yml 1e-4, mistral_orpo_mistral-qlora-
    orpo.yml 2e-4, llama-3_qlora-1b-kto.yaml 2e-4; LLaMA-Factory train_lora_qwen3_lora_dpo.yaml 5e-6).
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


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


@rule("FT145", "batch-and-checkpointing", order=170)
def batch_and_checkpointing(ctx: Context) -> None:
    """Fit micro batch and gradient checkpointing to memory, then accumulate to exactly the global batch.

    What: target global batch 16 (8 under 2K examples, 32 at 100K+), rounded up to a multiple of the GPU count
    (and, for GRPO, of `num_generations`: TRL counts its batches in completions and needs each optimizer step
    to hold whole groups); the micro batch is the largest divisor of the per-GPU share that fits (at most 8)
    without gradient checkpointing, and only when that fails with it; gradient accumulation makes up the rest,
    so micro batch x GPUs x accumulation equals the global batch. When the spec sets the micro batch or the
    accumulation and the product differs, the decision says so and by how much. Evaluation runs at the
    training micro batch (`eval_batch_size`: Axolotl eval_batch_size, LLaMA-Factory per_device_eval_batch_size).
    Why: the global batch sets the optimisation dynamics (and the learning rates of FT142 go with it); a
    micro batch that does not divide it silently trains at a larger batch (5 x 4 = 20 for a target of 16) with
    fewer, larger steps. Checkpointing saves activation memory at ~30% more compute, so it is switched on only
    when needed; larger micro batches use the GPU better.
    Example: qlora 8B, seq 2048 on a 24 GB GPU, 5 sequences fit -> micro batch 4 (divides 16), accumulation 4;
    GRPO with 8 generations, target 16 -> 16 completions per step (2 prompts x 8).
    References: Chen et al. 2016, gradient checkpointing (arXiv:1604.06174); QLoRA paper (batch 16);
    TRL GRPOTrainer docs (per_device_train_batch_size counts completions; the generation batch must be divisible
    by num_generations); generator/memory.py.
    """
    world = ctx.spec.hardware.world_size
    forced_global, global_batch = ctx.spec_value("global_batch_size")
    unit = world
    grpo = ctx.spec.task == "grpo"
    if grpo:
        gens = ctx.spec.rl.num_generations
        unit = math.lcm(world, gens)
    if not forced_global:
        target = _target_global_batch(ctx)
        global_batch = unit * math.ceil(target / unit)
        why = f"{ctx['examples']:,} examples: a global batch of {target}"
        if global_batch != target:
            why += f", rounded up to {global_batch}, a multiple of " + (
                f"{gens} generations per prompt and {world} GPU(s)" if grpo else f"{world} GPUs"
            )
        if grpo:
            why += f" ({global_batch // gens} prompts x {gens} completions; TRL counts completions)"
    else:
        why = "set in the spec"
    global_batch = ctx.decide("global_batch_size", global_batch, why)
    per_gpu = max(1, global_batch // world)
    target = min(8, per_gpu)
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
        fit = biggest(ckpt)
        ckpt_why = "set in the spec"
    else:
        fit = biggest(False)
        if fit >= target:
            ckpt, ckpt_why = False, f"micro batch {target} fits without recomputation"
        else:
            ckpt = True
            fit = biggest(True)
            ckpt_why = f"activations at micro batch {target} exceed memory without it"
    ctx.decide("gradient_checkpointing", ckpt, ckpt_why)
    fit = max(fit, 1)
    mb = _largest_divisor(per_gpu, fit)
    why = f"largest micro batch (up to {target}) that fits {vram:.1f} GB usable with gradient checkpointing {'on' if ckpt else 'off'}"
    if mb != fit:
        why += f" and divides the {per_gpu} sequences per GPU ({fit} would fit)"
    mb = ctx.decide("micro_batch_size", mb, why)
    ctx.decide("eval_batch_size", mb, "evaluate at the training micro batch (it fits: no gradients in evaluation)")
    accum = max(1, math.ceil(global_batch / (mb * world)))
    accum = ctx.decide(
        "gradient_accumulation_steps",
        accum,
        f"{mb} per GPU x {world} GPU(s) x {accum} = {mb * world * accum}, the global batch",
    )
    actual = mb * world * accum
    if actual != global_batch:
        spec_keys = [
            k for k in ("micro_batch_size", "gradient_accumulation_steps", "global_batch_size") if ctx.is_spec(k)
        ]
        ctx.warn(
            "overrides." + (spec_keys[0] if spec_keys else "micro_batch_size"),
            f"micro batch {mb} x {world} GPU(s) x accumulation {accum} = {actual} sequences per optimizer step, "
            f"not the global batch {global_batch}"
            + (f" (set in the spec: {', '.join(spec_keys)})" if spec_keys else ""),
            found=actual,
            allowed=f"values whose product is {global_batch}",
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
    functions, generations per prompt and completion length from the spec's `rl` block (FT176 decides where the
    completions are generated). In the configs: LLaMA-Factory `pref_beta` / `pref_loss`,
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


@rule("FT150", "eval-and-save-cadence", order=180)
def eval_and_save(ctx: Context) -> None:
    """Hold out data for eval_loss and set evaluation, checkpoint and logging cadence.

    What: hold out 5% of the training examples (at least 20, at most 1,000 rows) for eval_loss; evaluate and
    save a checkpoint 10 times per run (same cadence: every eval_loss has its checkpoint), keep the last 3
    (`load_best_model_at_end` stays off, so the best checkpoint is kept only if it is among the last 3: pick it
    from the logged eval_loss while it is on disk); count steps as the trainer does (GRPO: completions, i.e.
    prompts x num_generations, per global batch);
    log about 50 times per run (at most every 10 steps); evaluate on steps (`eval_strategy: steps`) when rows are
    held out, never otherwise; plot the loss curve where the framework can (LLaMA-Factory `plot_loss`).
    Why: a held-out loss is the cheapest overfitting alarm; aligned eval and save steps mean every measured
    eval_loss belongs to a checkpoint that existed; load_best_model_at_end would reload the best one but
    also needs metric_for_best_model and a save cadence that is a multiple of the eval cadence, and for
    preference and RL stages eval_loss is not a quality measure; frequent logging gives the loss curve and the progress bar something to show.
    Example: 12,000 examples, 3 epochs, global batch 16 -> val 5% (600 rows), ~2,140 steps, eval/save every 214;
    GRPO, 7,125 prompts x 8 generations, global batch 16, 2 epochs -> 7,125 steps.
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
    if ctx.spec.task == "grpo":  # TRL's batches hold completions: each prompt is sampled num_generations times
        gens = ctx.spec.rl.num_generations
        sequences, packed = train_n * gens, f" x {gens} completions each ({train_n * gens:,})"
    elif ctx["packing"]:  # packed sequences hold several examples (95% fill is typical of multipack)
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
    ctx.decide("save_steps", ctx["eval_steps"], "save on the eval cadence: every eval_loss has its checkpoint")
    ctx.decide(
        "save_total_limit",
        3,
        "keep the last 3 checkpoints (load_best_model_at_end is off: an older best checkpoint is deleted)",
    )
    ctx.decide("logging_steps", max(1, min(10, total // 50)), f"about 50 log points over ~{total} steps")
    ctx.decide("plot_loss", True, "write the framework's own loss-curve image (training_loss.png)")


#: Model types whose Liger patch includes the fused linear cross-entropy in LLaMA-Factory 0.9.x
#: (model/model_utils/liger_kernel.py dispatch) and in Axolotl's LigerPlugin (liger_kernel.transformers).
LIGER_FAMILIES = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "phi3", "olmo2")
#: Logits at or above this share of the estimated per-GPU memory "dominate" it.
LOGITS_SHARE = 0.25
_TRITON_ARCHS = ("ampere", "ada", "hopper", "blackwell")


@rule("FT177", "fused-cross-entropy", order=172)
def fused_cross_entropy(ctx: Context) -> None:
    """Switch on Liger's fused linear cross-entropy when the logits dominate GPU memory.

    What: `liger_kernel` true for sft and pretraining on an NVIDIA GPU of Ampere or newer, for a model type
    Liger patches, when the logits are at least 25% of the estimated per-GPU memory (FT145's estimate); false
    otherwise, with the reason. In the configs: Axolotl `plugins: [axolotl.integrations.liger.LigerPlugin]`
    with liger_rope, liger_rms_norm, liger_glu_activation and liger_fused_linear_cross_entropy; LLaMA-Factory
    `enable_liger_kernel: true`. Decided by the target GPU and the plan, never by the machine that builds.
    Why: the loss upcasts batch x sequence x vocabulary logits to fp32 and keeps several copies for the
    backward pass; with a 150K vocabulary that is often more than the activations. The fused kernel computes
    the loss chunk by chunk from the hidden states and never holds the full logits. Preference and RL stages
    need the log-probabilities themselves: LLaMA-Factory switches the fused loss off there (require_logits)
    and TRL's GRPO / DPO compute log-probs from full logits, so ftgen leaves it off for them. The kernels are
    Triton code (CUDA, Ampere+ for bf16); a model type Liger does not patch is only warned about by the
    frameworks, so ftgen does not ask for it. A spec whose framework_overrides set `plugins` or a liger key
    owns them: ftgen leaves Liger off rather than write switches whose plugin the override replaces. ftgen's memory estimate still counts the full logits: the plan
    keeps that margin instead of spending it on a larger micro batch.
    Example: Qwen2.5-7B SFT at sequence 4096 on an A100, logits 30% of the estimate -> liger_kernel true.
    References: Hsu et al. 2024, Liger Kernel (arXiv:2410.10989); LLaMA-Factory model/model_utils/
    liger_kernel.py (enable_liger_kernel, require_logits); Axolotl integrations/liger (LigerPlugin); Axolotl
    0.19 also has chunked_cross_entropy and the Cut Cross-Entropy plugin (its package is installed from GitHub,
    so ftgen does not plan it).
    """
    task, gpu, model = ctx.spec.task, ctx.facts.gpu, ctx.facts.model
    est = ctx.extras.get("memory")
    raw = [k for fw, keys in ctx.spec.framework_overrides.items() for k in keys if k == "plugins" or "liger" in k]
    if raw:  # the spec's raw keys own the plugin list: a rendered plugin would be replaced and its switches orphaned
        ctx.decide("liger_kernel", False, f"framework_overrides set {', '.join(sorted(set(raw)))}: left to them")
        return
    if task not in ("sft", "pretrain"):
        why = f"task {task}: the trainer needs full logits for its log-probabilities"
        value = False
    elif gpu.is_cpu or gpu.arch not in _TRITON_ARCHS:
        why, value = f"{gpu.name}: Liger's Triton kernels need an NVIDIA GPU of Ampere or newer", False
    elif model.family not in LIGER_FAMILIES:
        why, value = f"Liger does not patch {model.family} models", False
    elif est is None or est.total_gb <= 0:
        return
    else:
        logits = est.components.get("logits", 0.0)
        share = logits / est.total_gb
        value = share >= LOGITS_SHARE
        why = f"logits are {logits:.1f} of {est.total_gb:.1f} GiB per GPU ({share:.0%}): " + (
            "the fused cross-entropy never holds them" if value else f"under {LOGITS_SHARE:.0%}, not worth a patch"
        )
    ctx.decide("liger_kernel", value, why)


@rule("FT178", "warmup-steps", order=182)
def warmup_steps(ctx: Context) -> None:
    """Write the warmup as a whole number of optimizer steps where the framework reads steps.

    What: `warmup_steps` = the warmup ratio (FT144) x the planned optimizer steps (FT150), rounded up, at least
    1. LLaMA-Factory's config gets `warmup_steps` as that integer; Axolotl keeps `warmup_ratio` (its validator
    refuses both at once).
    Why: a fractional `warmup_steps` (0.03) means 3% of the steps only on transformers 5, where
    TrainingArguments reads a float below 1 as a ratio; LLaMA-Factory 0.9.5 also runs on transformers
    4.55-4.57, where the same value is cast to 0 steps of warmup. An integer means the same on every version.
    Example: 2,140 planned steps, ratio 0.03 -> warmup_steps 65.
    References: transformers TrainingArguments (warmup_steps, warmup_ratio deprecation in 5.x); LLaMA-Factory
    0.9.5 requirements (transformers >=4.55,<=5.6.0); Axolotl validation check_warmup.
    """
    ratio, total = ctx.get("warmup_ratio"), ctx.get("total_steps")
    if ratio is None or not total:
        return
    steps = max(1, math.ceil(ratio * total)) if ratio > 0 else 0
    ctx.decide("warmup_steps", steps, f"{ratio:g} x {total:,} planned steps, rounded up")

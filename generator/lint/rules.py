"""Domain lint rules (FTL1xx) and checks the frameworks' own validators make (FTL2xx Axolotl, FTL3xx LLaMA-Factory)."""

from __future__ import annotations

import re
from typing import Any

from ..frameworks import axolotl, llamafactory
from ._context import RuleContext
from ._registry import lint_rule

# FTL2xx / FTL3xx mirror one framework's own validator: registered for that framework only.
AX = (axolotl.NAME,)
LF = (llamafactory.NAME,)
_AX_SRC = f"{axolotl.NAME} {axolotl.VERSION} axolotl/utils/schemas/"
_LF_SRC = f"{llamafactory.NAME} {llamafactory.VERSION} llamafactory/hparams/parser.py"


def _truthy(v: Any) -> bool:
    return bool(v) and v not in ("false", "False", "0")


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------- domain rules


@lint_rule("FTL101", "qlora-without-4bit", "error")
def qlora_without_4bit(ctx: RuleContext) -> None:
    """
    What: QLoRA asked for without 4-bit loading (Axolotl `adapter: qlora` without `load_in_4bit: true`, or with
      8-bit loading); in LLaMA-Factory, 4-bit options (quantization_type, double_quantization) without
      `quantization_bit: 4`.
    Why: QLoRA is LoRA on a 4-bit base model; without 4-bit loading the base stays 16-bit and needs about four
      times the weight memory. Axolotl refuses the config; LLaMA-Factory silently trains a 16-bit LoRA.
    Example: `adapter: qlora` with no `load_in_4bit` -> "Require cfg.load_in_4bit to be True for qlora".
    References: QLoRA (arXiv:2305.14314); Axolotl utils/schemas/peft.py validate_qlora;
      LLaMA-Factory QuantizationArguments.
    """
    ctx.fw.lint("FTL101", ctx)


# usual learning-rate ranges; "far outside" is a factor of 5 beyond them
_LR_RANGES = {
    ("adapter", "sft"): (2e-5, 5e-4),
    ("full", "sft"): (5e-6, 5e-5),
    ("adapter", "pref"): (5e-7, 5e-5),
    ("full", "pref"): (1e-7, 5e-6),
}
_PREF = ("dpo", "kto", "orpo", "simpo", "ipo", "grpo")
# optimizers whose learning rates live on another scale (Muon/Dion orthogonalised updates: ~0.02)
_SCALE_FREE = re.compile(r"muon|dion|sinkgd|schedule_free|adafactor|lomo", re.IGNORECASE)


@lint_rule("FTL102", "learning-rate-range", "warning")
def learning_rate_range(ctx: RuleContext) -> None:
    """
    What: a learning rate far (more than 5x) outside the usual range for the method: LoRA/QLoRA 2e-5..5e-4,
      full fine-tune 5e-6..5e-5; preference training (DPO, KTO, ORPO, SimPO, GRPO) an order of magnitude
      lower (LoRA 5e-7..5e-5, full 1e-7..5e-6).
    Why: too high diverges or forgets the base model's skills; too low learns nothing in the steps given.
    Example: `learning_rate: 0.01` with `adapter: lora` -> 20x above the usual LoRA range. Optimizers with their
      own scale (Muon, Dion, Adafactor, LOMO, schedule-free) are not checked.
    References: QLoRA paper (2e-4 / 1e-4); the frameworks' examples; TRL DPO docs (5e-7..5e-6 full).
    """
    lr = _num(ctx.get("learning_rate"))
    method = ctx.get("method")
    if lr is None or lr <= 0 or method is None or _SCALE_FREE.search(str(ctx.get("optimizer", ""))):
        return
    kind = "full" if method == "full" else "adapter"
    family = "pref" if ctx.get("task") in _PREF else "sft"
    lo, hi = _LR_RANGES[(kind, family)]
    what = {"full": "full fine-tune", "adapter": "LoRA/QLoRA"}[kind] + (
        " preference training" if family == "pref" else ""
    )
    if lr > hi * 5:
        ctx.report(
            ctx.key_of("learning_rate"),
            f"learning rate {lr:g} is {lr / hi:.0f}x above the usual {what} range",
            found=lr,
            allowed=f"about {lo:g} to {hi:g}",
        )
    elif lr < lo / 5:
        ctx.report(
            ctx.key_of("learning_rate"),
            f"learning rate {lr:g} is {lo / lr:.0f}x below the usual {what} range",
            found=lr,
            allowed=f"about {lo:g} to {hi:g}",
        )


@lint_rule("FTL103", "lora-rank-alpha", "warning")
def lora_rank_alpha(ctx: RuleContext) -> None:
    """
    What: a LoRA alpha/rank ratio outside 1/8..8 (without rsLoRA), or a rank above 512.
    Why: the adapter's update is scaled by alpha/rank; a tiny ratio barely trains, a huge one is like
      multiplying the learning rate. Ranks above 512 cost about as much as a full fine-tune.
    Example: `lora_r: 64, lora_alpha: 1024` -> scale 16.
    References: LoRA (arXiv:2106.09685) section 4.1; rsLoRA (arXiv:2312.03732) scales by alpha/sqrt(r).
    """
    if ctx.get("method") not in ("lora", "qlora"):
        return
    r, alpha = ctx.get("lora_r"), ctx.get("lora_alpha")
    if not isinstance(r, int) or r <= 0:
        return
    if r > 512:
        ctx.report(
            ctx.key_of("lora_r"),
            f"LoRA rank {r} is very high: it costs about as much as a full fine-tune",
            found=r,
            allowed="8 to 256 usually",
            severity="info",
        )
    if isinstance(alpha, (int, float)) and alpha > 0 and not ctx.get("use_rslora"):
        scale = alpha / r
        if scale < 1 / 8 or scale > 8:
            ctx.report(
                ctx.key_of("lora_alpha"),
                f"lora_alpha/rank = {alpha:g}/{r} = {scale:g}: the update scale is {'tiny' if scale < 1 else 'huge'}",
                found=alpha,
                allowed=f"alpha between {max(1, r // 8)} and {8 * r} (1x-2x rank is usual)",
            )


@lint_rule("FTL104", "sequence-over-context", "warning")
def sequence_over_context(ctx: RuleContext) -> None:
    """
    What: a sequence length above the base model's context window (catalog models only), without RoPE scaling.
    Why: positions past the trained window are out of distribution; quality drops and some architectures fail.
    Example: `sequence_len: 32768` with a 4096-token base model and no rope_scaling.
    References: generator/catalog/models.yaml (max_context from each model's config.json).
    """
    seq, model = ctx.get("sequence_len"), ctx.model
    if not isinstance(seq, int) or model is None or seq <= model.max_context:
        return
    c = ctx.cfg
    overrides = c.get("model_config") or c.get("overrides_of_model_config")
    if c.get("rope_scaling") or (isinstance(overrides, dict) and overrides.get("rope_scaling")):
        return
    ctx.report(
        ctx.key_of("sequence_len"),
        f"sequence length {seq} is above {model.id}'s context window "
        f"({model.max_context} tokens) and no RoPE scaling is set",
        found=seq,
        allowed=f"<= {model.max_context}, or configure rope_scaling",
        when="train",
    )


@lint_rule("FTL105", "bf16-unsupported-gpu", "error")
def bf16_unsupported_gpu(ctx: RuleContext) -> None:
    """
    What: bf16 training asked for on a GPU without bf16 (T4, V100), given with --gpu.
    Why: bf16 needs Ampere or newer; the framework stops at start-up (or falls back to slow emulation).
    Example: `bf16: true` with `ftgen lint --gpu T4` -> use fp16: true.
    References: generator/catalog/gpus.yaml; NVIDIA compute capability 8.0+ for bf16.
    """
    hw = ctx.hardware
    if hw is None or hw.gpu.bf16 or hw.gpu.is_cpu:
        return
    if ctx.get("precision") == "bf16" or _truthy(ctx.cfg.get("pure_bf16")):
        key = "pure_bf16" if _truthy(ctx.cfg.get("pure_bf16")) else ctx.key_of("precision")
        ctx.report(
            key,
            f"bf16 on {hw.gpu.name}, which has no bf16 support",
            found=True,
            allowed="fp16: true (and bf16: false)",
            when="train",
        )


@lint_rule("FTL106", "full-finetune-does-not-fit", "error")
def full_does_not_fit(ctx: RuleContext) -> None:
    """
    What: a full fine-tune whose estimated memory per GPU exceeds the GPU given with --gpu/--gpus (catalog
      models only).
    Why: it runs out of memory at the first step, after the model has loaded.
    Example: full fine-tune of Llama-3.1-8B on one 24 GB GPU -> ~130 GB needed; use LoRA/QLoRA or ZeRO-3.
    References: generator/memory.py (weights, gradients, optimizer states, activations; ZeRO paper).
    """
    hw, model = ctx.hardware, ctx.model
    if hw is None or model is None or ctx.get("method") != "full" or hw.gpu.is_cpu:
        return
    from ..memory import TrainSetup, estimate

    seq = ctx.get("sequence_len") or 512
    mb = ctx.get("micro_batch_size") or 1
    prec = ctx.get("precision") or "bf16"
    ds = str(ctx.get("deepspeed") or "")
    sharding = (
        "zero3_offload"
        if "offload" in ds and "3" in ds
        else "zero3"
        if "3" in ds
        else "zero2"
        if "2" in ds
        else "zero1"
        if "1" in ds
        else "fsdp"
        if ctx.cfg.get("fsdp_config") or ctx.cfg.get("fsdp")
        else "ddp"
    )
    if hw.gpus == 1 and sharding != "zero3_offload":
        sharding = "single"
    try:
        est = estimate(
            model,
            TrainSetup(
                method="full",
                micro_batch_size=int(mb),
                sequence_len=int(seq),
                precision=prec if prec in ("bf16", "fp16", "fp32") else "bf16",
                gradient_checkpointing=bool(ctx.get("gradient_checkpointing", False)),
                world_size=hw.gpus,
                sharding=sharding,
            ),
        )
    except Exception:
        return
    if est.total_gb > hw.gpu.vram_gb:
        ctx.report(
            ctx.key_of("method") if ctx.n.origin.get("method") else "",
            (
                f"full fine-tune of {model.id} needs ~{est.total_gb:.0f} GiB per GPU ({sharding}, micro batch {mb}, "
                f"sequence {seq}); {hw.gpus} x {hw.gpu.name} has {hw.gpu.vram_gb:g} GB each"
            ),
            found=round(est.total_gb, 1),
            allowed=f"<= {hw.gpu.vram_gb:g} GB: LoRA/QLoRA, ZeRO-3 over more GPUs, or a smaller micro batch",
            when="train",
        )


@lint_rule("FTL107", "no-eval-data", "warning")
def no_eval_data(ctx: RuleContext) -> None:
    """
    What: a training config with no evaluation data (Axolotl val_set_size 0 and no test_datasets;
      LLaMA-Factory val_size 0 and no eval_dataset).
    Why: without held-out loss nobody can tell overfitting from learning, or pick the best checkpoint.
    Example: `val_set_size: 0` -> hold out 1-5% (val_set_size: 0.02) or add test_datasets.
    References: ftgen rule FT170 (the build's "build an eval set first"); HF Trainer eval docs.
    """
    c = ctx.cfg
    if not ctx.training:
        return
    held_out = ctx.fw.key_of("val_set_size")
    eval_data = ctx.fw.eval_data_key
    if _num(c.get(held_out)) or c.get(eval_data):
        return
    key = held_out if held_out in c else ""
    ctx.report(
        key,
        "no evaluation data: eval loss is never measured",
        found=c.get(key) if key else None,
        allowed=f"{held_out}: 0.02 (a held-out fraction) or {eval_data}",
    )


@lint_rule("FTL108", "trust-remote-code", "warning")
def trust_remote_code(ctx: RuleContext) -> None:
    """
    What: `trust_remote_code: true`.
    Why: the model repository's Python code runs with the job's credentials; a pinned revision at least
      fixes which code (then this is only info).
    Example: `trust_remote_code: true` -> review the repository's code, pin revision_of_model / model_revision.
    References: transformers docs, "trust_remote_code"; Axolotl ModelInputConfig.hint_trust_remote_code.
    """
    if not _truthy(ctx.cfg.get("trust_remote_code")):
        return
    pinned = any(ctx.cfg.get(k) not in (None, "main") for k in ("revision_of_model", "model_revision"))
    ctx.report(
        "trust_remote_code",
        "runs Python code from the model repository"
        + (" (revision pinned)" if pinned else "; pin a revision and review the code"),
        severity="info" if pinned else "warning",
        found=True,
    )


@lint_rule("FTL109", "quantized-full-finetune", "error")
def quantized_full(ctx: RuleContext) -> None:
    """
    What: 4- or 8-bit loading with a full fine-tune (Axolotl load_in_4bit/8bit without adapter; LLaMA-Factory
      quantization_bit with finetuning_type full or freeze).
    Why: quantised weights cannot be trained directly; both frameworks refuse the config.
    Example: `load_in_4bit: true` without `adapter` -> add adapter: qlora or drop load_in_4bit.
    References: Axolotl utils/schemas/peft.py validate_adapter; LLaMA-Factory hparams/parser.py _verify_model_args.
    """
    ctx.fw.lint("FTL109", ctx)


@lint_rule("FTL110", "fp16-and-bf16", "error")
def fp16_and_bf16(ctx: RuleContext) -> None:
    """
    What: both fp16 and bf16 switched on.
    Why: one mixed-precision mode at a time; transformers' TrainingArguments refuses both.
    Example: `bf16: true, fp16: true` -> keep bf16 (Ampere+) or fp16 (older GPUs).
    References: transformers TrainingArguments.__post_init__ ("At most one of fp16 and bf16 can be True").
    """
    c = ctx.cfg
    if c.get("bf16") is True and c.get("fp16") is True:
        ctx.report(
            "fp16",
            "fp16 and bf16 both true",
            found=True,
            allowed="only one of them",
            when=ctx.fw.traits.precision_conflict,
        )


# ---------------------------------------------------------------------------------------------- Axolotl validators


def _ax(ctx: RuleContext, key: str, message: str, source: str, found: Any = None, allowed: str | None = None) -> None:
    ctx.report(
        key,
        f"{message} (Axolotl refuses the config)",
        found=found,
        allowed=allowed,
        when="validate",
        source=_AX_SRC + source,
    )


@lint_rule("FTL201", "axolotl-warmup-steps-and-ratio", "error", AX)
def ax_warmup(ctx: RuleContext) -> None:
    """
    What: warmup_steps and warmup_ratio both set.
    Why: they say the same thing twice; Axolotl refuses the pair.
    Example: `warmup_steps: 10, warmup_ratio: 0.1` -> keep one.
    References: Axolotl utils/schemas/validation.py check_warmup.
    """
    c = ctx.cfg
    if c.get("warmup_steps") and c.get("warmup_ratio"):
        _ax(
            ctx,
            "warmup_ratio",
            "warmup_steps and warmup_ratio are mutually exclusive",
            "validation.py:301",
            c.get("warmup_ratio"),
            "only one of them",
        )


@lint_rule("FTL202", "axolotl-save-settings", "error", AX)
def ax_saves(ctx: RuleContext) -> None:
    """
    What: save_steps with a save_strategy other than steps, or with saves_per_epoch.
    Why: the settings contradict each other; Axolotl refuses them.
    Example: `save_strategy: epoch, save_steps: 100` -> drop one.
    References: Axolotl utils/schemas/validation.py check_saves.
    """
    c = ctx.cfg
    if c.get("save_strategy") and c.get("save_steps") and c.get("save_strategy") != "steps":
        _ax(
            ctx,
            "save_strategy",
            "save_strategy and save_steps mismatch",
            "validation.py:312",
            c.get("save_strategy"),
            "steps, or remove save_steps",
        )
    if c.get("saves_per_epoch") and c.get("save_steps"):
        _ax(ctx, "saves_per_epoch", "save_steps and saves_per_epoch are mutually exclusive", "validation.py:316")


@lint_rule("FTL203", "axolotl-eval-settings", "error", AX)
def ax_evals(ctx: RuleContext) -> None:
    """
    What: contradictory eval settings: eval_steps with an eval_strategy other than steps; eval settings with
      val_set_size 0 and no test_datasets; evals_per_epoch with eval_steps; val_set_size with test_datasets.
    Why: Axolotl refuses each of these combinations.
    Example: `val_set_size: 0, eval_steps: 50` -> set val_set_size or add test_datasets.
    References: Axolotl utils/schemas/validation.py check_evals, check_val_w_test_datasets.
    """
    c = ctx.cfg
    if c.get("eval_strategy") and c.get("eval_steps") and c.get("eval_strategy") != "steps":
        _ax(
            ctx,
            "eval_strategy",
            "eval_strategy and eval_steps mismatch",
            "validation.py:340",
            c.get("eval_strategy"),
            "steps, or remove eval_steps",
        )
    if (
        c.get("val_set_size") == 0
        and (c.get("eval_steps") or c.get("eval_strategy"))
        and not c.get("test_datasets")
        and c.get("eval_strategy") != "no"
    ):
        _ax(
            ctx,
            "eval_steps" if c.get("eval_steps") else "eval_strategy",
            "eval_steps / eval_strategy with val_set_size 0 and no test_datasets",
            "validation.py:350",
        )
    if c.get("evals_per_epoch") and c.get("eval_steps"):
        _ax(ctx, "evals_per_epoch", "eval_steps and evals_per_epoch are mutually exclusive", "validation.py:354")
    if c.get("test_datasets") and c.get("val_set_size"):
        _ax(
            ctx,
            "val_set_size",
            "non-zero val_set_size with test_datasets",
            "validation.py:118",
            c.get("val_set_size"),
            "0 when test_datasets is set",
        )


@lint_rule("FTL204", "axolotl-early-stopping", "error", AX)
def ax_early_stopping(ctx: RuleContext) -> None:
    """
    What: early_stopping_patience without save_steps and eval_steps, or with eval_steps that do not divide
      save_steps; save_strategy best without metric_for_best_model.
    Why: early stopping and best-checkpoint saving compare evaluations at save points; Axolotl refuses
      configs where they cannot line up.
    Example: `early_stopping_patience: 3` with evals_per_epoch only -> set eval_steps and save_steps.
    References: Axolotl utils/schemas/validation.py check_early_stopping; config.py
      check_save_strategy_best_requires_metric.
    """
    c = ctx.cfg
    if c.get("early_stopping_patience"):
        save, ev = c.get("save_steps"), c.get("eval_steps")
        if not save or not ev:
            _ax(
                ctx,
                "early_stopping_patience",
                "early_stopping_patience requires save_steps and eval_steps",
                "validation.py:1770",
            )
        elif _num(save) and _num(ev) and _num(save) % _num(ev) != 0:
            _ax(
                ctx,
                "eval_steps",
                "early_stopping_patience needs eval_steps to divide save_steps evenly",
                "validation.py:1774",
                ev,
            )
    if c.get("save_strategy") == "best" and not c.get("metric_for_best_model"):
        _ax(
            ctx,
            "save_strategy",
            "save_strategy: best requires metric_for_best_model",
            "config.py:1786",
            "best",
            "set metric_for_best_model (e.g. eval_loss)",
        )


@lint_rule("FTL205", "axolotl-fsdp2-conflicts", "error", AX)
def ax_fsdp2(ctx: RuleContext) -> None:
    """
    What: FSDP2 with a bitsandbytes 8-bit optimizer, or FSDP2 with cpu_ram_efficient_loading and 4-bit loading.
    Why: both fail inside FSDP2 (CUDA op errors; a deadlock in the rank-0 state-dict scatter); Axolotl refuses
      them.
    Example: `fsdp_version: 2, optimizer: adamw_bnb_8bit` -> optimizer: adamw_torch_8bit.
    References: Axolotl utils/schemas/validation.py check_fsdp2_w_8bit_optimizer,
      check_fsdp2_cpu_ram_efficient_loading_w_4bit.
    """
    c = ctx.cfg
    fsdp = c.get("fsdp_config")
    if (
        not isinstance(fsdp, dict)
        or not fsdp
        or str(c.get("fsdp_version", fsdp.get("fsdp_version", fsdp.get("version")))) != "2"
    ):
        return
    if c.get("optimizer") in ("adamw_8bit", "adamw_bnb_8bit"):
        _ax(
            ctx,
            "optimizer",
            f"FSDP2 is not compatible with {c['optimizer']}",
            "validation.py:1260",
            c["optimizer"],
            "adamw_torch_8bit",
        )
    ram = fsdp.get("cpu_ram_efficient_loading", fsdp.get("fsdp_cpu_ram_efficient_loading"))
    if ram and _truthy(c.get("load_in_4bit")):
        key = (
            "fsdp_config.cpu_ram_efficient_loading"
            if "cpu_ram_efficient_loading" in fsdp
            else "fsdp_config.fsdp_cpu_ram_efficient_loading"
        )
        _ax(
            ctx,
            key,
            "FSDP2 does not support cpu_ram_efficient_loading with load_in_4bit",
            "validation.py:1276",
            True,
            "false",
        )


@lint_rule("FTL206", "axolotl-attention-flags", "error", AX)
def ax_attention(ctx: RuleContext) -> None:
    """
    What: attn_implementation together with a legacy attention flag (flash_attention, sdp_attention, ...).
    Why: the legacy flags are deprecated aliases; Axolotl refuses the two together.
    Example: `attn_implementation: sdpa, flash_attention: true` -> keep attn_implementation.
    References: Axolotl utils/schemas/config.py normalize_attn_implementation.
    """
    c = ctx.cfg
    flags = [
        k
        for k in (
            "flash_attention",
            "sdp_attention",
            "xformers_attention",
            "eager_attention",
            "flex_attention",
            "sage_attention",
        )
        if _truthy(c.get(k))
    ]
    if c.get("attn_implementation") and flags:
        _ax(
            ctx,
            flags[0],
            f"attn_implementation cannot be combined with legacy attention flags ({', '.join(flags)})",
            "config.py:1570",
            True,
            "only attn_implementation",
        )


@lint_rule("FTL207", "axolotl-required-settings", "error", AX)
def ax_required(ctx: RuleContext) -> None:
    """
    What: no datasets and no pretraining_dataset; batch_size without micro_batch_size or
      gradient_accumulation_steps; EBFT strided mode with torch_compile and gradient checkpointing.
    Why: Axolotl refuses each of these.
    Example: a config without `datasets:` -> "either datasets or pretraining_dataset is required".
    References: Axolotl utils/schemas/validation.py check_dataset_or_pretraining_dataset,
      check_batch_size_fields, check_ebft_torch_compile.
    """
    c = ctx.cfg
    if c.get("datasets") is None and c.get("pretraining_dataset") is None:
        _ax(ctx, "datasets", "either datasets or pretraining_dataset is required", "validation.py:85")
    if c.get("batch_size") and not (c.get("micro_batch_size") or c.get("gradient_accumulation_steps")):
        _ax(ctx, "batch_size", "batch_size needs micro_batch_size or gradient_accumulation_steps", "validation.py:228")
    if (
        c.get("rl") == "ebft"
        and c.get("torch_compile") is True
        and (c.get("ebft") or {}).get("mode") == "strided"
        and c.get("gradient_checkpointing")
    ):
        _ax(
            ctx,
            "torch_compile",
            "EBFT strided mode: torch_compile with gradient_checkpointing causes CheckpointError",
            "validation.py:1965",
            True,
            "remove torch_compile",
        )


@lint_rule("FTL208", "axolotl-context-parallel-package", "info", AX)
def ax_context_parallel(ctx: RuleContext) -> None:
    """
    What: context_parallel_size above 1.
    Why: Axolotl needs the ring-flash-attn package for it and refuses the config where it is not installed
      (a property of the environment, not of the config).
    Example: `context_parallel_size: 2` -> pip install axolotl[ring-flash-attn] in the training env.
    References: Axolotl utils/schemas/validation.py:1851.
    """
    cp = ctx.cfg.get("context_parallel_size")
    if isinstance(cp, int) and cp > 1:
        ctx.report(
            "context_parallel_size",
            "needs the ring-flash-attn package in the training environment",
            found=cp,
            when="env",
            source=_AX_SRC + "validation.py:1851",
        )


# ---------------------------------------------------------------------------------------------- LLaMA-Factory checks


def _lf(ctx: RuleContext, key: str, message: str, line: int, found: Any = None, allowed: str | None = None) -> None:
    ctx.report(
        key,
        f"{message} (LLaMA-Factory refuses the config)",
        found=found,
        allowed=allowed,
        when="validate",
        source=f"{_LF_SRC}:{line}",
    )


@lint_rule("FTL301", "llamafactory-stage-options", "error", LF)
def lf_stage_options(ctx: RuleContext) -> None:
    """
    What: options that only the SFT stage takes (neat_packing, train_on_prompt, mask_history,
      predict_with_generate) in another stage; an adapter with a non-LoRA fine-tune; do_predict without
      predict_with_generate in SFT.
    Why: LLaMA-Factory's argument checks refuse these combinations before training.
    Example: `stage: dpo, neat_packing: true` -> remove neat_packing.
    References: LLaMA-Factory hparams/parser.py (_verify_model_args, get_train_args).
    """
    c = ctx.cfg
    stage = c.get("stage", "sft")
    if stage != "sft":
        for key, line in (
            ("predict_with_generate", 318),
            ("neat_packing", 321),
            ("train_on_prompt", 324),
            ("mask_history", 324),
        ):
            if _truthy(c.get(key)):
                _lf(ctx, key, f"{key} only works in the sft stage (stage is {stage})", line, True)
    if c.get("adapter_name_or_path") is not None and c.get("finetuning_type", "lora") != "lora":
        _lf(
            ctx,
            "adapter_name_or_path",
            "an adapter is only valid for the LoRA method",
            186,
            c.get("finetuning_type"),
            "finetuning_type: lora",
        )
    if stage == "sft" and _truthy(c.get("do_predict")) and not _truthy(c.get("predict_with_generate")):
        _lf(ctx, "do_predict", "do_predict needs predict_with_generate", 327, True, "predict_with_generate: true")


@lint_rule("FTL302", "llamafactory-data-settings", "error", LF)
def lf_data(ctx: RuleContext) -> None:
    """
    What: do_train without a dataset; do_eval / do_predict without eval_dataset or val_size; streaming
      without max_steps.
    Why: LLaMA-Factory's argument checks refuse these before loading anything.
    Example: `do_eval: true` with no eval_dataset and val_size 0.
    References: LLaMA-Factory hparams/parser.py get_train_args.
    """
    c = ctx.cfg
    if _truthy(c.get("do_train")) and c.get("dataset") is None:
        _lf(ctx, "do_train", "training needs a dataset", 360, True, "dataset: <names in dataset_info.json>")
    if (
        (_truthy(c.get("do_eval")) or _truthy(c.get("do_predict")) or _truthy(c.get("predict_with_generate")))
        and c.get("eval_dataset") is None
        and (_num(c.get("val_size")) or 0) < 1e-6
    ):
        key = next(k for k in ("do_eval", "do_predict", "predict_with_generate") if _truthy(c.get(k)))
        _lf(ctx, key, "evaluation needs eval_dataset or val_size > 0", 365, True)
    if _truthy(c.get("streaming")) and c.get("max_steps") in (None, -1):
        _lf(ctx, "streaming", "streaming mode needs max_steps", 357, True, "max_steps: <n>")

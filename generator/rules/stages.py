"""Rules for what the RL and preference trainers check only once training starts (FT191-FT199)."""

from __future__ import annotations

import math
from pathlib import Path

from . import _fit
from ._context import Context
from ._registry import rule

KTO_MIN_MICRO_BATCH = 2


@rule("FT191", "kto-micro-batch", order=172)
def kto_micro_batch(ctx: Context) -> None:
    """Give KTO a micro batch of at least 2 sequences per GPU.

    What: for task kto, a micro batch the memory fit (FT145) left at 1 becomes 2 (gradient checkpointing is
    switched on when 2 does not fit without it) and accumulation is recomputed toward the global batch; a spec
    that sets `overrides.micro_batch_size: 1`, or a GPU that cannot hold 2 even with checkpointing, is an error.
    Why: TRL's KTOTrainer estimates the KL term from the other completions of the same micro batch and refuses
    to start with one per device ("Actual (not effective) batch size must be > 1. KTO will not work properly
    because the KL term will be equivalent to the implied reward"), after the model has loaded. Axolotl and
    LLaMA-Factory both train KTO with that trainer; neither validator checks it.
    Example: kto, 8B LoRA on a 24 GB GPU where FT145 fits 1 -> micro batch 2 with gradient checkpointing.
    References: TRL trainer/kto_trainer.py (KTOTrainer.__init__, per_device_train_batch_size check; trl 0.24 in
    LLaMA-Factory 0.9.5, trl 1.9 in Axolotl 0.19.0); Ethayarajh et al. 2024, KTO (arXiv:2402.01306).
    """
    if ctx.spec.task != "kto" or "micro_batch_size" not in ctx:
        return
    mb = ctx["micro_batch_size"]
    if mb >= KTO_MIN_MICRO_BATCH:
        return
    if ctx.is_spec("micro_batch_size"):
        ctx.error(
            "overrides.micro_batch_size",
            "KTO needs at least 2 sequences per micro batch: TRL's KTOTrainer refuses 1 (its KL estimate uses the "
            "other completions of the batch)",
            found=mb,
            allowed="micro_batch_size >= 2 (gradient accumulation does not count)",
        )
        return
    ckpt = ctx["gradient_checkpointing"]
    if not _fit.fits(ctx, micro_batch_size=KTO_MIN_MICRO_BATCH, gradient_checkpointing=ckpt):
        if not ckpt and not ctx.is_spec("gradient_checkpointing"):
            ckpt = True
        if not _fit.fits(ctx, micro_batch_size=KTO_MIN_MICRO_BATCH, gradient_checkpointing=ckpt):
            ctx.error(
                "hardware",
                f"KTO needs a micro batch of 2, which does not fit {ctx.facts.gpu.name} "
                f"(~{_fit.estimate(ctx, micro_batch_size=2, gradient_checkpointing=ckpt).total_gb:.1f} GB)",
                found=mb,
                allowed="a larger GPU, a shorter sequence_len, a cheaper method, or task dpo",
            )
            return
        ctx.decide("gradient_checkpointing", True, "KTO's micro batch of 2 fits only with recomputation (FT191)")
    world = ctx.spec.hardware.world_size
    mb = ctx.decide("micro_batch_size", KTO_MIN_MICRO_BATCH, "TRL's KTOTrainer refuses a micro batch of 1")
    ctx.decide("eval_batch_size", mb, "evaluate at the training micro batch")
    forced, _ = ctx.spec_value("gradient_accumulation_steps")
    if not forced:
        accum = max(1, math.ceil(ctx["global_batch_size"] / (mb * world)))
        ctx.decide(
            "gradient_accumulation_steps",
            accum,
            f"{mb} per GPU x {world} GPU(s) x {accum} = {mb * world * accum} toward the global batch "
            f"{ctx['global_batch_size']}",
        )
    product = mb * world * ctx["gradient_accumulation_steps"]
    if product != ctx["global_batch_size"] and not ctx.is_spec("global_batch_size"):
        # 2 per GPU on many GPUs can exceed the global batch FT145 aimed for: the batch that trains is the product
        ctx.decide(
            "global_batch_size",
            product,
            f"KTO's micro batch of 2 x {world} GPU(s) x {ctx['gradient_accumulation_steps']} = {product} sequences "
            f"per optimizer step (FT145 aimed for {ctx['global_batch_size']})",
        )
    ctx.extras["memory"] = _fit.estimate(ctx)


@rule("FT192", "grpo-generation-batch", order=176)
def grpo_generation_batch(ctx: Context) -> None:
    """Make GRPO's generation batch a whole number of prompt groups.

    What: for task grpo, gradient accumulation rises to the smallest value at or above FT145's for which
    micro batch x accumulation is a multiple of `num_generations` and at least num_generations x GPUs; the
    evaluation micro batch becomes a multiple of num_generations per process; num_generations under 2, or a
    micro batch and accumulation both set in the spec that do not divide, are errors.
    Why: TRL's GRPOTrainer samples `num_generations` completions of each prompt and compares them within the
    group, so each generation batch (micro batch x GPUs x steps per generation, which is the accumulation) must
    hold whole groups, and an evaluation batch too. Axolotl's validator refuses the config ("generation batch
    size must be divisible by `trl.num_generations`"; each rank needs a full group); TRL refuses it at start.
    Example: num_generations 8, micro batch 2, accumulation 2 -> accumulation 4 (2 x 4 = 8); eval batch 8.
    References: Axolotl 0.19.0 utils/schemas/validation.py check_grpo_batch_size_divisibility; TRL
    trainer/grpo_config.py (generation_batch_size, steps_per_generation) and grpo_trainer.py; Shao et al. 2024,
    GRPO (arXiv:2402.03300).
    """
    if ctx.spec.task != "grpo" or "micro_batch_size" not in ctx or not ctx.get("num_generations"):
        return
    ng = ctx["num_generations"]
    if ng < 2:
        ctx.error(
            "rl.num_generations",
            "GRPO compares completions of the same prompt: with fewer than 2 every advantage is zero",
            found=ng,
            allowed="2 or more (TRL's default is 8)",
        )
        return
    mb, accum = ctx["micro_batch_size"], ctx["gradient_accumulation_steps"]
    world = ctx.spec.hardware.world_size
    forced_accum, _ = ctx.spec_value("gradient_accumulation_steps")
    ok = (mb * accum) % ng == 0 and mb * accum >= ng * world
    if not ok and forced_accum:
        ctx.error(
            "overrides.gradient_accumulation_steps",
            f"GRPO's generation batch (micro batch {mb} x accumulation {accum} = {mb * accum}) must hold whole "
            f"groups of num_generations {ng} completions, at least one group per GPU ({world})",
            found=accum,
            allowed=f"an accumulation that makes {mb} x accumulation a multiple of {ng} and at least {ng * world}",
        )
        return
    if not ok:
        step = ng // math.gcd(ng, mb)  # the smallest accumulation that makes mb x accum a multiple of ng
        need = max(accum, math.ceil(ng * world / mb))
        new = step * math.ceil(need / step)
        ctx.decide(
            "gradient_accumulation_steps",
            new,
            f"micro batch {mb} x {new} = {mb * new} completions per generation batch: whole groups of "
            f"num_generations {ng}",
        )
        ctx.decide("global_batch_size", mb * new * world, f"{mb} per GPU x {world} GPU(s) x {new} accumulation")
    eval_mb = ctx.get("eval_batch_size") or mb
    if (eval_mb * world) % ng:
        per_rank = ng // math.gcd(ng, world)  # the smallest eval batch per process whose global batch holds groups
        ctx.decide(
            "eval_batch_size",
            per_rank * max(1, eval_mb // per_rank),
            f"evaluation batches hold whole groups of num_generations {ng} completions",
        )


@rule("FT193", "grpo-prompt-transform", order=177)
def grpo_prompt_transform(ctx: Context) -> None:
    """Turn GRPO dataset rows into prompts with a transform ftgen ships beside the config.

    What: for task grpo, each dataset gets `type: ftgen_grpo.<function>` and the build writes ftgen_grpo.py next
    to the config: alpaca rows become one user turn (a model with a chat template: TRL formats it with the
    model's template) or the alpaca prompt text (a base model: the format SFT on alpaca data uses); messages and
    sharegpt rows become the turns before the last assistant turn. That last answer (alpaca: `output`) is the
    `answer` column the reward functions receive; every other column reaches them too.
    Why: TRL's GRPOTrainer reads a `prompt` column; without a transform `type:` Axolotl passes the rows through
    as they are and training fails on the first batch (KeyError 'prompt'). A prompt format other than the one
    the model is served with rewards completions of the wrong prompts.
    Example: Qwen2.5-1.5B-Instruct, alpaca data -> `type: ftgen_grpo.alpaca_chat`.
    References: Axolotl 0.19.0 utils/data/rl.py _load_split (a GRPO dataset `type:` loads through
    prompt_strategies/dpo); TRL trainer/grpo_trainer.py (the `prompt` column; conversational prompts);
    Axolotl docs/rlhf.qmd (GRPO datasets).
    """
    if ctx.spec.task != "grpo":
        return
    formats = {t.format for t in ctx.spec.data.train}
    if len(formats) != 1:
        ctx.error(
            "data.train",
            "GRPO prompts come from one dataset transform: every training dataset needs the same format",
            found=sorted(formats),
            allowed="one of alpaca, messages, sharegpt for all datasets",
        )
        return
    fmt = formats.pop()
    chat = _has_chat_template(ctx)
    if fmt == "alpaca":
        name = "alpaca_chat" if chat else "alpaca_text"
        why = (
            f"alpaca rows as one user turn in {ctx.facts.model.id}'s chat template"
            if chat
            else f"alpaca rows as alpaca prompts: {ctx.facts.model.id} has no chat template"
        )
    elif fmt in ("messages", "sharegpt"):
        if not chat:
            ctx.error(
                "base_model",
                f"GRPO on {fmt} data formats the prompt turns with the model's chat template; "
                f"{ctx.facts.model.id} has none",
                found=ctx.facts.model.id,
                allowed="an instruct / chat model, or alpaca data",
            )
            return
        name = f"{fmt}_chat"
        why = f"{fmt} turns before the last assistant turn, in {ctx.facts.model.id}'s chat template"
    else:
        return  # spec validation refuses other formats for grpo
    ctx.decide("grpo_transform", f"ftgen_grpo.{name}", why + " (ftgen_grpo.py ships beside the config)")


def _has_chat_template(ctx: Context) -> bool:
    """Whether the model formats prompts with a chat template (instruct / chat models)."""
    return ctx.facts.model.chat


@rule("FT194", "reward-modules", order=178)
def reward_modules(ctx: Context) -> None:
    """Ship the GRPO reward modules with the build, importable where the trainer runs.

    What: for task grpo, each module of `rl.reward_funcs` that sits beside the spec is located without running
    it (importlib's PathFinder, the way `import` would find it there) and copied next to the config, with the
    `__init__.py` files of its packages; launch.sh and `ftgen run` put the config's folder on PYTHONPATH (after
    launch.sh clears the caller's). A module installed in the framework env (listed in allow_imports) is
    imported from there and not copied.
    Why: Axolotl imports `trl.reward_funcs` by name (import_module) inside the trainer process, whose working
    folder is the output (or run) folder and whose PYTHONPATH launch.sh unsets: a module left beside the spec
    is not found and training stops after the model has loaded.
    Example: rl.reward_funcs [rewards.correct_answer] with rewards.py beside the spec -> outputs/<name>/rewards.py.
    References: Axolotl 0.19.0 core/trainers/grpo/__init__.py (reward functions: importlib.import_module);
    Python docs, importlib.machinery.PathFinder.find_spec.
    """
    if ctx.spec.task != "grpo":
        return
    from .._imports import locate

    base = ctx.spec.base_dir
    files: list[str] = []
    for name in ctx.spec.rl.reward_funcs:
        module = name.rsplit(".", 1)[0]
        path = locate(module, base)
        if path is None:
            continue  # an installed module (spec validation allowed it through allow_imports)
        rel = path.resolve().relative_to(base.resolve())
        parts = rel.parts
        for i in range(1, len(parts)):  # the packages above a dotted module
            init = Path(*parts[:i], "__init__.py")
            if (base / init).is_file() and init.as_posix() not in files:
                files.append(init.as_posix())
        if rel.as_posix() not in files:
            files.append(rel.as_posix())
    if files:
        ctx.decide("reward_files", files, "reward modules beside the spec, copied next to the config")


@rule("FT195", "preference-prompt-format", order=179)
def preference_prompt_format(ctx: Context) -> None:
    """Format DPO / ORPO / KTO prompts as SFT and evaluation do: the model's chat template, else alpaca.

    What: for tasks dpo, orpo and kto in Axolotl, each dataset gets `type: ftgen_prefs.<function>` and the build
    writes ftgen_prefs.py next to the config: a model with a chat template gets the prompt as one user turn in
    that template (Axolotl sets the tokenizer's template from `chat_template`) and each answer as the template
    continues it; a base model gets the alpaca prompt. LLaMA-Factory formats the same rows with its `template`
    (FT107).
    Why: Axolotl's field-mapping types (`type: {field_prompt: ...}`) train on the bare prompt text, so a model
    aligned that way is trained on another prompt format than the one it is served and evaluated with; Axolotl's
    ORPO chat-template strategy (chat_template.argilla) reads message lists, not ftgen's prompt/chosen/rejected.
    Example: Qwen2.5-1.5B-Instruct, task orpo -> `rl: orpo`, `type: ftgen_prefs.pairs_chat`.
    References: Axolotl 0.19.0 prompt_strategies/dpo/chat_template.py and orpo/chat_template.py (how Axolotl cuts
    a templated answer after its prompt), utils/data/rl.py _load_split; TRL DPOTrainer / KTOTrainer dataset
    formats (prompt, chosen, rejected; prompt, completion, label).
    """
    task = ctx.spec.task
    if task not in ("dpo", "orpo", "kto"):
        return
    chat = _has_chat_template(ctx)
    kind = "kto" if task == "kto" else "pairs"
    style = "chat" if chat else "alpaca"
    why = (
        f"prompts as one user turn in {ctx.facts.model.id}'s chat template, as SFT and eval format them"
        if chat
        else f"alpaca prompts: {ctx.facts.model.id} has no chat template"
    )
    ctx.decide("pref_transform", f"ftgen_prefs.{kind}_{style}", why + " (ftgen_prefs.py ships beside the config)")

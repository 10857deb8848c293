"""The seed decision tree: task stage, the data-size gate, the method, adapters, the framework."""

from __future__ import annotations

from pathlib import Path

from .. import frameworks, targets
from . import _fit
from ._context import Context
from ._registry import rule

SMALL, MEDIUM, LARGE = 1_000, 10_000, 100_000
_CHEAPER = {"full": "lora", "lora": "qlora"}


@rule("FT100", "task-stage", order=10)
def task_stage(ctx: Context) -> None:
    """Decide the training stage from the spec's task.

    What: sft -> supervised fine-tuning; dpo / kto / orpo -> preference stages; pretrain -> continued
    pretraining on raw text; grpo -> online RL with reward functions. In the configs: LLaMA-Factory `stage`
    (with `do_train: true`; ORPO is stage dpo with `pref_loss: orpo`), Axolotl `rl` (none for sft and
    pretraining) and, for KTO, `remove_unused_columns: false` (Axolotl's validator requires it).
    Why: the stage selects the trainer (TRL's SFT/DPO/KTO/ORPO/GRPO trainers behind both frameworks) and the
    dataset shape each trainer expects.
    Example: `task: dpo` -> LLaMA-Factory `stage: dpo`, Axolotl `rl: dpo`.
    References: the seed decision tree ("RL: the preference/RL stages"); LLaMA-Factory README (stages);
    Axolotl docs/rlhf.qmd.
    """
    task = ctx.spec.task
    if "task" in ctx.spec.lines:
        ctx.record_spec("task", task, f"task {task} set in the spec")
    else:
        ctx.decide("task", task, "no task in the spec: supervised fine-tuning (sft) is the default")


@rule("FT101", "too-few-examples", order=20)
def too_few_examples(ctx: Context) -> None:
    """Refuse to fine-tune on fewer than 1,000 examples unless the spec sets a method explicitly.

    What: with fewer than 1,000 training examples the build stops (exit 2) and suggests few-shot prompting
    or retrieval (RAG) instead; an explicit `method:` in the spec proceeds with a warning. Examples are counted
    unique (exact duplicate rows once, FT174) where the training files are local; the `examples` decision
    keeps the row count the trainer sees, with the unique count beside it. FT102's size branches count the same
    unique examples.
    Why: below ~1K examples a fine-tune rarely beats a well-prompted base model and overfits easily; the
    seed's first branch is "fewer than 1K examples: don't fine-tune".
    Example: `data.examples: 400`, `method: auto` -> error "400 training examples is fewer than 1,000 ...";
    a 1,500-row file with 531 unique rows -> "531 training examples is fewer than 1,000 (1,500 rows, 531 unique)".
    References: the seed decision tree; LIMA (Zhou et al. 2023, arXiv:2305.11206) for what ~1K curated
    examples can do.
    """
    n = ctx.facts.data.examples
    key = "data.examples"
    unique = ctx.facts.data.unique_examples
    ctx.decide(
        "examples",
        n,
        ("counted from the local training files" if ctx.facts.data.measured else "given in the spec (data.examples)")
        + (f"; {unique:,} of them unique (FT174)" if unique is not None and unique < n else ""),
    )
    counted = _unique(ctx)
    if counted >= SMALL:
        return
    message = (
        f"{counted:,} training examples is fewer than 1,000"
        + (f" ({n:,} rows, {counted:,} unique)" if counted != n else "")
        + ": fine-tuning is unlikely to beat few-shot "
        "prompting or retrieval-augmented generation (RAG) on the base model; try those first"
    )
    if ctx.spec.method == "auto":
        ctx.error(
            key,
            message,
            found=n,
            allowed="at least 1,000 examples, or an explicit `method:` (qlora, lora, full) to fine-tune anyway",
        )
    else:
        ctx.warn(key, message + f"; proceeding because the spec sets method: {ctx.spec.method}")


def _size_branch(n: int) -> str:
    return "under 1K" if n < SMALL else "1K-10K" if n < MEDIUM else "10K-100K" if n < LARGE else "100K+"


def _unique(ctx: Context) -> int:
    """The examples the decision tree counts: unique rows where the files were read (FT174), else the spec's count."""
    data = ctx.facts.data
    return data.unique_examples if data.unique_examples is not None else data.examples


@rule("FT102", "method-from-data", order=60)
def method_from_data(ctx: Context) -> None:
    """Pick QLoRA, LoRA or a full fine-tune from the branch of the seed decision tree that applies.

    What: 1K-10K examples -> QLoRA; 10K-100K -> QLoRA (with multi-turn instruction data for a unique
    domain); 100K+ -> LoRA, or a full fine-tune when the shift is high, the priority is not cost and the
    hardware fits it. Preference stages (dpo, kto, orpo) take the method of their data-size branch. GRPO is the
    seed's RL branch, which places RL in full fine-tune territory (TRL): ftgen trains LoRA on the 16-bit base
    when it fits (QLoRA when only that fits), and a full fine-tune only for priority quality when it fits. An
    explicit `method:` in the spec wins. `tree_branch` records the branch and why, for PLAN.md's summary.
    Why: adapters on a 4-bit base match 16-bit fine-tuning quality on instruction data at a fraction of the
    memory (QLoRA paper); with 100K+ examples of a genuinely new distribution, more trainable capacity pays.
    In RL each episode carries few bits, so LoRA learns as much as full weights ("LoRA Without Regret"); GRPO's
    time goes to sampling completions, which a 4-bit base slows down (every weight is dequantised at every
    decode step), so the 16-bit base is worth its memory when it fits.
    Example: 12,000 alpaca rows, shift low -> method qlora; grpo on Qwen2.5-1.5B with 7,500 prompts on an
    H100 -> lora.
    References: the seed decision tree; Dettmers et al. 2023, QLoRA (arXiv:2305.14314); Biderman et al.
    2024, "LoRA Learns Less and Forgets Less" (arXiv:2405.09673); Schulman et al. 2025, "LoRA Without Regret"
    (Thinking Machines Lab); TRL GRPOTrainer docs.
    """
    spec = ctx.spec
    n = _unique(ctx)
    size = _size_branch(n)
    if spec.method != "auto":
        ctx.record_spec("method", spec.method, f"method {spec.method} set in the spec")
        ctx.decide(
            "tree_branch",
            "spec",
            f"the spec sets method {spec.method}; the tree's {size} branch would have decided otherwise"
            if spec.method != _tree_method(ctx, n)
            else f"the spec sets method {spec.method}, as the tree's {size} branch would",
        )
        return
    if spec.task == "grpo":
        _rl_branch(ctx, n)
        return
    method, why = _by_size(ctx, n)
    ctx.decide("method", method, why)
    stage = f"{size} ({spec.task} preference stage)" if spec.task in _PREF else size
    ctx.decide("tree_branch", stage, why)


_PREF = ("dpo", "kto", "orpo")


def _tree_method(ctx: Context, n: int) -> str:
    if ctx.spec.task == "grpo":
        return "lora"
    return _by_size(ctx, n, quiet=True)[0]


def _by_size(ctx: Context, n: int, quiet: bool = False) -> tuple[str, str]:
    spec = ctx.spec
    shift = spec.data.distribution_shift
    if n < MEDIUM:
        return "qlora", (
            f"{n:,} examples (1K-10K): QLoRA trains adapters on a 4-bit base, "
            "enough capacity for this much data at the lowest memory"
        )
    if n < LARGE:
        if not quiet and spec.data.unique_domain and not spec.data.multi_turn:
            ctx.info(
                "data.multi_turn",
                "a unique domain with 10K-100K examples learns best from multi-turn "
                "instruction data; consider converting single-turn rows to conversations",
            )
        return "qlora", (
            f"{n:,} examples (10K-100K): QLoRA"
            + (" with multi-turn instruction data for a unique domain" if spec.data.unique_domain else "")
        )
    if (
        shift == "high"
        and spec.goals.priority != "cost"
        and _fit.fits(ctx, method="full", micro_batch_size=1, gradient_checkpointing=True, sharding=_full_sharding(ctx))
    ):
        return "full", (
            f"{n:,} examples (100K+) with high distribution shift, priority "
            f"{spec.goals.priority}, and a full fine-tune fits the hardware"
        )
    why = f"{n:,} examples (100K+)"
    if shift == "high":
        why += (
            " with high distribution shift; a full fine-tune does not fit the hardware"
            if spec.goals.priority != "cost"
            else " with high distribution shift but priority cost"
        )
    else:
        why += f" with {shift} distribution shift: LoRA on a 16-bit base trains faster than QLoRA at this scale"
    return "lora", why


def _rl_branch(ctx: Context, n: int) -> None:
    spec = ctx.spec
    sharding = _full_sharding(ctx)
    full_fits = _fit.fits(ctx, method="full", micro_batch_size=1, gradient_checkpointing=True, sharding=sharding)
    lora_fits = _fit.fits(ctx, method="lora", micro_batch_size=1, gradient_checkpointing=True)
    branch = "the seed places RL in full fine-tune / TRL territory"
    if spec.goals.priority == "quality" and full_fits:
        method, why = "full", "priority quality and a full fine-tune fits the hardware"
    elif lora_fits:
        method, why = (
            "lora",
            (
                "LoRA on the 16-bit base instead: in RL LoRA learns as much as full weights (LoRA Without Regret) at "
                "a fraction of the optimizer memory, and a 16-bit base samples completions faster than a 4-bit one"
                + ("" if full_fits else "; a full fine-tune does not fit the hardware")
            ),
        )
    else:
        method, why = "qlora", "only QLoRA fits the hardware (a 4-bit base slows sampling)"
    ctx.decide("method", method, f"{n:,} prompts, task grpo: {why}")
    ctx.decide("tree_branch", "RL (GRPO)", f"{branch}; {why}")


def _full_sharding(ctx: Context) -> str:
    return "zero3" if ctx.spec.hardware.world_size > 1 else "single"


@rule("FT103", "many-adapters-lora", order=70)
def many_adapters(ctx: Context) -> None:
    """Serve many fine-tunes from one base: train LoRA adapters, not full weights.

    What: with `goals.serve_many_adapters`, a full fine-tune becomes LoRA, and QLoRA becomes LoRA when
    LoRA fits the hardware (adapters trained on the 16-bit base match the base they are served on).
    Why: one base model in GPU memory can serve hundreds of adapters (multi-LoRA serving in vLLM, S-LoRA);
    full fine-tunes each need their own copy of the weights.
    Example: 50K rows, serve_many_adapters true -> lora instead of qlora on an 80 GB GPU.
    References: the seed decision tree ("many adapters on one base: LoRA"); Sheng et al. 2023, S-LoRA
    (arXiv:2311.03285); vLLM docs, LoRA adapters.
    """
    if not ctx.spec.goals.serve_many_adapters:
        return
    method = ctx["method"]
    ctx.decide(
        "tree_branch",
        "many adapters on one base",
        "goals.serve_many_adapters: the seed's many-adapters branch (LoRA adapters served from one base)"
        + (f"; before it: {ctx.decisions['tree_branch'].because}" if "tree_branch" in ctx else ""),
    )
    if method == "full":
        if ctx.is_spec("method"):
            ctx.error(
                "method",
                "a full fine-tune produces full weights, but goals.serve_many_adapters asks for "
                "adapters served from one base",
                found="full",
                allowed="lora or qlora",
            )
        else:
            ctx.decide("method", "lora", "goals.serve_many_adapters: LoRA adapters share one base model when served")
    elif method == "qlora" and not ctx.is_spec("method"):
        if _fit.fits(ctx, method="lora", micro_batch_size=1, gradient_checkpointing=True):
            ctx.decide(
                "method",
                "lora",
                "goals.serve_many_adapters and LoRA fits: adapters trained on the 16-bit "
                "base match the base they are served on",
            )
        else:
            ctx.info(
                "method",
                "serve_many_adapters prefers LoRA, but only QLoRA fits the hardware; "
                "QLoRA adapters still serve on the 16-bit base",
            )


@rule("FT104", "framework-choice", order=80)
def framework_choice(ctx: Context) -> None:
    """Choose which framework config(s) to write.

    What: `framework: auto` -> the framework whose module prefers the task (Axolotl for sft, pretrain and grpo;
    LLaMA-Factory for dpo, kto and orpo), else the first that supports it; `both` writes every framework that
    supports the task; an explicit framework that cannot run the task is an error naming the ones that can.
    Why: Axolotl is the one with GRPO and packs samples with multipack for SFT and pretraining; LLaMA-Factory
    expresses every preference stage with one `stage:` key and its DPO was measured to run on this kind of
    machine (shared/frameworks.md).
    Example: `task: dpo`, `framework: auto` -> [llamafactory].
    References: generator/targets.py and each module's `targets` / `preferred` (generator/frameworks/);
    Axolotl docs/rlhf.qmd; LLaMA-Factory README.
    """
    spec, task = ctx.spec, ctx.spec.task
    method = ctx.get("method")
    able = [name for name in frameworks.names() if targets.supports(name, task, method)]
    if spec.framework == "auto":
        choice = targets.auto_choice(task, method)
        if choice is None:
            ctx.error("task", f"no framework runs task {task} with method {method}", found=task)
            return
        ctx.decide("frameworks", [choice[0]], choice[1])
        return
    wanted = list(frameworks.names()) if spec.framework == "both" else [spec.framework]
    for fw in wanted:
        if fw not in able:
            ctx.error(
                "framework",
                targets.why_not(fw, task),
                found=spec.framework,
                allowed=", ".join(able) if able else "no framework supports this task",
            )
    ctx.record_spec("frameworks", [fw for fw in wanted if fw in able], f"framework {spec.framework} set in the spec")


@rule("FT105", "model-and-data", order=15)
def model_and_data(ctx: Context) -> None:
    """Record the base model and the training datasets the configs load.

    What: `base_model` as the hub knows it (a catalog alias or a lock's requested spelling resolved to the hub's
    canonical id, never written verbatim), or a local folder relative to the spec; for a model resolved through the
    lock file, `model_revision`: the commit the lock pins (Axolotl `revision_of_model`, LLaMA-Factory
    `model_revision`), so the trainer downloads the revision the plan's facts were read at; and one entry per
    `data.train` item: its path (local files relative to the spec), `source` (file or hub), `format` and a split
    other than train. Every framework config references them from here (Axolotl `base_model`, `datasets`;
    LLaMA-Factory `model_name_or_path`, `dataset` / `dataset_dir` and the entries of dataset_info.json), with
    local paths rebased to the build folder.
    Why: the model and the data are the first things a reviewer wants to see change; as decisions they are in
    plan.json, so `ftgen review` shows them like any other value.
    Example: `data.train: [{path: data/train.jsonl, format: alpaca}]` -> datasets [{path: data/train.jsonl,
    source: file, format: alpaca}]; in outputs/<name>/axolotl.yaml the path reads ../../data/train.jsonl.
    References: the spec schema (schemas/spec.schema.json); Axolotl docs/dataset-formats; LLaMA-Factory
    data/README.md (dataset_info.json).
    """
    spec = ctx.spec
    model = ctx.facts.model
    if model.source == "local" or model.id == spec.base_model:
        ctx.record_spec("base_model", spec.base_model, "base_model in the spec")
    else:
        ctx.record_spec("base_model", model.id, "base_model in the spec, written as the hub's canonical id")
    if model.revision:
        ctx.record_spec(
            "model_revision",
            model.revision,
            f"the commit {Path(model.lock_file).name if model.lock_file else 'the lock file'} pins: the trainer loads "
            "the weights the plan was made for, not whatever the hub's main branch holds at run time",
        )
    items = []
    for entry in spec.data.train:
        path = Path(entry.path)
        local = (path if path.is_absolute() else spec.base_dir / path).exists()
        item = {"path": entry.path, "source": "file" if local else "hub", "format": entry.format}
        if entry.split != "train":
            item["split"] = entry.split
        items.append(item)
    ctx.record_spec("datasets", items, "data.train in the spec")


@rule("FT107", "chat-template", order=85)
def chat_template(ctx: Context) -> None:
    """Name the model's prompt template in each framework config that formats prompts with one.

    What: for each chosen framework whose configs format prompts through a named template (LLaMA-Factory for
    every stage but pretraining; Axolotl for conversation data, `type: chat_template`, and, with a model that has
    a chat template, for alpaca SFT rows through the `ftgen_sft.alpaca_chat` strategy the build ships and for the
    preference stages, FT195), the model's template as that framework names it, from the model catalog (a local
    model: its tokenizer's template, else the family's). A base model (no chat template) trains on alpaca prompts
    in both frameworks (LLaMA-Factory `template: alpaca`, Axolotl `type: alpaca`): one prompt format per spec,
    the one evaluation scores with. The value maps framework -> template name (Axolotl `chat_template`,
    LLaMA-Factory `template`); null for a framework that formats this data without one.
    Why: a model fine-tuned on another template than the one it is served with answers worse; the two
    frameworks name the same template differently (Qwen2.5: Axolotl `qwen_25`, LLaMA-Factory `qwen`).
    Example: Llama-3.1-8B-Instruct, sft on messages, framework both -> {axolotl: llama3, llamafactory: llama3}.
    References: generator/catalog/models.yaml; Axolotl 0.19.0 utils/schemas/enums.py ChatTemplate,
    prompt_strategies/__init__.py load (a `pkg.module` type) and chat_template.py; LLaMA-Factory 0.9.5
    data/template.py (`alpaca`).
    """
    task = ctx.spec.task
    formats = tuple(t.format for t in ctx.spec.data.train)
    card = ctx.facts.model
    value = {}
    for name in ctx.get("frameworks") or []:
        fw = frameworks.get(name)
        value[name] = fw.model_template(card) if fw.uses_template(task, formats, chat=card.chat) else None
    if any(value.values()):
        ctx.decide("chat_template", value, f"{card.id}'s prompt template as each framework names it (model catalog)")

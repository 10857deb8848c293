"""Plan-wide checks: time and cost against the budget, the eval set, remote code, gated models."""

from __future__ import annotations

from .. import throughput
from . import _fit
from ._context import Context
from ._registry import rule


def _time_cost(ctx: Context, **changes) -> throughput.TimeCost:
    epochs = ctx["num_epochs"]
    if ctx.get("max_steps"):
        epochs = ctx["max_steps"] / ctx.extras["steps_per_epoch"]
    examples, avg_tokens = ctx["examples"], ctx.facts.data.avg_tokens
    grpo = ctx.spec.task == "grpo"
    if grpo:  # the trainer learns on every completion: prompt + completion tokens, num_generations per prompt
        examples *= ctx.spec.rl.num_generations
        avg_tokens += ctx.spec.rl.max_completion_length
    setup = _fit.setup(ctx, **changes)
    tc = throughput.estimate_time_cost(
        ctx.facts.model,
        setup,
        ctx.facts.gpu,
        examples=examples,
        avg_tokens=avg_tokens,
        epochs=epochs,
        global_batch=ctx["global_batch_size"],
        packing=ctx["packing"],
    )
    if grpo and not ctx.facts.gpu.is_cpu:
        hours, note = _generation(ctx, setup.method)
        tc = throughput.with_generation(tc, hours, note, ctx.facts.gpu, ctx.spec.hardware.world_size)
    return tc


def _generation(ctx: Context, method: str, use_vllm: bool | None = None) -> tuple[float, str]:
    return throughput.generation_hours(
        ctx.facts.model,
        str(method),
        ctx["total_steps"],
        ctx.spec.rl.max_completion_length,
        bool(ctx.get("use_vllm")) if use_vllm is None else use_vllm,
    )


#: GRPO generation at or above this share of the estimated run is a warning.
GENERATION_WARN_SHARE = 0.5


@rule("FT176", "grpo-generation", order=185)
def grpo_generation(ctx: Context) -> None:
    """Decide where GRPO samples its completions (`use_vllm`) and count the generation time.

    What: for task grpo, `use_vllm` false: completions come from the training model's own `generate` on the
    training GPUs. The time estimate (FT160) adds the generation: one decode step per completion token per
    optimizer step, at an assumed cost per layer (generator/throughput.py), and the plan warns when generation
    is at least half the run, with what vLLM would save.
    Why: vLLM decodes several times faster (CUDA graphs, paged KV cache), but it needs the `vllm` package (not
    in ftgen's framework envs; Axolotl's `vllm` extra pins a CUDA build) and either a second set of GPUs for
    `axolotl vllm-serve` or a colocated engine holding part of each GPU's memory (trl.vllm_mode colocate),
    which ftgen's memory plan does not reserve. A plan that cannot be sure to run is worse than a slow one;
    the warning says what the switch is worth so a team can opt in (framework_overrides.axolotl.trl).
    Example: math-grpo (Qwen2.5-1.5B LoRA, 28 layers, 7,126 steps, 512-token completions) -> use_vllm false,
    generation ~28 h of the ~29 h estimate, warning: vLLM would take ~2.8 h.
    References: TRL GRPOTrainer docs (use_vllm, vllm_mode server/colocate); Axolotl docs/rlhf.qmd (GRPO with
    vllm-serve); Kwon et al. 2023, vLLM (arXiv:2309.06180).
    """
    if ctx.spec.task != "grpo":
        return
    if ctx.facts.gpu.is_cpu:
        ctx.decide("use_vllm", False, "CPU: vLLM needs CUDA; the training model generates")
        return
    hours, _ = _generation(ctx, ctx["method"], use_vllm=False)
    fast, _ = _generation(ctx, ctx["method"], use_vllm=True)
    ctx.decide(
        "use_vllm",
        False,
        f"the training model generates (~{hours:.1f} h over the run); vLLM (~{fast:.1f} h) needs the vllm "
        "package and GPU memory ftgen does not plan for",
    )
    total = _time_cost(ctx).hours
    if hours >= GENERATION_WARN_SHARE * total:
        ctx.warn(
            "rl",
            f"sampling completions takes ~{hours:.1f} h of the ~{total:.1f} h estimate; vLLM would take ~{fast:.1f} h",
            found="use_vllm: false",
            allowed="fewer steps (overrides.max_steps), shorter rl.max_completion_length, or vLLM "
            "(framework_overrides.axolotl.trl: {use_vllm: true, vllm_mode: colocate} with vllm installed)",
        )


@rule("FT160", "budget", order=190)
def budget(ctx: Context) -> None:
    """Estimate training time and cost; hold the plan to the spec's budget.

    What: hours and US dollars from tokens per epoch, a documented throughput model and the GPU's hourly
    price; a plan over `budget.max_hours` or `budget.max_usd` is an error that gives both numbers, and names
    the cheaper method when one would fit the budget (a rule-chosen full fine-tune is downgraded to LoRA).
    Why: a budget that is only checked on the invoice is no budget.
    Example: full fine-tune estimated at $900 with max_usd 500 -> LoRA at ~$310.
    References: generator/throughput.py (6N FLOPs per token, Kaplan et al. 2020, arXiv:2001.08361);
    the GPU catalog's prices.
    """
    tc = _time_cost(ctx)
    b = ctx.spec.budget
    if b.max_usd is not None and tc.usd is None and not ctx.facts.gpu.is_cpu:
        ctx.warn(
            "budget.max_usd",
            f"no price is known for {ctx.facts.gpu.name}: the plan's cost and max_usd are not checked",
            allowed="hardware.usd_per_hour (what one GPU-hour costs you)",
        )
    if b.max_usd is None and b.max_hours is None:
        ctx.extras["time_cost"] = tc
        return

    def over(t: throughput.TimeCost) -> list[str]:
        out = []
        if b.max_hours is not None and t.hours > b.max_hours:
            out.append(f"~{t.hours:.1f} h > max_hours {b.max_hours:g}")
        if b.max_usd is not None and t.usd is not None and t.usd > b.max_usd:
            out.append(f"~${t.usd:,.0f} > max_usd {b.max_usd:g}")
        return out

    problems = over(tc)
    if problems and ctx["method"] == "full" and not ctx.is_spec("method"):
        cheaper = _time_cost(ctx, method="lora", optimizer="adamw_torch_fused")
        if not over(cheaper) and _fit.fits(ctx, method="lora", micro_batch_size=1, gradient_checkpointing=True):
            ctx.decide(
                "method",
                "lora",
                f"full fine-tune is over budget ({'; '.join(problems)}); LoRA fits it "
                f"(~{cheaper.hours:.1f} h" + (f", ~${cheaper.usd:,.0f})" if cheaper.usd is not None else ")"),
            )
            ctx.pin("method")
            return
    if problems:
        ctx.error(
            "budget",
            "the plan is over budget: " + "; ".join(problems),
            allowed="a larger budget, fewer examples or epochs (overrides.num_epochs / max_steps), "
            "a cheaper GPU, or a smaller model",
        )
    ctx.extras["time_cost"] = tc


@rule("FT170", "eval-set-first", order=200)
def eval_set_first(ctx: Context) -> None:
    """Warn when the spec has no eval set of prompts with ground-truth answers.

    What: no `eval:` -> a warning at build time; `ftgen run` then needs an explicit flag. An eval set outside
    200-500 rows gets an info note.
    Why: fine-tunes look great on training loss and bad on real users; without an eval set scored on the
    base and the fine-tuned model there is no way to know the fine-tune is better.
    Example: spec without eval -> "build an eval set first: 200-500 prompts with ground-truth answers".
    References: the seed ("always an eval set of 200-500 prompts with ground truth, run on base and
    fine-tuned").
    """
    if ctx.facts.eval is None:
        ctx.warn(
            "eval",
            "no eval set: build an eval set first (200-500 prompts with ground-truth answers, scored "
            "on the base and the fine-tuned model); without it there is no way to know the fine-tune "
            "is better than the base",
        )
        return
    rows = ctx.facts.eval.rows
    if not 200 <= rows <= 500:
        ctx.info("eval.path", f"the eval set has {rows} rows; 200-500 prompts is the recommended size")


@rule("FT171", "trust-remote-code", order=210)
def trust_remote_code(ctx: Context) -> None:
    """Run a model's own Python code from the hub only when the spec says so.

    What: `trust_remote_code` is false unless the spec sets it; a catalog model that needs it without the
    flag is an error; with the flag, a warning that review will flag.
    Why: remote code runs with the training job's credentials and data access.
    Example: internlm/internlm3-8b-instruct without trust_remote_code -> error.
    References: transformers docs (trust_remote_code); Hugging Face security docs.
    """
    needs = ctx.facts.model.trust_remote_code
    if ctx.spec.trust_remote_code:
        ctx.record_spec("trust_remote_code", True, "trust_remote_code set in the spec")
        ctx.warn("trust_remote_code", "the model's own Python code from the hub will run during training")
    else:
        ctx.decide("trust_remote_code", False, "no remote code runs unless the spec allows it")
        if needs:
            ctx.error(
                "trust_remote_code",
                f"{ctx.facts.model.id} needs its own code from the hub",
                found=False,
                allowed="trust_remote_code: true in the spec, after reviewing that code",
            )


@rule("FT172", "gated-model", order=220)
def gated_model(ctx: Context) -> None:
    """Note when the base model is gated on the hub.

    What: an info finding for gated models (catalog entries such as Llama and Gemma, and hub models whose lock
    entry the hub marked gated): the run needs an HF token with access.
    Why: a gated download fails at the start of the run, after the environment and data are ready.
    Example: meta-llama/Llama-3.1-8B -> "gated: set HF_TOKEN for an account that accepted the license".
    References: Hugging Face docs, gated models.
    """
    model = ctx.facts.model
    if model.gated:
        ctx.info(
            "base_model",
            f"{model.id} is gated on the hub: the run needs HF_TOKEN for an account that accepted its license",
        )


@rule("FT173", "eval-train-overlap", order=205)
def eval_train_overlap(ctx: Context) -> None:
    """Warn when eval prompts also appear in the training data.

    What: counts the eval rows whose prompt is also a prompt of a local training row (compared after Unicode
    NFKC normalisation, case folding and collapsing whitespace; the user turns of chat rows, instruction +
    input of alpaca rows, `prompt` of preference and kto rows) and warns when there are any, naming the
    first; an info note when the training data is on the hub, where it cannot be checked.
    Why: a fine-tuned model has seen those prompts with their answers: its score on them measures recall of
    the training set, not how it does on new questions, and makes the fine-tune look better than it is.
    Example: 221 of 240 eval prompts are training prompts -> warning "221 of 240 eval prompts also appear in
    the training data".
    References: the seed ("an eval set of 200-500 prompts with ground truth"); Magar & Schwartz 2022,
    "Data Contamination: From Memorization to Exploitation" (arXiv:2203.08242).
    """
    ev, data = ctx.facts.eval, ctx.facts.data
    if ev is None:
        return
    if ev.in_train is None:
        ctx.info("eval.path", "overlap with the training data not checked: the training data is not a local file")
        return
    if not ev.in_train:
        return
    scope = "the training data" if data.measured else "the local training files"
    ctx.warn(
        "eval.path",
        f"{ev.in_train:,} of {ev.rows:,} eval prompts also appear in {scope} (e.g. {', '.join(ev.in_train_rows)}):"
        " scores on them measure recall of training examples, not generalisation",
        found=ev.in_train,
        allowed="eval prompts that are not in the training data (remove them from one of the two)",
    )


#: Duplicates at or above this share of the training rows are a warning; fewer are an info note.
DUPLICATE_WARN_SHARE = 0.01


@rule("FT174", "duplicate-examples", order=206)
def duplicate_examples(ctx: Context) -> None:
    """Count exact duplicate training rows.

    What: rows identical to an earlier row (same JSON content; key order ignored) across all local training
    files; a warning when they are at least 1% of the rows, an info note below that. The plan shows the
    unique count beside the row count.
    Why: a duplicated example is trained on several times per epoch: it is weighted up, the model memorises
    it sooner, and the data looks bigger than it is (the decision tree's size thresholds count examples).
    Example: 1,500 rows, 531 unique -> warning "969 of 1,500 training rows are exact duplicates".
    References: Lee et al. 2022, "Deduplicating Training Data Makes Language Models Better"
    (arXiv:2107.06499); the seed decision tree (example counts).
    """
    data = ctx.facts.data
    if data.unique_examples is None or data.unique_examples >= data.examples:
        return
    dups = data.examples - data.unique_examples
    message = (
        f"{dups:,} of {data.examples:,} training rows are exact duplicates ({data.unique_examples:,} unique): "
        "each copy is trained on again every epoch"
    )
    if dups >= DUPLICATE_WARN_SHARE * data.examples:
        ctx.warn("data.train", message, found=dups, allowed="deduplicated training files")
    else:
        ctx.info("data.train", message)


@rule("FT190", "model-facts", order=225)
def model_facts(ctx: Context) -> None:
    """Say when the model's shapes were read with less certainty than usual.

    What: a warning for each caveat the model card carries, e.g. a config.json model_type without a row in
    ftgen's architecture table (generator/facts/_arch.py), sized as a Llama-style decoder.
    Why: the memory estimate, the LoRA targets and the micro batch all follow from those shapes; a wrong guess
    shows up as an out-of-memory error or a module PEFT cannot find, late in the run.
    Example: model_type starcoder2 -> "sized as a Llama-style decoder (separate q/k/v, gated MLP, ...)".
    References: the architecture table's sources (transformers configuration_<type>.py defaults).
    """
    for note in ctx.facts.model.notes:
        ctx.warn("base_model", note)


@rule("FT179", "alternatives", order=240)
def alternatives(ctx: Context) -> None:
    """Price the methods the plan did not choose, for the summary that opens PLAN.md.

    What: for each of qlora, lora and full other than the chosen method: whether it fits the GPUs at micro
    batch 1 with gradient checkpointing and the lightest sharding that works (FT130's test), its per-GPU memory
    there, and, when it fits, the time and cost of the run with the plan's other settings (FT160's model;
    the optimizer each method would get from FT141, gradient checkpointing on).
    Why: a team lead deciding on a plan wants to know what the alternatives would cost and why they lost, not
    only what was chosen; the numbers come from the same estimators as the plan's own, so they compare.
    Example: support-bot (QLoRA on an RTX 4090) -> lora: fits, ~19 GiB, ~0.3 h; full: does not fit (~130 GiB).
    References: generator/memory.py, generator/throughput.py; FT130, FT141, FT160.
    """
    from .hardware import best_sharding

    chosen = str(ctx["method"])
    out = []
    for method in ("qlora", "lora", "full"):
        if method == chosen:
            continue
        sharding = best_sharding(ctx, method)
        est = _fit.estimate(ctx, method=method, micro_batch_size=1, gradient_checkpointing=True, sharding=sharding)
        entry = {
            "method": method,
            "fits": est.total_gb <= _fit.budget_gb(ctx),
            "memory_gb": round(est.total_gb, 1),
            "sharding": str(sharding),
        }
        if entry["fits"] and ctx.extras.get("time_cost") is not None and ctx.get("total_steps"):
            optimizer = (
                "paged_adamw_8bit"
                if method == "qlora" and not ctx.facts.gpu.is_cpu
                else ("adamw_torch" if ctx.facts.gpu.is_cpu else "adamw_torch_fused")
            )
            tc = _time_cost(ctx, method=method, optimizer=optimizer, gradient_checkpointing=True, sharding=sharding)
            entry["hours"] = round(tc.hours, 1)
            entry["usd"] = None if tc.usd is None else round(tc.usd, 2)
        out.append(entry)
    ctx.decide("alternatives", out, "the methods not chosen, priced with the plan's estimators")


@rule("FT210", "cluster-data", order=230)
def cluster_data(ctx: Context) -> None:
    """Say what the cluster files cannot carry of the local training files: pytorchjob.yaml and slurm.sbatch.

    What: a GPU build writes sky.yaml, pytorchjob.yaml and slurm.sbatch. sky.yaml uploads local training files
    that lie outside the build folder itself (file_mounts, into a tree that keeps the configs' relative paths),
    so it needs nothing. pytorchjob.yaml mounts them from the PVC `ftgen-data`, which someone has to fill, and
    slurm.sbatch reads them where they are, which only works on a filesystem the nodes share: the warning says so.
    Why: a job that starts on a cluster and then cannot find its data fails late, after queueing and setup.
    Example: data/train.jsonl on a GPU plan -> "1 local training file (data/train.jsonl): sky.yaml uploads it,
    but pytorchjob.yaml reads it from the PVC ftgen-data (copy it there) and slurm.sbatch from a shared filesystem".
    References: SkyPilot task YAML (file_mounts); Kubernetes volumes (PersistentVolumeClaim, subPath).
    """
    files = ctx.facts.data.local_files
    if ctx.facts.gpu.is_cpu or not files:
        return
    shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    ctx.warn(
        "data.train",
        f"{len(files)} local training file(s) ({shown}): sky.yaml uploads them (file_mounts), but pytorchjob.yaml's "
        "pods read them from the PVC ftgen-data (copy them there, as its header says; files under outputs/ are on "
        "the ftgen-outputs volume already) and slurm.sbatch's nodes read them where they are (a filesystem the "
        "nodes share)",
        allowed="a hub dataset, or the files on the PVC ftgen-data (PyTorchJob) and a shared filesystem (Slurm)",
    )

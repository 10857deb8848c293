"""The paragraph that opens PLAN.md: the decision-tree branch and why, the alternatives and their cost, what would
change the decision; every fact marked measured, from the spec, or assumed."""

from __future__ import annotations

from .facts.types import Facts
from .plan import Plan
from .spec import Spec

MEASURED, SPEC, ASSUMED = "(measured)", "(from the spec)", "(assumed)"
TAGS = (MEASURED, SPEC, ASSUMED)
LEGEND = (
    "Marks: *measured* = counted from the local files; *from the spec* = stated in the spec, or read from the "
    "model and GPU it names (catalog, lock or config.json); *assumed* = ftgen's estimates and defaults."
)
_METHOD = {"qlora": "QLoRA", "lora": "LoRA", "full": "a full fine-tune"}


def _usd(value) -> str:
    if value is None:
        return "no price known"
    return f"~${value:,.2f}" if value < 10 else f"~${value:,.0f}"


def _params(b: float) -> str:
    return f"{b * 1000:.0f}M" if b < 0.1 else f"{b:.1f}B"


_SHARDING = {"zero2": "ZeRO-2", "zero3": "ZeRO-3", "zero3_offload": "ZeRO-3 with CPU offload", "fsdp": "FSDP"}


def _would_change(plan: Plan, spec: Spec, n: int) -> list[str]:
    v = plan.values()
    branch, method = str(v.get("tree_branch") or ""), str(plan.method)
    out: list[str] = []
    rule = plan.decision("method").rule
    if rule == "FT160":
        out.append("a larger budget (the method was downgraded to fit it)")
    elif rule == "FT130":
        out.append("a GPU with more memory, or more GPUs (the method was downgraded to fit memory)")
    if rule in ("FT160", "FT130"):
        pass
    elif branch == "spec":
        out.append("removing `method:` from the spec (the tree then decides by the data)")
    elif branch.startswith("RL"):
        out.append("`goals.priority: quality` on hardware where a full fine-tune fits (-> full)")
        out.append("a GPU where LoRA on the 16-bit base does not fit (-> QLoRA)")
    elif branch.startswith("many adapters"):
        out.append("dropping `goals.serve_many_adapters` (-> the data-size branch's method)")
    elif n < 10_000:
        out.append(f"{100_000 - n:,} more unique examples (100K+: LoRA, or full for a high shift)")
    elif n < 100_000:
        out.append(f"{100_000 - n:,} more unique examples (100K+: LoRA, or full for a high shift)")
    elif method == "lora" and spec.data.distribution_shift == "high":
        out.append(
            "`goals.priority` other than cost (-> full, if it fits)"
            if spec.goals.priority == "cost"
            else "hardware where a full fine-tune fits (-> full)"
        )
    elif method == "lora":
        out.append("a high distribution shift with hardware where a full fine-tune fits (-> full)")
    elif method == "full":
        out.append("`goals.priority: cost` or a budget below this plan's cost (-> LoRA)")
    if n < 2_000 and branch != "spec":
        out.append(f"fewer than 1,000 unique examples (now {n:,}: refused, few-shot or RAG instead)")
    if not spec.goals.serve_many_adapters and not branch.startswith("many") and method != "lora":
        out.append("`goals.serve_many_adapters` (-> LoRA adapters)")
    if spec.task == "grpo" and v.get("use_vllm") is False:
        out.append("vLLM for sampling (generation is most of the time estimate)")
    return out


def lead_paragraph(plan: Plan, facts: Facts, spec: Spec) -> str:
    """The opening paragraph of PLAN.md (markdown, one paragraph plus the legend line)."""
    v = plan.values()
    d = facts.data
    n = d.unique_examples if d.unique_examples is not None else d.examples
    noun = {"grpo": "prompts", "dpo": "preference pairs", "orpo": "preference pairs", "kto": "labelled completions"}
    what = noun.get(str(spec.task), "training examples")
    counted = f"{n:,} unique {what} counted from the files {MEASURED}" if d.measured else f"{n:,} {what} {SPEC}"
    branch = str(v.get("tree_branch") or "")
    branch_why = plan.decision("tree_branch").because if "tree_branch" in v else ""
    method_d = plan.decision("method")
    hw = spec.hardware
    where = f"{hw.world_size} x {facts.gpu.name}" if hw.world_size > 1 else facts.gpu.name
    parts = []
    if branch == "spec":
        parts.append(f"The spec chooses the method: {branch_why} {SPEC}; the data: {counted}.")
    else:
        parts.append(f"The seed decision tree's **{branch}** branch applied: {counted}; {branch_why}.")
    if method_d.rule not in ("FT102", "FT103") and method_d.source == "rule":
        parts.append(f"{method_d.rule} then changed the method: {method_d.because} {ASSUMED}.")
    parts.append(
        f"So ftgen trains **{_METHOD[str(plan.method)]}** of {facts.model.id} ({_params(facts.model.params_b)} "
        f"parameters) with {', '.join(plan.frameworks)} on {where} {SPEC}, task {spec.task} {SPEC}."
    )
    if plan.memory:
        usable = facts.gpu.vram_gb * 0.9
        est = f"It needs ~{plan.memory.total_gb:.1f} of {usable:.1f} GB usable per GPU {ASSUMED}"
        if plan.time_cost:
            est += f", ~{plan.time_cost.hours:.1f} h and {_usd(plan.time_cost.usd)} {ASSUMED}"
        parts.append(est + ".")
    alts = []
    for a in v.get("alternatives") or []:
        name = _METHOD[a["method"]]
        if a["fits"]:
            cost = f"~{a['memory_gb']:.1f} GB" + (
                f" with {_SHARDING[a['sharding']]}" if a.get("sharding") in _SHARDING else ""
            )
            if "hours" in a:
                cost += f", ~{a['hours']:.1f} h, {_usd(a.get('usd'))}"
            alts.append(f"{name} fits ({cost}) {ASSUMED}")
        else:
            alts.append(f"{name} does not fit (~{a['memory_gb']:.1f} GB per GPU) {ASSUMED}")
    if alts:
        parts.append("Alternatives (memory at micro batch 1 with gradient checkpointing): " + "; ".join(alts) + ".")
    changes = _would_change(plan, spec, n)
    if changes:
        parts.append("What would change the decision: " + "; ".join(changes) + ".")
    return "**In short.** " + " ".join(parts) + "\n\n" + LEGEND

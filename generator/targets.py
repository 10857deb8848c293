"""Supported targets: which framework runs which task (stage) with which methods, as one plain table."""

from __future__ import annotations

FRAMEWORKS = ("axolotl", "llamafactory")
METHODS = ("qlora", "lora", "full")

# (framework, task) -> methods ftgen can compile and run.
# Sources: Axolotl 0.19.0 `rl:` types (utils/schemas/enums.py RLType) and dataset strategies;
# LLaMA-Factory 0.9.5 `stage:` choices (pt, sft, rm, ppo, dpo, kto; ORPO is stage dpo with pref_loss orpo).
TARGETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("axolotl", "sft"): METHODS,
    ("axolotl", "pretrain"): METHODS,
    ("axolotl", "dpo"): METHODS,
    ("axolotl", "kto"): METHODS,
    ("axolotl", "grpo"): METHODS,
    ("llamafactory", "sft"): METHODS,
    ("llamafactory", "pretrain"): METHODS,
    ("llamafactory", "dpo"): METHODS,
    ("llamafactory", "kto"): METHODS,
    ("llamafactory", "orpo"): METHODS,
}

# Why a pair is missing, for error messages.
UNSUPPORTED: dict[tuple[str, str], str] = {
    ("llamafactory", "grpo"): "LLaMA-Factory 0.9.5 has no GRPO stage (its stages are pt, sft, rm, ppo, dpo, kto)",
    ("axolotl", "orpo"): "Axolotl's ORPO strategies need chosen/rejected message lists "
    "(chat_template.argilla), which ftgen's preference format does not map to yet",
}


def supports(framework: str, task: str, method: str | None = None) -> bool:
    methods = TARGETS.get((framework, task))
    return methods is not None and (method is None or method in methods)


def frameworks_for(task: str) -> tuple[str, ...]:
    return tuple(fw for fw in FRAMEWORKS if (fw, task) in TARGETS)


def table() -> list[tuple[str, str, str]]:
    """Rows (framework, task, methods) for docs and `ftgen targets`."""
    rows = [(fw, task, ", ".join(m)) for (fw, task), m in TARGETS.items()]
    rows += [(fw, task, f"not supported: {why}") for (fw, task), why in UNSUPPORTED.items()]
    return sorted(rows)

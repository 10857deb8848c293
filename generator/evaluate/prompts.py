"""How each framework formatted the training prompt, as data for generate.py (and a pure-Python preview)."""

from __future__ import annotations

from .. import frameworks

# Axolotl AlpacaPrompter (prompters.py), prompt style "instruct", as 0.19.0 ships it
ALPACA_SYSTEM = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
# LLaMA-Factory 0.9.5 data/template.py: format_user of the templates ftgen previews
_LF_USER = {
    "default": ("", "Human: {content}{eos}\nAssistant:"),
    "alpaca": (ALPACA_SYSTEM + "\n\n", "### Instruction:\n{content}\n\n### Response:\n"),
}


def prompt_format(framework: str, config: dict) -> dict:
    """The prompt format training used, read from the run's config (plain data, JSON-serialisable); the
    framework module knows how its config says it."""
    return frameworks.get(framework, "<eval>").prompt_format(config)


def describe(fmt: dict) -> str:
    """One line for reports: which code built the prompts (the kinds generate.py knows; "llamafactory" is
    LLaMA-Factory's template engine, a format kind recorded in run.json, not a framework switch)."""
    kind = fmt.get("kind")
    if kind == "llamafactory":
        return f"LLaMA-Factory template `{fmt.get('template') or 'from the tokenizer'}`"
    if kind == "alpaca":
        return f"Axolotl `type: alpaca` ({fmt.get('prompt_style') or 'instruct'} style)"
    if kind == "chat_template":
        return f"chat template `{fmt.get('chat_template')}` with the generation prompt"
    return "the prompt text as is (completion)"


def preview(fmt: dict, prompt: str, eos: str = "</s>") -> str | None:
    """The prompt text for one user prompt, in pure Python, for the formats ftgen knows by heart; else None.

    Tests compare it with what generate.py builds through the framework's own code in its env.
    """
    kind = fmt.get("kind")
    if kind == "alpaca" and (fmt.get("prompt_style") or "instruct") == "instruct":
        return f"{ALPACA_SYSTEM}\n\n### Instruction:\n{prompt}\n\n### Response:\n"
    if kind == "llamafactory" and fmt.get("template") in _LF_USER:
        system, user = _LF_USER[fmt["template"]]
        return system + user.format(content=prompt, eos=eos)
    if kind == "completion":
        return prompt
    return None

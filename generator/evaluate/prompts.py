"""How each framework formatted the training prompt, as data for generate.py (and a pure-Python preview)."""

from __future__ import annotations

from ..errors import FtgenError, Problem

# Axolotl AlpacaPrompter (prompters.py), prompt style "instruct", as 0.19.0 ships it
ALPACA_SYSTEM = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
)
# LLaMA-Factory 0.9.5 data/template.py: format_user of the templates ftgen previews
_LF_USER = {
    "default": ("", "Human: {content}{eos}\nAssistant:"),
    "alpaca": (ALPACA_SYSTEM + "\n\n", "### Instruction:\n{content}\n\n### Response:\n"),
}


def _unsupported(framework: str, key: str, found, allowed: str) -> FtgenError:
    return FtgenError(
        [
            Problem(
                f"<{framework} config>",
                key,
                "eval cannot tell how training formatted prompts",
                found=found,
                allowed=allowed,
            )
        ]
    )


def _axolotl(config: dict) -> dict:
    datasets = [d for d in config.get("datasets") or [] if isinstance(d, dict)]
    if not datasets:
        raise _unsupported("axolotl", "datasets", None, "at least one dataset")
    kinds = set()
    for ds in datasets:
        kind = ds.get("type")
        kinds.add(kind if isinstance(kind, str) else repr(kind))
    if len(kinds) > 1:
        raise _unsupported("axolotl", "datasets[].type", sorted(kinds), "one prompt format for all datasets")
    ds = datasets[0]
    kind = ds.get("type")
    base, _, style = (kind or "").partition(":") if isinstance(kind, str) else ("", "", "")
    if base == "alpaca":
        return {"kind": "alpaca", "prompt_style": style or None, "sequence_len": config.get("sequence_len")}
    if base == "chat_template":
        return {
            "kind": "chat_template",
            "chat_template": ds.get("chat_template") or config.get("chat_template") or "tokenizer_default",
            "chat_template_jinja": ds.get("chat_template_jinja") or config.get("chat_template_jinja"),
            "jinja": None,
        }
    if base == "completion":
        return {"kind": "completion"}
    raise _unsupported("axolotl", "datasets[0].type", kind, "alpaca, alpaca:<style>, chat_template, completion")


def _llamafactory(config: dict) -> dict:
    if config.get("stage") == "pt":
        return {"kind": "completion"}
    return {"kind": "llamafactory", "template": config.get("template")}


def prompt_format(framework: str, config: dict) -> dict:
    """The prompt format training used, read from the run's config (plain data, JSON-serialisable)."""
    if framework == "axolotl":
        return _axolotl(config)
    if framework == "llamafactory":
        return _llamafactory(config)
    raise _unsupported(framework, "framework", framework, "axolotl, llamafactory")


def describe(fmt: dict) -> str:
    """One line for reports: which framework code built the prompts."""
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

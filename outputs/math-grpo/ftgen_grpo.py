"""GRPO prompts for Axolotl, written by ftgen beside the config (rule FT193; `ftgen explain FT193`).

Each function is an Axolotl dataset transform (datasets[].type: ftgen_grpo.<function>): it returns the function
that turns one row into TRL GRPOTrainer's `prompt` (what the model completes) and `answer` (the reference the
reward functions receive as a keyword argument, beside every other column of the row).
"""

# Axolotl 0.19.0 prompters.py AlpacaPrompter, prompt style "instruct": the alpaca prompt SFT trains on
_SYSTEM_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
_SYSTEM = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def _user(row):
    instruction, extra = row.get("instruction") or "", row.get("input") or ""
    return instruction + ("\n\n" + extra if extra else "")


def alpaca_chat(cfg, dataset_idx=0, **kwargs):
    """Alpaca rows as one user turn: the trainer applies the model's chat template."""

    def transform(row, tokenizer=None):
        return {"prompt": [{"role": "user", "content": _user(row)}], "answer": row.get("output")}

    return transform


def alpaca_text(cfg, dataset_idx=0, **kwargs):
    """Alpaca rows in the alpaca prompt format (a model without a chat template)."""

    def transform(row, tokenizer=None):
        instruction, extra = row.get("instruction") or "", row.get("input") or ""
        if extra:
            text = f"{_SYSTEM_INPUT}\n\n### Instruction:\n{instruction}\n\n### Input:\n{extra}\n\n### Response:\n"
        else:
            text = f"{_SYSTEM}\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        return {"prompt": text, "answer": row.get("output")}

    return transform


def _conversation(field, role, content):
    def transform(row, tokenizer=None):
        turns = [{"role": {"human": "user", "gpt": "assistant"}.get(m[role], m[role]), "content": m[content]}
                 for m in row[field]]
        last = max((i for i, m in enumerate(turns) if m["role"] == "assistant"), default=len(turns))
        answer = turns[last]["content"] if last < len(turns) else None
        return {"prompt": turns[:last], "answer": answer}

    return transform


def messages_chat(cfg, dataset_idx=0, **kwargs):
    """OpenAI-style messages: the turns before the last assistant turn; that turn is the answer."""
    return _conversation("messages", "role", "content")


def sharegpt_chat(cfg, dataset_idx=0, **kwargs):
    """ShareGPT conversations (from/value): the turns before the last gpt turn; that turn is the answer."""
    return _conversation("conversations", "from", "value")

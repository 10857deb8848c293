"""Alpaca rows (instruction, input, output) as a user turn and an assistant turn in the model's chat template.

Axolotl loads it for `type: ftgen_sft.alpaca_chat` and tokenises the turns with its own chat_template strategy
(the assistant turn is trained, the user turn masked), as it does for `type: chat_template` conversations.
"""

from axolotl.prompt_strategies.chat_template import load as _chat_template


def _turns(instruction, extra, output):
    user = (instruction or "") + ("\n\n" + extra if extra else "")
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output or ""}]


def load(tokenizer, cfg, ds_cfg=None, processor=None):
    ds = dict(ds_cfg or {})
    ds.update(type="chat_template", field_messages="messages")
    strategy = _chat_template(tokenizer, cfg, ds, processor=processor)
    tokenize = strategy.tokenize_prompt

    def tokenize_prompt(prompt):
        row = {k: v for k, v in prompt.items() if k in ("instruction", "input", "output")}
        if isinstance(row.get("instruction"), list):  # a batch of rows
            n = len(row["instruction"])
            extras, outputs = row.get("input") or [None] * n, row.get("output") or [None] * n
            messages = [_turns(*t) for t in zip(row["instruction"], extras, outputs)]
        else:
            messages = _turns(row.get("instruction"), row.get("input"), row.get("output"))
        return tokenize({"messages": messages})

    strategy.tokenize_prompt = tokenize_prompt
    return strategy

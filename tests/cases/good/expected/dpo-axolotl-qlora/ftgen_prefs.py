"""Preference prompts for Axolotl, written by ftgen beside the config (rule FT195; `ftgen explain FT195`).

Each function is an Axolotl dataset transform (datasets[].type: ftgen_prefs.<function>) for rows of ftgen's
preference format (prompt, chosen, rejected) or KTO format (prompt, completion, label): the prompt becomes one user
turn in the model's chat template (*_chat) or an alpaca prompt (*_alpaca, a model without a chat template), the
same prompt format SFT and evaluation use; each answer is what the template puts after that prompt.
"""

# Axolotl 0.19.0 prompters.py AlpacaPrompter, prompt style "instruct"
_SYSTEM = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def _alpaca(prompt):
    return f"{_SYSTEM}\n\n### Instruction:\n{prompt}\n\n### Response:\n"


def _chat(tokenizer, prompt, answers):
    user = [{"role": "user", "content": prompt}]
    head = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
    out = []
    for answer in answers:
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": answer}], tokenize=False)
        out.append(full[len(head):] if full.startswith(head) else answer + (tokenizer.eos_token or ""))
    return head, out


def pairs_chat(cfg, dataset_idx=0, **kwargs):
    def transform(row, tokenizer=None):
        prompt, (chosen, rejected) = _chat(tokenizer, row["prompt"], [row["chosen"], row["rejected"]])
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}

    return transform


def pairs_alpaca(cfg, dataset_idx=0, **kwargs):
    def transform(row, tokenizer=None):
        eos = tokenizer.eos_token or ""
        return {"prompt": _alpaca(row["prompt"]), "chosen": row["chosen"] + eos, "rejected": row["rejected"] + eos}

    return transform


def kto_chat(cfg, dataset_idx=0, **kwargs):
    def transform(row, tokenizer=None):
        prompt, (completion,) = _chat(tokenizer, row["prompt"], [row["completion"]])
        return {"prompt": prompt, "completion": completion, "label": bool(row["label"])}

    return transform


def kto_alpaca(cfg, dataset_idx=0, **kwargs):
    def transform(row, tokenizer=None):
        eos = tokenizer.eos_token or ""
        return {"prompt": _alpaca(row["prompt"]), "completion": row["completion"] + eos, "label": bool(row["label"])}

    return transform

"""Reward functions for examples/math-grpo.yaml (rl.reward_funcs: rewards.correct_answer, rewards.format_ok).

The trainer (TRL's GRPOTrainer through Axolotl) calls each with the prompts, the sampled completions and the
dataset's other columns as keyword arguments, and expects one float per completion. ftgen only checks that this
file and these functions exist (it never imports them) and copies the file next to the built config (FT194).
"""

import re

_ANSWER = re.compile(r"####\s*(-?[\d,.]+)\s*$")


def _text(completion):
    # conversational datasets give a list of messages per completion; plain ones a string
    return completion[-1]["content"] if isinstance(completion, list) else str(completion)


def correct_answer(prompts, completions, answer=None, **kwargs):
    """1.0 when the number after `####` equals the reference answer, else 0.0."""
    refs = answer or [None] * len(completions)
    scores = []
    for completion, ref in zip(completions, refs):
        found = _ANSWER.search(_text(completion).strip())
        ok = found is not None and ref is not None and found.group(1).replace(",", "") == str(ref).strip()
        scores.append(1.0 if ok else 0.0)
    return scores


def format_ok(prompts, completions, **kwargs):
    """0.5 when the completion ends with a `#### <number>` line, else 0.0."""
    return [0.5 if _ANSWER.search(_text(c).strip()) else 0.0 for c in completions]

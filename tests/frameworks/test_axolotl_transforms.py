"""The dataset transforms an Axolotl build ships (ftgen_grpo.py FT193, ftgen_prefs.py FT195), run on plain rows.

They run inside Axolotl's env at training time; here a stand-in tokenizer renders a toy chat template so the
prompt / answer split can be checked without the framework (the e2e cells train them for real).
"""

from __future__ import annotations

import ast

import pytest

from generator.frameworks import axolotl


class Tokenizer:
    eos_token = "</s>"

    def apply_chat_template(self, messages, add_generation_prompt=False, tokenize=False):
        text = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages)
        return text + ("<|assistant|>" if add_generation_prompt else "")


def _module(text: str) -> dict:
    ast.parse(text)
    namespace: dict = {}
    exec(compile(text, "<shipped>", "exec"), namespace)  # the module ftgen writes, as Axolotl imports it
    return namespace


@pytest.fixture(scope="module")
def grpo():
    return _module(axolotl.GRPO_MODULE)


@pytest.fixture(scope="module")
def prefs():
    return _module(axolotl.PREF_MODULE)


def test_every_named_transform_exists(grpo, prefs):
    for name in axolotl.GRPO_TRANSFORMS:
        assert callable(grpo[name.split(".")[1]])
    for name in axolotl.PREF_TRANSFORMS:
        assert callable(prefs[name.split(".")[1]])


def test_grpo_alpaca_rows_become_a_user_turn_or_an_alpaca_prompt(grpo):
    row = {"instruction": "Name a colour.", "input": "", "output": "red"}
    chat = grpo["alpaca_chat"]({})(row)
    assert chat == {"prompt": [{"role": "user", "content": "Name a colour."}], "answer": "red"}
    text = grpo["alpaca_text"]({})(row)
    assert text["prompt"].endswith("### Instruction:\nName a colour.\n\n### Response:\n") and text["answer"] == "red"


def test_grpo_conversations_end_before_the_last_assistant_turn(grpo):
    row = {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    out = grpo["sharegpt_chat"]({})(row)
    assert out == {"prompt": [{"role": "user", "content": "hi"}], "answer": "hello"}


def test_preference_rows_use_the_chat_template_and_cut_answers_after_the_prompt(prefs):
    row = {"prompt": "Help?", "chosen": "Sure.", "rejected": "No."}
    out = prefs["pairs_chat"]({})(row, tokenizer=Tokenizer())
    assert out == {"prompt": "<|user|>Help?<|end|><|assistant|>", "chosen": "Sure.<|end|>", "rejected": "No.<|end|>"}
    kto = prefs["kto_chat"]({})({"prompt": "Help?", "completion": "Sure.", "label": 1}, tokenizer=Tokenizer())
    assert kto == {"prompt": "<|user|>Help?<|end|><|assistant|>", "completion": "Sure.<|end|>", "label": True}


def test_preference_rows_of_a_base_model_get_the_alpaca_prompt(prefs):
    out = prefs["pairs_alpaca"]({})({"prompt": "Help?", "chosen": "Sure.", "rejected": "No."}, tokenizer=Tokenizer())
    assert out["prompt"].endswith("### Instruction:\nHelp?\n\n### Response:\n")
    assert (out["chosen"], out["rejected"]) == ("Sure.</s>", "No.</s>")

"""The training prompt format read from a run's config, and generate.py building it with the framework's own code."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from generator import envs
from generator.errors import FtgenError
from generator.evaluate import prompts

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "examples" / "data"


@pytest.mark.parametrize(
    "config,expected",
    [
        (
            {"datasets": [{"path": "a.jsonl", "type": "alpaca"}], "sequence_len": 128},
            {"kind": "alpaca", "prompt_style": None, "sequence_len": 128},
        ),
        (
            {"datasets": [{"path": "a.jsonl", "type": "alpaca:chat"}]},
            {"kind": "alpaca", "prompt_style": "chat", "sequence_len": None},
        ),
        (
            {
                "datasets": [{"path": "a.jsonl", "type": "chat_template", "field_messages": "messages"}],
                "chat_template": "chatml",
            },
            {"kind": "chat_template", "chat_template": "chatml", "chat_template_jinja": None, "jinja": None},
        ),
        (
            {"datasets": [{"path": "a.jsonl", "type": "chat_template"}]},
            {"kind": "chat_template", "chat_template": "tokenizer_default", "chat_template_jinja": None, "jinja": None},
        ),
        ({"datasets": [{"path": "a.jsonl", "type": "completion", "field": "text"}]}, {"kind": "completion"}),
    ],
)
def test_axolotl_formats(config, expected):
    assert prompts.prompt_format("axolotl", config) == expected


@pytest.mark.parametrize(
    "config,expected",
    [
        ({"stage": "sft", "template": "default"}, {"kind": "llamafactory", "template": "default"}),
        ({"stage": "dpo", "template": "llama3"}, {"kind": "llamafactory", "template": "llama3"}),
        ({"stage": "pt"}, {"kind": "completion"}),
    ],
)
def test_llamafactory_formats(config, expected):
    assert prompts.prompt_format("llamafactory", config) == expected


@pytest.mark.parametrize(
    "config,key",
    [
        ({"datasets": [{"path": "a", "type": "alpaca"}, {"path": "b", "type": "chat_template"}]}, "datasets[].type"),
        ({"datasets": [{"path": "a", "type": {"field_prompt": "prompt"}}]}, "datasets[0].type"),
        ({"datasets": []}, "datasets"),
    ],
)
def test_unknown_axolotl_formats_are_clear_errors(config, key):
    with pytest.raises(FtgenError) as info:
        prompts.prompt_format("axolotl", config)
    assert info.value.problems[0].key == key
    assert "eval cannot tell how training formatted prompts" in info.value.problems[0].message


def test_previews():
    alpaca = prompts.preview({"kind": "alpaca", "prompt_style": None}, "colour of sky?")
    assert alpaca == (
        "Below is an instruction that describes a task. Write a response that appropriately completes "
        "the request.\n\n### Instruction:\ncolour of sky?\n\n### Response:\n"
    )
    assert prompts.preview({"kind": "llamafactory", "template": "default"}, "hi") == "Human: hi</s>\nAssistant:"
    assert prompts.preview({"kind": "completion"}, "hi") == "hi"
    assert prompts.preview({"kind": "chat_template", "chat_template": "chatml"}, "hi") is None
    assert "alpaca" in prompts.describe({"kind": "alpaca"}) and "`default`" in prompts.describe(
        {"kind": "llamafactory", "template": "default"}
    )


# ------------------------------------------------------------------ inside the framework envs

# the prompt part (labels == IGNORE_INDEX) of one training row as the framework's own preprocessing builds it
_TRAINING_PROMPT = {
    "llamafactory": """
        from llamafactory.data import get_template_and_fix_tokenizer
        from llamafactory.data.processor.supervised import SupervisedDatasetProcessor
        from llamafactory.hparams import DataArguments
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(MODEL)
        args = DataArguments(template=TEMPLATE, cutoff_len=128)
        template = get_template_and_fix_tokenizer(tok, args)
        proc = SupervisedDatasetProcessor(template=template, tokenizer=tok, processor=None, data_args=args)
        ids, labels = proc._encode_data_example([{"role": "user", "content": PROMPT}],
                                                [{"role": "assistant", "content": "red"}], "", "", [], [], [])
    """,
    "axolotl": """
        from axolotl.prompt_tokenizers import AlpacaPromptTokenizingStrategy
        from axolotl.prompters import AlpacaPrompter
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(MODEL)
        strategy = AlpacaPromptTokenizingStrategy(AlpacaPrompter(None), tok, False, 128)
        out = strategy.tokenize_prompt({"instruction": PROMPT, "input": "", "output": "red"})
        ids, labels = out["input_ids"], out["labels"]
    """,
}
_CASES = {
    "llamafactory-default": {"kind": "llamafactory", "template": "default"},
    "llamafactory-alpaca": {"kind": "llamafactory", "template": "alpaca"},
    "axolotl-alpaca": {"kind": "alpaca", "prompt_style": None, "sequence_len": 128},
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", list(_CASES))
def test_generate_builds_the_training_prompt(case, tiny_model):
    framework, fmt = case.split("-")[0], _CASES[case]
    env = envs.get_env(framework)
    if env is None:
        pytest.skip(f"no {framework} env")
    prompt = "colour of apple?"
    job = {
        "format": fmt,
        "rows": [{"prompt": prompt}],
        "models": [{"name": "base", "model": str(tiny_model)}],
        "dry_run": True,
    }
    got = envs.run_json(env.python, "generate.py", stdin=json.dumps(job), env=env.subprocess_env(), timeout=600)
    assert got["prompts"]["base"][0] == prompts.preview(fmt, prompt)
    script = (
        f"import json\nMODEL, PROMPT, TEMPLATE = {str(tiny_model)!r}, {prompt!r}, {fmt.get('template')!r}\n"
        + textwrap.dedent(_TRAINING_PROMPT[framework])
        + "n = next(i for i, x in enumerate(labels) if x != -100)\nprint(json.dumps(ids[:n]))\n"
    )
    import subprocess

    proc = subprocess.run(
        [str(env.python), "-c", script],
        capture_output=True,
        text=True,
        env=env.subprocess_env(),
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    training_prompt_ids = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["prompt_ids"]["base"][0] == training_prompt_ids

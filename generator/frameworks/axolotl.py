"""Axolotl 0.19.0: its key table, files, CLI, env, validator and launch, all in one place."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from ..tracking import MLFLOW_REQUIREMENTS, MLFLOW_VERSION
from ._base import (
    TORCHRUN_PORT,
    EnvSpec,
    Framework,
    Hardware,
    Need,
    Refusal,
    Step,
    Traits,
    absolute_if_local,
    unsupported_prompt,
)
from ._table import Reading, Untranslatable, Values, Where, default_only, joint, num, row, truthy

NAME = "axolotl"
VERSION = "0.19.0"
# DeepSpeed as its `deepspeed` extra pins it (deepspeed>=0.18.6,<0.19.0, METADATA): an sdist whose setup.py imports
# torch, so built without build isolation against the env's torch (ops compiled on first use). One constant for the
# env's install step and the install command `ftgen run` names when an env lacks it.
DEEPSPEED_PIP = ("--no-build-isolation", "deepspeed==0.18.9")

# ---------------------------------------------------------------------------------------------- value tables

PRECISION = {"bf16": (True, False), "fp16": (False, True), "fp32": (False, False)}
# prompt formats (neutral names; frameworks.translate_template) -> Axolotl 0.19.0 ChatTemplate names (utils/schemas/enums.py)
TEMPLATES = {
    "alpaca": "alpaca",
    "chatml": "chatml",
    "llama3": "llama3",
    "llama4": "llama4",
    "gemma": "gemma",
    "gemma3": "gemma3",
    "gemma3n": "gemma3n",
    "gemma4": "gemma4",
    "cohere": "cohere",
    "qwen2.5": "qwen_25",
    "qwen3": "qwen3",
    "qwen3.5": "qwen3_5",
    "phi3": "phi_3",
    "deepseek2": "deepseek_v2",
    "deepseek3": "deepseek_v3",
    "exaone": "exaone",
    "falcon_h1": "falcon_h1",
    "pixtral": "pixtral",
    "llava": "llava",
    "qwen2_vl": "qwen2_vl",
}
ATTENTION = (  # attn_implementation's canonical values (schema description, Axolotl 0.19.0)
    "eager",
    "sdpa",
    "flash_attention_2",
    "flash_attention_3",
    "flash_attention_4",
    "flash_attention_torch",
    "flex_attention",
    "xformers",
    "sage",
    "fp8",
)
_LEGACY_ATTENTION = {  # deprecated switches -> attn_implementation
    "flash_attention": "flash_attention_2",
    "sdp_attention": "sdpa",
    "xformers_attention": "xformers",
    "eager_attention": "eager",
    "flex_attention": "flex_attention",
}
RL_TASKS = ("dpo", "kto", "orpo", "simpo", "ipo", "grpo")
LORA_KERNELS = ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel", "lora_embedding_kernel")
LIGER_PLUGIN = "axolotl.integrations.liger.LigerPlugin"
LIGER_KEYS = ("liger_rope", "liger_rms_norm", "liger_glu_activation", "liger_fused_linear_cross_entropy")
LIGER_ALL = (  # every LigerPlugin switch (schema x-ftgen.plugin_keys); one neutral switch reads them all
    *LIGER_KEYS,
    "liger_cross_entropy",
    "liger_layer_norm",
    "liger_rms_norm_gated",
    "liger_swiglu",
    "liger_kernel_impl",
    "liger_use_token_scaling",
)
CCE_PLUGIN = "axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin"
FSDP_CONFIG = {
    "offload_params": False,
    "state_dict_type": "FULL_STATE_DICT",
    "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
    "reshard_after_forward": True,
}
_BNB = {"bnb_4bit_use_double_quant": "double_quant", "bnb_4bit_quant_type": "quant_type"}
_PREFERENCE_TYPE = {"field_prompt": "prompt", "field_chosen": "chosen", "field_rejected": "rejected"}
_KTO_TYPE = {"field_prompt": "prompt", "field_completion": "completion", "field_label": "label"}
_DATASET_KEYS = {"path", "type", "split", "ds_type", "field_messages", "message_property_mappings", "field", "name"}
_FILE_TYPES = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}

# GRPO prompts: the dataset transform ftgen ships beside an Axolotl GRPO config (FT193). Axolotl 0.19.0 loads a GRPO
# dataset `type: module.function` through prompt_strategies/dpo (base.load: import_module, then function(cfg,
# dataset_idx=i) returns the row transform); TRL's GRPOTrainer reads the `prompt` column (a string, or a list of
# messages it formats with the tokenizer's chat template) and passes the other columns to the reward functions.
GRPO_MODULE_FILE = "ftgen_grpo.py"
GRPO_TRANSFORMS = {  # function -> the spec's data format it reads
    "ftgen_grpo.alpaca_chat": "alpaca",
    "ftgen_grpo.alpaca_text": "alpaca",
    "ftgen_grpo.messages_chat": "messages",
    "ftgen_grpo.sharegpt_chat": "sharegpt",
}
GRPO_MODULE = '''"""GRPO prompts for Axolotl, written by ftgen beside the config (rule FT193; `ftgen explain FT193`).

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
    return instruction + ("\\n\\n" + extra if extra else "")


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
            text = f"{_SYSTEM_INPUT}\\n\\n### Instruction:\\n{instruction}\\n\\n### Input:\\n{extra}\\n\\n### Response:\\n"
        else:
            text = f"{_SYSTEM}\\n\\n### Instruction:\\n{instruction}\\n\\n### Response:\\n"
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
'''

# Preference prompts: the dataset transform ftgen ships beside an Axolotl DPO / ORPO / KTO config (FT195). Axolotl
# 0.19.0 loads `type: module.function` through prompt_strategies/dpo, orpo or kto (base.load), as for GRPO; the
# transform gets the tokenizer (utils/data/rl.py _map_dataset) whose chat template Axolotl set from `chat_template`.
PREF_MODULE_FILE = "ftgen_prefs.py"
PREF_TRANSFORMS = {  # function -> the spec's data format it reads
    "ftgen_prefs.pairs_chat": "preference",
    "ftgen_prefs.pairs_alpaca": "preference",
    "ftgen_prefs.kto_chat": "kto",
    "ftgen_prefs.kto_alpaca": "kto",
}
PREF_MODULE = '''"""Preference prompts for Axolotl, written by ftgen beside the config (rule FT195; `ftgen explain FT195`).

Each function is an Axolotl dataset transform (datasets[].type: ftgen_prefs.<function>) for rows of ftgen's
preference format (prompt, chosen, rejected) or KTO format (prompt, completion, label): the prompt becomes one user
turn in the model's chat template (*_chat) or an alpaca prompt (*_alpaca, a model without a chat template), the
same prompt format SFT and evaluation use; each answer is what the template puts after that prompt.
"""

# Axolotl 0.19.0 prompters.py AlpacaPrompter, prompt style "instruct"
_SYSTEM = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def _alpaca(prompt):
    return f"{_SYSTEM}\\n\\n### Instruction:\\n{prompt}\\n\\n### Response:\\n"


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
'''

# SFT on alpaca rows with a chat model: a prompt strategy package ftgen ships beside the config (FT107). Axolotl
# 0.19.0 prompt_strategies/__init__.py load: `type: pkg.module` imports pkg.module and calls its load(tokenizer,
# cfg, ds_cfg); this one wraps Axolotl's own chat_template strategy, turning each row into a user and an assistant
# turn first, so the model trains (and is evaluated) in its chat template.
SFT_TRANSFORM = "ftgen_sft.alpaca_chat"
SFT_FILES = {
    "ftgen_sft/__init__.py": '"""Prompt strategies ftgen ships beside an Axolotl config (`ftgen explain FT107`)."""\n',
    "ftgen_sft/alpaca_chat.py": '''"""Alpaca rows (instruction, input, output) as a user turn and an assistant turn in the model's chat template.

Axolotl loads it for `type: ftgen_sft.alpaca_chat` and tokenises the turns with its own chat_template strategy
(the assistant turn is trained, the user turn masked), as it does for `type: chat_template` conversations.
"""

from axolotl.prompt_strategies.chat_template import load as _chat_template


def _turns(instruction, extra, output):
    user = (instruction or "") + ("\\n\\n" + extra if extra else "")
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
''',
}


def _adapters(values: Values) -> bool:
    return values.get("method") in ("lora", "qlora")


# ---------------------------------------------------------------------------------------------- joint rows


def _write_method(values: Values, where: Where) -> dict[str, Any] | None:
    method, bits = values.get("method"), values.get("quant_bits")
    if method is None:
        return None
    if method == "qlora":
        return {"adapter": "qlora", "load_in_4bit": True}
    if method == "lora":
        out: dict[str, Any] = {"adapter": "lora"}
        if bits == 8:
            out["load_in_8bit"] = True
        elif bits == 4:
            out["load_in_4bit"] = True
        return out
    return {}  # full: no adapter


def _read_method(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    adapter = cfg.get("adapter")
    four, eight = truthy(cfg.get("load_in_4bit")), truthy(cfg.get("load_in_8bit"))
    keys = [k for k in ("adapter", "load_in_4bit", "load_in_8bit") if k in cfg]
    if adapter in ("lora", "qlora"):
        r.put("method", "qlora" if (adapter == "qlora" or four) else "lora", *keys)
        r.put("quant_bits", 4 if four else 8 if eight else None, *[k for k in keys if k != "adapter"])
    elif adapter is None:
        if four or eight:
            r.untranslated["load_in_4bit" if four else "load_in_8bit"] = (
                "quantised loading without an adapter: Axolotl refuses it (full fine-tune of a quantised model)"
            )
        else:
            r.put("method", "full", *keys)
    else:
        r.untranslated["adapter"] = f"adapter {adapter!r}: only LoRA adapters have a framework-neutral form"
    if adapter not in ("lora", "qlora"):
        for key in ("lora_target_linear", "lora_target_modules", "lora_r", "lora_alpha", "lora_dropout"):
            if cfg.get(key) is not None:
                r.untranslated[key] = "a LoRA setting without a LoRA adapter: it has no effect here"
    bnb = cfg.get("bnb_config_kwargs")
    if isinstance(bnb, dict):
        for key, value in bnb.items():
            if key in _BNB and value is not None:
                r.put(_BNB[key], value, "bnb_config_kwargs")
            else:
                r.untranslated[f"bnb_config_kwargs.{key}"] = "a bitsandbytes option without a neutral form"


def _write_bnb(values: Values, where: Where) -> dict[str, Any] | None:
    bnb = {key: values[name] for key, name in _BNB.items() if values.get(name) is not None}
    return {"bnb_config_kwargs": bnb} if bnb else None


def _lora_field(name: str, key: str) -> Any:
    """LoRA settings are read by the method row only with an adapter; written only with one."""

    def read(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
        if cfg.get(key) is not None and cfg.get("adapter") in ("lora", "qlora"):
            r.put(name, num(cfg[key]) if name == "lora_dropout" else cfg[key], key)

    def write(values: Values, where: Where) -> dict[str, Any] | None:
        return {key: values[name]} if values.get(name) is not None and _adapters(values) else None

    return joint((name,), (key,), "Method", write, read)


def _write_targets(values: Values, where: Where) -> dict[str, Any] | None:
    targets = values.get("lora_target_modules")
    if not targets or not _adapters(values):
        return None
    if list(targets) == ["all-linear"]:
        return {"lora_target_linear": True}
    return {"lora_target_modules": list(targets)}


def _read_targets(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("adapter") not in ("lora", "qlora"):
        return
    if truthy(cfg.get("lora_target_linear")):
        r.put(
            "lora_target_modules",
            ["all-linear"],
            "lora_target_linear",
            *(["lora_target_modules"] if cfg.get("lora_target_modules") else []),
        )
    elif cfg.get("lora_target_modules"):
        t = cfg["lora_target_modules"]
        r.put("lora_target_modules", [t] if isinstance(t, str) else list(t), "lora_target_modules")


def _write_task(values: Values, where: Where) -> dict[str, Any] | None:
    task = values.get("task")
    if task is None:
        return None
    out: dict[str, Any] = {}
    if task in RL_TASKS:
        out["rl"] = str(task)
    elif task == "pretrain":
        datasets = values.get("datasets") or []
        if not datasets or any(d.get("format") != "text" for d in datasets):
            raise Untranslatable(
                "Axolotl has no stage switch: pretraining follows from completion datasets (type: completion) or "
                "pretraining_dataset, and the datasets did not translate"
            )
    elif task != "sft":
        return None
    if task == "kto":  # Axolotl's validator: "Set `remove_unused_columns: False` when using kto"
        out["remove_unused_columns"] = False
    return out


def _read_task(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    rl = cfg.get("rl")
    if rl is None:
        pretrain = bool(cfg.get("pretraining_dataset")) or _all_completion(cfg.get("datasets"))
        r.put("task", "pretrain" if pretrain else "sft", *(["rl"] if "rl" in cfg else []))
    elif rl in RL_TASKS:
        r.put("task", rl, "rl")
    else:
        r.untranslated["rl"] = f"rl: {rl} has no framework-neutral stage"
    if cfg.get("pretraining_dataset"):
        r.untranslated["pretraining_dataset"] = "streaming pretraining datasets have no framework-neutral form"


def _all_completion(datasets: Any) -> bool:
    return (
        isinstance(datasets, list)
        and bool(datasets)
        and all(isinstance(d, dict) and d.get("type") == "completion" for d in datasets)
    )


_RL_LOSS = {"dpo": "sigmoid", "ipo": "ipo", "orpo": "orpo", "simpo": "simpo", "kto": "kto_pair"}


def _write_pref_loss(values: Values, where: Where) -> dict[str, Any] | None:
    """Axolotl's `rl:` type names the loss (dpo: sigmoid); any other loss has no key."""
    loss, task = values.get("pref_loss"), values.get("task")
    if loss is None:
        return None
    if _RL_LOSS.get(str(task)) == loss:
        return {}
    raise Untranslatable(f"Axolotl's rl: {task} trains with the {_RL_LOSS.get(str(task), '?')} loss; {loss} has no key")


def _write_grpo(values: Values, where: Where) -> dict[str, Any] | None:
    if values.get("reward_funcs") is None:
        return None
    for name in values.get("reward_files") or ():  # FT194: shipped beside the config, importable from there
        if where.base is None:
            break  # keys only (no folder to copy from or to)
        source = where.local(name)
        if source is None:
            raise Untranslatable(f"reward module file {name} is not beside the spec")
        where.files[name] = source.read_text(encoding="utf-8")
    trl = {"reward_funcs": list(values["reward_funcs"])}
    for name in ("num_generations", "max_completion_length", "use_vllm"):
        if values.get(name) is not None:
            trl[name] = values[name]
    return {"trl": trl}


def _read_grpo(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    trl = cfg.get("trl")
    if not isinstance(trl, dict):
        return
    for name in ("reward_funcs", "num_generations", "max_completion_length", "use_vllm"):
        if trl.get(name) is not None:
            r.put(name, trl[name], "trl")
    for key in trl:
        if key not in ("reward_funcs", "num_generations", "max_completion_length", "use_vllm"):
            r.untranslated[f"trl.{key}"] = "a TRL option without a framework-neutral form"


def _write_template(values: Values, where: Where) -> dict[str, Any] | None:
    from . import describe_template, translate_template

    value = values.get("chat_template")
    if not value:
        return None
    if isinstance(value, Mapping) and NAME in value and not value[NAME]:
        return {}  # the plan says: no named template for this framework (it formats this data without one)
    name = translate_template(value, NAME)
    if name is None:
        raise Untranslatable(
            f"{describe_template(value)}: no Axolotl chat_template is known to name the same prompt format"
        )
    return {"chat_template": name}


def _read_template(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("chat_template") is not None:
        r.put("chat_template", {NAME: cfg["chat_template"]}, "chat_template")


def _dataset_entry(item: Mapping[str, Any], where: Where) -> dict[str, Any]:
    fmt = item.get("format")
    hub = item.get("source") == "hub"
    out: dict[str, Any] = {"path": where.path(item["path"]) if not hub else item["path"]}
    if item.get("subset"):
        out["name"] = item["subset"]
    split = item.get("split", "train")
    if split != "train" or hub:
        out["split"] = split
    if fmt == "preference":  # DPODataset / KTODataset have no ds_type: Axolotl reads the file's extension
        out["type"] = dict(_PREFERENCE_TYPE)
        return out
    if fmt == "kto":
        out["type"] = dict(_KTO_TYPE)
        return out
    if not hub:
        out["ds_type"] = _FILE_TYPES.get(Path(str(item["path"])).suffix.lower(), "json")
    if fmt == "prompt":  # GRPO prompts: read as they are
        return out
    if fmt == "alpaca" and item.get("chat"):
        out["type"] = SFT_TRANSFORM
        where.files.update(SFT_FILES)
    elif fmt == "alpaca":
        out["type"] = "alpaca"
    elif fmt in ("sharegpt", "messages"):
        out["type"] = "chat_template"
        field_, role, content = _messages_fields(item)
        out["field_messages"] = field_
        if (role, content) != ("role", "content"):
            out["message_property_mappings"] = {"role": role, "content": content}
    elif fmt == "text":
        out.update(type="completion", field=item.get("text_field") or "text")
    else:
        raise Untranslatable(f"dataset format {fmt!r} has no Axolotl dataset type ftgen writes")
    return out


def _messages_fields(item: Mapping[str, Any]) -> tuple[str, str, str]:
    if item.get("format") == "sharegpt":
        return "conversations", "from", "value"
    return (
        item.get("messages_field") or "messages",
        item.get("role_field") or "role",
        item.get("content_field") or "content",
    )


def _write_datasets(values: Values, where: Where) -> dict[str, Any] | None:
    datasets = values.get("datasets")
    if not datasets:
        return None
    if values.get("task") == "grpo":
        transform = values.get("grpo_transform")
        if not transform:
            raise Untranslatable("Axolotl's GRPO needs a dataset transform `type:` (FT193 decides it)")
        where.files[GRPO_MODULE_FILE] = GRPO_MODULE
        return {"datasets": [{**_dataset_entry({**d, "format": "prompt"}, where), "type": transform} for d in datasets]}
    template = values.get("chat_template")
    if values.get("task") in (None, "sft") and isinstance(template, Mapping) and template.get(NAME):
        datasets = [{**d, "chat": True} for d in datasets]  # alpaca rows in the model's chat template
    transform = values.get("pref_transform")
    if transform and values.get("task") in ("dpo", "kto", "orpo"):
        where.files[PREF_MODULE_FILE] = PREF_MODULE
        return {"datasets": [{**_dataset_entry(d, where), "type": transform} for d in datasets]}
    return {"datasets": [_dataset_entry(d, where) for d in datasets]}


def _is_file(path: str, ds_type: Any) -> bool:
    return (
        bool(ds_type)
        or bool(re.search(r"\.(jsonl?|parquet|csv|arrow|txt)$", str(path)))
        or str(path).startswith(("/", "./", "../"))
    )


def _dataset_item(ds: Any) -> tuple[dict | None, str]:
    if not isinstance(ds, dict) or not ds.get("path"):
        return None, "a dataset entry without a path"
    t = ds.get("type")
    item: dict[str, Any] = {"path": ds["path"], "source": "file" if _is_file(ds["path"], ds.get("ds_type")) else "hub"}
    if ds.get("split") not in (None, "train"):
        item["split"] = ds["split"]
    if ds.get("name"):
        item["subset"] = ds["name"]
    if t in ("alpaca", SFT_TRANSFORM):
        item["format"] = "alpaca"
    elif t == "chat_template":
        mapping = ds.get("message_property_mappings") or {}
        fields = (
            ds.get("field_messages") or "messages",
            mapping.get("role", "role"),
            mapping.get("content", "content"),
        )
        if fields == ("conversations", "from", "value"):
            item["format"] = "sharegpt"
        else:
            item["format"] = "messages"
            if fields != ("messages", "role", "content"):
                item.update(messages_field=fields[0], role_field=fields[1], content_field=fields[2])
    elif t == "completion":
        item["format"] = "text"
        if (ds.get("field") or "text") != "text":
            item["text_field"] = ds["field"]
    elif isinstance(t, str) and t in GRPO_TRANSFORMS:
        item["format"] = GRPO_TRANSFORMS[t]
    elif isinstance(t, str) and t in PREF_TRANSFORMS:
        item["format"] = PREF_TRANSFORMS[t]
    elif t == _PREFERENCE_TYPE:
        item["format"] = "preference"
    elif t == _KTO_TYPE:
        item["format"] = "kto"
    else:
        return None, (
            f"dataset type {t!r} has no framework-neutral form "
            "(alpaca, chat_template, completion and the field_* preference types translate)"
        )
    return item, ""


def _read_datasets(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    datasets = cfg.get("datasets")
    if not isinstance(datasets, list):
        return
    out, ok = [], True
    for i, ds in enumerate(datasets):
        item, why = _dataset_item(ds)
        if item is None:
            r.untranslated[f"datasets[{i}]"] = why
            ok = False
            continue
        out.append(item)
        for key, value in ds.items():
            if key not in _DATASET_KEYS and value is not None:
                r.untranslated[f"datasets[{i}].{key}"] = "a per-dataset Axolotl option without a neutral form"
    if out and ok:
        r.put("datasets", out, "datasets")
    elif out:
        r.untranslated.setdefault("datasets", "some entries cannot be translated (listed one by one)")


def _write_precision(values: Values, where: Where) -> dict[str, Any] | None:
    precision = values.get("precision")
    if precision is None:
        return None
    bf16, fp16 = PRECISION[str(precision)]
    return {"bf16": bf16, "fp16": fp16}


def _read_precision(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    bf16, fp16 = cfg.get("bf16", "auto"), cfg.get("fp16")
    keys = [k for k in ("bf16", "fp16") if k in cfg]
    if bf16 == "auto" and not truthy(fp16):
        if "bf16" in cfg:
            r.untranslated["bf16"] = (
                "bf16: auto picks bf16 where the GPU has it; other frameworks need an explicit bf16: true or false"
            )
    elif truthy(bf16):
        r.put("precision", "bf16", *keys)
    elif truthy(fp16):
        r.put("precision", "fp16", *keys)
    elif bf16 is False or bf16 == "false":
        r.put("precision", "fp32", *keys)


def _read_checkpointing(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    gc = cfg.get("gradient_checkpointing")
    if isinstance(gc, bool):
        r.put("gradient_checkpointing", gc, "gradient_checkpointing")
    elif gc is not None:
        r.untranslated["gradient_checkpointing"] = (
            f"gradient_checkpointing: {gc} (activation offloading) has no framework-neutral form"
        )


def _write_checkpointing(values: Values, where: Where) -> dict[str, Any] | None:
    gc = values.get("gradient_checkpointing")
    return None if gc is None else {"gradient_checkpointing": bool(gc)}


def _read_attention(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    attn = cfg.get("attn_implementation")
    legacy = [k for k in _LEGACY_ATTENTION if truthy(cfg.get(k))]
    if attn:
        r.put("attn_implementation", attn, "attn_implementation")
    elif legacy:
        r.put("attn_implementation", _LEGACY_ATTENTION[legacy[0]], *legacy)


def _write_attention(values: Values, where: Where) -> dict[str, Any] | None:
    attn = values.get("attn_implementation")
    if attn is None:
        return None
    if attn not in ATTENTION:
        raise Untranslatable(f"attention {attn!r} has no Axolotl attn_implementation")
    return {"attn_implementation": str(attn)}


def _write_packing(values: Values, where: Where) -> dict[str, Any] | None:
    packing = values.get("packing")
    if packing is None:
        return None
    out: dict[str, Any] = {"sample_packing": bool(packing)}
    if packing and values.get("pad_to_sequence_len") is not False:
        out["pad_to_sequence_len"] = True
    return out


def _read_packing(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("sample_packing") is not None:
        r.put("packing", truthy(cfg["sample_packing"]), "sample_packing")
    if cfg.get("pad_to_sequence_len") is not None:
        r.put("pad_to_sequence_len", truthy(cfg["pad_to_sequence_len"]), "pad_to_sequence_len")


def _write_kernels(values: Values, where: Where) -> dict[str, Any] | None:
    kernels = values.get("lora_kernels")
    if kernels is None or not _adapters(values):
        return None
    return {k: bool(kernels) for k in LORA_KERNELS}


def _read_kernels(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    found = [k for k in LORA_KERNELS if cfg.get(k) is not None]
    if found:
        values = {truthy(cfg[k]) for k in found}
        if len(values) == 1:
            r.put("lora_kernels", values.pop(), *found)
        else:
            for k in found:
                r.untranslated[k] = "only some of Axolotl's LoRA kernels switched: no neutral form (all or none)"


def _write_liger(values: Values, where: Where) -> dict[str, Any] | None:
    if values.get("liger_kernel") is None:
        return None
    if not values["liger_kernel"]:
        return {}
    return {"plugins": [LIGER_PLUGIN], **{k: True for k in LIGER_KEYS}}


def _read_plugins(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    plugins = cfg.get("plugins") if isinstance(cfg.get("plugins"), list) else []
    liger = [k for k in LIGER_ALL if cfg.get(k) is not None]
    if any(str(p).startswith("axolotl.integrations.liger.") for p in plugins) and liger:
        on = [k for k in liger if cfg[k] is True or (k != "liger_kernel_impl" and truthy(cfg[k]))]
        r.put("liger_kernel", bool(on), "plugins", *liger)
        if on and set(on) != set(LIGER_KEYS):
            r.notes.append(
                "liger: " + ", ".join(sorted(on)) + " switched on; a single switch (e.g. LLaMA-Factory "
                "enable_liger_kernel) patches rope, RMSNorm, SwiGLU and the fused cross-entropy together"
            )
    others = [p for p in plugins if not str(p).startswith("axolotl.integrations.liger.") and p != CCE_PLUGIN]
    if others:
        r.untranslated["plugins"] = f"Axolotl plugins without a neutral form: {', '.join(map(str, others))}"


def _write_cce(values: Values, where: Where) -> dict[str, Any] | None:
    if not values.get("use_cut_cross_entropy"):
        return None if values.get("use_cut_cross_entropy") is None else {}
    return {"cut_cross_entropy": True, "plugins": [CCE_PLUGIN]}


def _read_cce(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    """The CutCrossEntropyPlugin switches CCE on unless cut_cross_entropy says false (its default is true)."""
    plugins = cfg.get("plugins") if isinstance(cfg.get("plugins"), list) else []
    if CCE_PLUGIN in plugins:
        r.put("use_cut_cross_entropy", cfg.get("cut_cross_entropy") is not False, "plugins", "cut_cross_entropy")
    elif cfg.get("cut_cross_entropy") is not None:
        r.untranslated["cut_cross_entropy"] = f"a plugin switch without its plugin ({CCE_PLUGIN}): it has no effect"


def _write_distributed(values: Values, where: Where) -> dict[str, Any] | None:
    dist = values.get("distributed")
    if dist is None:
        return None
    from ..plan import Distributed  # here: reading a config (ftgen lint) needs no plan

    dist = Distributed(dist)
    if dist.deepspeed:
        return {"deepspeed": dist.deepspeed_file}
    if dist == "fsdp":
        return {"fsdp_version": 2, "fsdp_config": dict(FSDP_CONFIG)}
    return {}  # single / ddp: nothing to say


def _read_distributed(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("deepspeed"):
        r.put("deepspeed", cfg["deepspeed"], "deepspeed")
    for key in ("fsdp_config", "fsdp_version", "fsdp"):
        if cfg.get(key) is not None:
            r.untranslated[key] = (
                "FSDP settings have no framework-neutral form (LLaMA-Factory reads them from an accelerate config)"
            )


def _write_deepspeed(values: Values, where: Where) -> dict[str, Any] | None:
    if values.get("deepspeed") is None or values.get("distributed") is not None:
        return None
    return {"deepspeed": where.path(values["deepspeed"])}


def _implied_eval_strategy(values: Values) -> str:
    """Axolotl's trainer builder: no eval data -> "no"; eval_steps or evals_per_epoch -> "steps"."""
    if not num(values.get("val_set_size") or 0) and not values.get("test_datasets"):
        return "no"
    if values.get("eval_steps") or values.get("evals_per_epoch"):
        return "steps"
    return "no"


def _write_report_to(values: Values, where: Where) -> dict[str, Any] | None:
    report = values.get("report_to")
    if report is None:
        return None
    names = [report] if isinstance(report, str) else list(report)
    if names in (["none"], []):
        return {}  # Axolotl reports to no tracker unless use_wandb / use_mlflow / ... ask for one
    switches = {"wandb": "use_wandb", "mlflow": "use_mlflow", "comet_ml": "use_comet", "tensorboard": "use_tensorboard"}
    out = {switches[n]: True for n in names if n in switches}
    return out if len(out) == len(names) else None


def _read_report_to(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    switches = {"use_wandb": "wandb", "use_mlflow": "mlflow", "use_comet": "comet_ml", "use_tensorboard": "tensorboard"}
    on = [name for key, name in switches.items() if truthy(cfg.get(key))]
    keys = [k for k in switches if k in cfg]
    if keys:
        r.put("report_to", on[0] if len(on) == 1 else on or "none", *keys)


def _write_mlflow_uri(values: Values, where: Where) -> dict[str, Any] | None:
    uri = values.get("mlflow_tracking_uri")
    if uri is None:
        return None
    if where.base is not None and where.out is not None:  # a local store as seen from the config's folder
        from ..tracking import rebase

        uri = rebase(uri, where.base, where.out)
    return {"mlflow_tracking_uri": uri}


def _read_mlflow_uri(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if isinstance(cfg.get("mlflow_tracking_uri"), str):
        r.put("mlflow_tracking_uri", cfg["mlflow_tracking_uri"], "mlflow_tracking_uri")


def _tf32_back(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise Untranslatable(f"tf32: {value} follows the GPU; a framework-neutral plan says true or false")


def _warmup_steps_back(value: Any) -> int:
    steps = num(value)
    if isinstance(steps, float) and not steps.is_integer():
        raise Untranslatable(
            "Axolotl's warmup_steps is a whole number of steps (a fraction is refused there); use warmup_ratio"
        )
    return int(steps) if isinstance(steps, float) else steps


# ---------------------------------------------------------------------------------------------- the key table

ROWS = (
    # Model
    row("base_model", "base_model", "Model", path=True),
    row("trust_remote_code", "trust_remote_code", "Model", implied=lambda v: False),
    row("model_revision", "revision_of_model", "Model", implied=lambda v: "main"),
    joint(("chat_template",), ("chat_template",), "Model", _write_template, _read_template),
    # Method
    joint(
        ("method", "quant_bits"),
        ("adapter", "load_in_4bit", "load_in_8bit", "bnb_config_kwargs"),
        "Method",
        _write_method,
        _read_method,
    ),
    joint(("double_quant", "quant_type"), ("bnb_config_kwargs",), "Method", _write_bnb, lambda cfg, r, w: None),
    _lora_field("lora_r", "lora_r"),
    _lora_field("lora_alpha", "lora_alpha"),
    _lora_field("lora_dropout", "lora_dropout"),
    joint(
        ("lora_target_modules",), ("lora_target_modules", "lora_target_linear"), "Method", _write_targets, _read_targets
    ),
    joint(("task",), ("rl", "remove_unused_columns", "pretraining_dataset"), "Method", _write_task, _read_task),
    row("pref_beta", "rl_beta", "Method", back=num),
    joint(("pref_loss",), (), "Method", _write_pref_loss, lambda cfg, r, w: None),
    joint(
        ("reward_funcs", "num_generations", "max_completion_length", "use_vllm", "reward_files"),
        ("trl",),
        "Method",
        _write_grpo,
        _read_grpo,
    ),
    row("use_dora", "peft_use_dora", "Method"),
    row("use_rslora", "peft_use_rslora", "Method"),
    row("adapter_path", "lora_model_dir", "Method", path=True),
    row("loraplus_lr_ratio", "loraplus_lr_ratio", "Method", back=num),
    row("simpo_gamma", "simpo_gamma", "Method", back=num),
    row("kto_chosen_weight", "kto_desirable_weight", "Method", back=num),
    row("kto_rejected_weight", "kto_undesirable_weight", "Method", back=num),
    # Data
    joint(("datasets", "grpo_transform", "pref_transform"), ("datasets",), "Data", _write_datasets, _read_datasets),
    row("dataset_cache_dir", "dataset_prepared_path", "Data"),
    default_only("retokenize", True, "Data"),  # its cache is keyed by the config and the data
    row("dataset_num_proc", "dataset_num_proc", "Data"),
    row("val_set_size", "val_set_size", "Data", back=num),
    row("sequence_len", "sequence_len", "Data"),
    joint(
        ("packing", "pad_to_sequence_len"),
        ("sample_packing", "pad_to_sequence_len"),
        "Data",
        _write_packing,
        _read_packing,
    ),
    # Training
    row("micro_batch_size", "micro_batch_size", "Training"),
    row("eval_batch_size", "eval_batch_size", "Training", implied=lambda v: v.get("micro_batch_size")),
    row("gradient_accumulation_steps", "gradient_accumulation_steps", "Training"),
    row("num_epochs", "num_epochs", "Training", back=num),
    row("max_steps", "max_steps", "Training"),
    row("optimizer", "optimizer", "Training"),
    row("lr_scheduler", "lr_scheduler", "Training"),
    row("lr_scheduler_kwargs", "lr_scheduler_kwargs", "Training"),
    row("learning_rate", "learning_rate", "Training", back=num),
    row("warmup_ratio", "warmup_ratio", "Training", back=num),
    # the plan carries both; Axolotl refuses both at once, and its warmup_ratio already warms up over those steps
    row(
        "warmup_steps",
        "warmup_steps",
        "Training",
        back=_warmup_steps_back,
        implied=lambda v: v.get("warmup_steps") if v.get("warmup_ratio") is not None else None,
    ),
    row("weight_decay", "weight_decay", "Training", back=num),
    row("max_grad_norm", "max_grad_norm", "Training", back=num),
    row("adam_beta1", "adam_beta1", "Training", back=num),
    row("adam_beta2", "adam_beta2", "Training", back=num),
    row("adam_epsilon", "adam_epsilon", "Training", back=num),
    row("neftune_noise_alpha", "neftune_noise_alpha", "Training", back=num),
    # Hardware
    joint(("precision",), ("bf16", "fp16"), "Hardware", _write_precision, _read_precision),
    row("tf32", "tf32", "Hardware", back=_tf32_back),
    default_only("use_cpu", False, "Hardware"),
    joint(
        ("gradient_checkpointing",), ("gradient_checkpointing",), "Hardware", _write_checkpointing, _read_checkpointing
    ),
    row("gradient_checkpointing_kwargs", "gradient_checkpointing_kwargs", "Hardware"),
    joint(
        ("attn_implementation",),
        ("attn_implementation", *_LEGACY_ATTENTION),
        "Hardware",
        _write_attention,
        _read_attention,
    ),
    joint(("lora_kernels",), LORA_KERNELS, "Hardware", _write_kernels, _read_kernels),
    joint(("liger_kernel",), ("plugins", *LIGER_ALL), "Hardware", _write_liger, _read_plugins),
    joint(("use_cut_cross_entropy",), ("cut_cross_entropy",), "Hardware", _write_cce, _read_cce),
    joint(
        ("distributed",),
        ("deepspeed", "fsdp_version", "fsdp_config", "fsdp"),
        "Hardware",
        _write_distributed,
        _read_distributed,
    ),
    joint(("deepspeed",), ("deepspeed",), "Hardware", _write_deepspeed, lambda cfg, r, w: None),
    row("torch_compile", "torch_compile", "Hardware"),
    row("dataloader_num_workers", "dataloader_num_workers", "Hardware"),
    row("dataloader_pin_memory", "dataloader_pin_memory", "Hardware"),
    row("ddp_timeout", "ddp_timeout", "Hardware"),
    row("ddp_find_unused_parameters", "ddp_find_unused_parameters", "Hardware"),
    # Evaluation and checkpoints
    row("output_dir", "output_dir", "Evaluation and checkpoints"),
    default_only("overwrite_output_dir", True, "Evaluation and checkpoints"),
    row("eval_strategy", "eval_strategy", "Evaluation and checkpoints", to=str, implied=_implied_eval_strategy),
    row("eval_steps", "eval_steps", "Evaluation and checkpoints", when=lambda v: v.get("eval_strategy") != "no"),
    row("evals_per_epoch", "evals_per_epoch", "Evaluation and checkpoints"),
    row("save_strategy", "save_strategy", "Evaluation and checkpoints"),
    row("save_steps", "save_steps", "Evaluation and checkpoints"),
    row("saves_per_epoch", "saves_per_epoch", "Evaluation and checkpoints"),
    row("save_total_limit", "save_total_limit", "Evaluation and checkpoints"),
    row("save_only_model", "save_only_model", "Evaluation and checkpoints"),
    row("logging_steps", "logging_steps", "Evaluation and checkpoints"),
    joint(
        ("report_to",),
        ("use_wandb", "use_mlflow", "use_comet", "use_tensorboard"),
        "Evaluation and checkpoints",
        _write_report_to,
        _read_report_to,
    ),
    row("seed", "seed", "Evaluation and checkpoints"),
    row("test_datasets", "test_datasets", "Evaluation and checkpoints"),
    row("resume_from_checkpoint", "resume_from_checkpoint", "Evaluation and checkpoints"),
    row("hub_model_id", "hub_model_id", "Evaluation and checkpoints"),
    row("hub_strategy", "hub_strategy", "Evaluation and checkpoints"),
    row("metric_for_best_model", "metric_for_best_model", "Evaluation and checkpoints"),
    row("greater_is_better", "greater_is_better", "Evaluation and checkpoints"),
    row("load_best_model_at_end", "load_best_model_at_end", "Evaluation and checkpoints"),
    row("include_tokens_per_second", "include_tokens_per_second", "Evaluation and checkpoints"),
    row("group_by_length", "group_by_length", "Evaluation and checkpoints"),
    row("train_on_inputs", "train_on_inputs", "Data"),
    row("special_tokens", "special_tokens", "Model"),
    row("added_tokens", "tokens", "Model"),
    row("wandb_project", "wandb_project", "Evaluation and checkpoints"),
    row("wandb_entity", "wandb_entity", "Evaluation and checkpoints"),
    row("wandb_run_name", "wandb_name", "Evaluation and checkpoints"),
    row("mlflow_experiment_name", "mlflow_experiment_name", "Evaluation and checkpoints"),
    joint(
        ("mlflow_tracking_uri",),
        ("mlflow_tracking_uri",),
        "Evaluation and checkpoints",
        _write_mlflow_uri,
        _read_mlflow_uri,
    ),
    row("max_prompt_len", "max_prompt_len", "Data"),
)

# Keys that carry no framework-neutral meaning (anything else unread gets the generic reason).
LOCAL = {
    "strict": "an Axolotl loader switch",
    "flash_attn_cross_entropy": "an Axolotl kernel switch",
    "flash_attn_fuse_mlp": "an Axolotl kernel switch",
    "wandb_watch": "Axolotl's W&B settings (trackers elsewhere read WANDB_* environment variables)",
    "wandb_log_model": "Axolotl's W&B settings (trackers elsewhere read WANDB_* environment variables)",
}
# Neutral fields Axolotl has no key for, and why.
ABSENT = {
    "run_name": "Axolotl names tracker runs with wandb_name / mlflow_run_name (`ftgen run` sets the run id)",
    "retokenize": "Axolotl keys its tokenised cache by the config and the data: what changed is always "
    "re-tokenised; there is no switch to read an older cache",
    "overwrite_output_dir": "Axolotl writes into an existing output_dir (it resumes only when asked): it has no "
    "switch that refuses one (`ftgen run` gives each run a new folder)",
    "plot_loss": "Axolotl draws no loss plot (trackers, or `ftgen run`'s loss.png, do)",
    "use_cpu": "Axolotl has no CPU switch: it trains on the CPU where torch finds no accelerator "
    "(CUDA_VISIBLE_DEVICES= hides them)",
    "max_samples": "Axolotl has no per-dataset row cap",
    "export_dir": "Axolotl merges with `axolotl merge-lora`, not through the training config",
    "packing_cross_attention": "Axolotl's sample packing always keeps packed examples apart",
}


_DATASET_MODELS = ("SFTDataset", "DPODataset", "KTODataset", "StepwiseSupervisedDataset", "SyntheticDataset")


@cache
def _dataset_model_keys() -> frozenset[str]:
    """Every key of Axolotl 0.19.0's dataset models."""
    defs = FRAMEWORK.schema().get("$defs", {})
    return frozenset(k for name in _DATASET_MODELS for k in defs.get(name, {}).get("properties", {}))


# ---------------------------------------------------------------------------------------------- lint

_SRC = "axolotl 0.19.0 axolotl/utils/schemas/"


def _lint_qlora_without_4bit(ctx) -> None:
    """FTL101: Axolotl's validate_qlora refuses QLoRA without 4-bit loading, or with 8-bit loading."""
    c = ctx.cfg
    if c.get("adapter") != "qlora" or truthy(c.get("merge_lora")):
        return
    if truthy(c.get("load_in_8bit")):
        ctx.report(
            "load_in_8bit",
            'QLoRA with 8-bit loading: Axolotl refuses it ("Can\'t load qlora in 8bit")',
            found=True,
            allowed="load_in_4bit: true",
            when="validate",
            source=_SRC + "peft.py:217",
        )
    elif not truthy(c.get("load_in_4bit")):
        ctx.report(
            "adapter",
            'QLoRA without 4-bit loading: Axolotl refuses it ("Require cfg.load_in_4bit to be True for qlora")',
            found="qlora",
            allowed="add load_in_4bit: true, or adapter: lora",
            when="validate",
            source=_SRC + "peft.py:223",
        )


def _lint_quantized_full(ctx) -> None:
    """FTL109: Axolotl's validate_adapter refuses quantised loading without an adapter."""
    c = ctx.cfg
    if (
        not c.get("adapter")
        and not c.get("inference")
        and (truthy(c.get("load_in_4bit")) or truthy(c.get("load_in_8bit")))
    ):
        key = "load_in_4bit" if truthy(c.get("load_in_4bit")) else "load_in_8bit"
        ctx.report(
            key,
            "quantised loading without an adapter: Axolotl refuses it",
            found=True,
            allowed="adapter: qlora / lora, or no quantised loading",
            when="validate",
            source=_SRC + "peft.py:185",
        )


# ---------------------------------------------------------------------------------------------- launch.sh

# The body of launch.sh's `axolotl)` case: `ctx` is the build's LaunchContext, `config` its config file, values
# only through the `q` filter. Torchrun takes the topology launch.sh worked out (NNODES, NPROC_PER_NODE, ...).
LAUNCH_SH = """\
{% if ctx.cpu %}
    if [ "$world" -gt 1 ]; then
      echo "Axolotl cannot run more than one process on CPU (it places each rank on an accelerator):" \\
           "run one process, or a framework that runs torchrun with gloo" >&2
      exit 2
    fi
{% endif %}
    if [ "$world" -gt 1 ]; then
      if [ -n "${RDZV_ID:-}" ]; then
        rdzv=(--rdzv_backend c10d --rdzv_endpoint "$MASTER_ADDR:${MASTER_PORT:-{{ ctx.master_port | q }}}" --rdzv_id "$RDZV_ID")
      elif [ "$NNODES" -gt 1 ]; then
        rdzv=(--node_rank "$NODE_RANK" --master_addr "$MASTER_ADDR" --master_port "${MASTER_PORT:-{{ ctx.master_port | q }}}")
      else
        rdzv=(--standalone)
      fi
      exec axolotl train {{ config | q }} --launcher torchrun "$@" -- \\
        --nnodes "$NNODES" --nproc_per_node "$NPROC_PER_NODE" "${rdzv[@]}"
    fi
    exec axolotl train {{ config | q }} --launcher python "$@"
"""


# ---------------------------------------------------------------------------------------------- the framework


# ------------------------------------------------------------------------------------------------- imports
# Where Axolotl 0.19.0 imports a module named by its config (read in the pinned sources):
#   plugins[]            integrations/base.py load_plugin: import_module(module), also "axolotl.integrations." + module
#   datasets[].type, test_datasets[].type, pretraining_dataset[].type
#                        prompt_strategies/__init__.py load (SFT) and prompt_strategies/base.py load (dpo/kto/orpo/
#                        ebft): a dotted name whose first part is not a built-in strategy module is imported
#   trainer_cls          utils/import_helper.py get_cls_from_module_str (core/builders/causal.py, rl.py)
#   trl.reward_funcs[], trl.rollout_func
#                        core/trainers/grpo/__init__.py: import_module(all but the last part)
#   hatchery.reward_funcs[]  integrations/hatchery/rl_trainer.py _load_reward_func
#   vllm.serve_module    cli/vllm_serve.py: the module run as the vLLM server
# Axolotl's own plugins and strategy modules need no allow_imports entry: scripts/gen_schemas.py lists them
# from the package into the schema (x-ftgen.builtin_imports).

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_DATASET_LISTS = ("datasets", "test_datasets", "pretraining_dataset")


@cache
def _builtin_imports() -> tuple[frozenset[str], frozenset[str]]:
    """(built-in plugin class paths, built-in strategy modules of every family), from the generated schema."""
    meta = FRAMEWORK.schema().get("x-ftgen", {}).get("builtin_imports", {})
    plugins = frozenset(meta.get("plugins", ()))
    modules = frozenset(m for family in (meta.get("strategy_modules") or {}).values() for m in family)
    return plugins, modules


def _parent(name: str) -> str:
    """The module of a dotted `module.attribute` name (what import_module receives)."""
    return name.rsplit(".", 1)[0] if "." in name else name


def _as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def _strategy_module(value: Any) -> str | None:
    """The module a datasets[].type value makes Axolotl import from outside its package, or None."""
    if not isinstance(value, str) or not _DOTTED.match(value):
        return None  # a mapping (user-defined format), alpaca:chat, or nothing importable
    _, modules = _builtin_imports()
    if value.split(".")[0] in modules:
        return None  # Axolotl's own strategy (chat_template.argilla, llama3.prompt_pairs, ...)
    return _parent(value)


def _plugin_module(value: Any) -> str | None:
    if not isinstance(value, str) or not _DOTTED.match(value) or "." not in value:
        return None
    plugins, _ = _builtin_imports()
    if value in plugins or f"axolotl.integrations.{value}" in plugins or value.startswith("axolotl.integrations."):
        return None
    return _parent(value)


def _imports(cfg: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key path inside the config, module imported) for every import an Axolotl config asks for."""
    for i, value in enumerate(_as_list(cfg.get("plugins"))):
        module = _plugin_module(value)
        if module:
            yield f"plugins[{i}]", module
    for key in _DATASET_LISTS:
        for i, entry in enumerate(_as_list(cfg.get(key))):
            if isinstance(entry, dict):
                module = _strategy_module(entry.get("type"))
                if module:
                    yield f"{key}[{i}].type", module
    if isinstance(cfg.get("trainer_cls"), str) and _DOTTED.match(cfg["trainer_cls"]):
        yield "trainer_cls", _parent(cfg["trainer_cls"])
    for section, list_key, one_key in (("trl", "reward_funcs", "rollout_func"), ("hatchery", "reward_funcs", None)):
        block = cfg.get(section)
        if not isinstance(block, dict):
            continue
        for i, value in enumerate(_as_list(block.get(list_key))):
            if isinstance(value, str) and _DOTTED.match(value) and "." in value:
                yield f"{section}.{list_key}[{i}]", _parent(value)
        if one_key and isinstance(block.get(one_key), str) and _DOTTED.match(block[one_key]):
            yield f"{section}.{one_key}", _parent(block[one_key])
    vllm = cfg.get("vllm")
    if isinstance(vllm, dict) and isinstance(vllm.get("serve_module"), str) and _DOTTED.match(vllm["serve_module"]):
        if not vllm["serve_module"].startswith("axolotl."):
            yield "vllm.serve_module", vllm["serve_module"]


class Axolotl(Framework):
    name = NAME
    label = "Axolotl"
    version = VERSION
    config_name = "axolotl.yaml"
    cli = "axolotl"
    env = EnvSpec(
        framework=NAME,
        version=VERSION,
        dist="axolotl",
        module="axolotl",
        python=">=3.10",  # 0.20+ needs >=3.12
        steps=(
            Step("create virtualenv", action="venv"),
            Step("upgrade pip", pip=("-U", "pip")),
            Step("install torch", pip=("{torch}",)),
            Step("install axolotl 0.19.0", pip=("{torch}", "axolotl==0.19.0", "matplotlib")),
            Step(f"install MLflow {MLFLOW_VERSION} (experiment tracking)", pip=("{torch}", *MLFLOW_REQUIREMENTS)),
            Step("install deepspeed 0.18.9 (ZeRO)", pip=(*DEEPSPEED_PIP[:-1], "{torch}", DEEPSPEED_PIP[-1])),
            # Axolotl's own `deepspeed` extra (deepspeed>=0.18.6,<0.19.0 and deepspeed-kernels); Liger
            # (liger-kernel==0.8.1) is already a core requirement. Its `flash-attn` extra (flash-attn==2.8.3) is
            # left out: PyPI has only its source, which compiles CUDA kernels for hours and publishes no wheel for
            # torch 2.13; `ftgen run` names the install command when a config asks for it.
            Step(
                "install GPU extras: axolotl[deepspeed]",
                pip=("{torch}", "axolotl[deepspeed]==0.19.0"),
                flavors=("cuda",),
            ),
        ),
        clis=("axolotl", "accelerate", "torchrun"),
    )
    cli_args = "--key=value"
    launch_sh = LAUNCH_SH

    def needs(self, config: Mapping[str, Any]) -> list[Need]:
        out = []
        if config.get("deepspeed"):
            out.append(Need("deepspeed", "deepspeed", "a DeepSpeed ZeRO config", DEEPSPEED_PIP))
        plugins = config.get("plugins") if isinstance(config.get("plugins"), list) else []
        if LIGER_PLUGIN in plugins:
            out.append(Need("liger_kernel", "plugins", "the Liger plugin", ("liger-kernel==0.8.1",)))
        if config.get("attn_implementation") == "flash_attention_2" or truthy(config.get("flash_attention")):
            out.append(
                Need(
                    "flash_attn",
                    "attn_implementation",
                    "FlashAttention-2 (builds from source: needs the CUDA toolkit, and takes long)",
                    ("--no-build-isolation", "flash-attn==2.8.3"),
                )
            )
        trl = config.get("trl") if isinstance(config.get("trl"), Mapping) else {}
        if truthy(trl.get("use_vllm")):
            out.append(Need("vllm", "trl.use_vllm", "generation through vLLM", ("axolotl[vllm]==0.19.0",)))
        return out

    quiet_env = {"AXOLOTL_DO_NOT_TRACK": "1"}
    model_keys = ("base_model", "base_model_config", "tokenizer_config")
    rows = ROWS
    local = LOCAL
    absent = ABSENT
    templates = TEMPLATES
    markers = (
        "base_model",
        "datasets",
        "micro_batch_size",
        "sequence_len",
        "num_epochs",
        "adapter",
        "lora_r",
        "val_set_size",
        "pretraining_dataset",
        "rl",
    )
    # Sources: Axolotl 0.19.0 `rl:` types (utils/schemas/enums.py RLType) and dataset strategies.
    targets = {
        "sft": ("qlora", "lora", "full"),
        "pretrain": ("qlora", "lora", "full"),
        "dpo": ("qlora", "lora", "full"),
        "kto": ("qlora", "lora", "full"),
        "orpo": ("qlora", "lora", "full"),
        "grpo": ("qlora", "lora", "full"),
    }
    unsupported: dict[str, str] = {}
    proven = {
        ("sft", "lora"): "run",
        ("sft", "qlora"): "run",
        ("sft", "full"): "run",
        ("pretrain", "lora"): "cell",
        ("dpo", "lora"): "cell",
        ("dpo", "qlora"): "cell",
        ("dpo", "full"): "cell",
        ("kto", "lora"): "cell",
        ("orpo", "lora"): "cell",
        ("grpo", "lora"): "cell",
    }
    preferred = {
        "sft": "Axolotl packs samples with multipack",
        "pretrain": "Axolotl packs samples with multipack",
        "grpo": "Axolotl is the one with GRPO",
    }
    traits = Traits(
        unknown_keys="dropped",
        type_errors="validate",
        precision_conflict="train",
        bool_as_int=True,
        multi_process_on_cpu=False,
    )
    eval_data_key = "test_datasets"
    lint_checks = {"FTL101": _lint_qlora_without_4bit, "FTL109": _lint_quantized_full}
    native_script = "axolotl_validate.py"
    schema_script = "axolotl_schema.py"
    machine_facts = (
        (
            re.compile(r"PackageNotFoundError|No package metadata|is not installed|ModuleNotFoundError|ImportError"),
            "a package the config needs is not installed in the Axolotl env",
        ),
        (
            re.compile(r"CUDA|no GPU|not supported on this GPU|Cannot access accelerator"),
            "the check needs a GPU this machine does not have",
        ),
    )

    def imports(self, cfg: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        return _imports(cfg)

    def accepts_union_key(self, pattern: str) -> bool:
        """`datasets` / `test_datasets` entries are a union of Axolotl 0.19.0's dataset models: a key of any one
        of them is accepted."""
        for parent in ("datasets[].", "test_datasets[]."):
            if pattern.startswith(parent) and "." not in pattern[len(parent) :]:
                return pattern[len(parent) :] in _dataset_model_keys()
        return False

    def implied(self, fields: Values) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if fields.get("warmup_steps") is None and fields.get("warmup_ratio") is None:
            out["warmup_ratio"] = 0.03  # trainer builder: min(3% of the steps, 100 steps) when neither is set
        return out | {
            "packing": False,
            "gradient_checkpointing": False,
            "eval_strategy": _implied_eval_strategy(fields),
            "report_to": "none",
        }

    def model_template(self, card) -> str | None:
        return card.axolotl_chat_template

    def uses_template(self, task: str, formats: tuple[str, ...], chat: bool = False) -> bool:
        """Axolotl applies a chat template to conversation datasets (type: chat_template) and, for a model with a
        chat template, to alpaca SFT rows and preference rows through the transforms ftgen ships (FT107, FT195)."""
        conversations = any(f in ("sharegpt", "messages") for f in formats)
        if task in ("dpo", "kto", "orpo"):
            return chat
        return task in ("sft", "grpo") and (conversations or (chat and task == "sft" and "alpaca" in formats))

    def refusals(self, values: Values, cpu: bool, world: int) -> list[Refusal]:
        out = []
        if (
            values.get("distributed") == "fsdp"
            and values.get("method") == "qlora"
            and values.get("task") in ("dpo", "kto", "orpo")
        ):
            out.append(
                Refusal(
                    "overrides.distributed",
                    f"Axolotl's FSDP2 does not support 4-bit loading with {values.get('task')}",
                    "fsdp",
                    "zero3",
                )
            )
        if cpu and world > 1:
            from . import all_frameworks

            others = [fw.name for fw in all_frameworks() if fw.traits.multi_process_on_cpu]
            out.append(
                Refusal(
                    "hardware.gpus_per_node",
                    "Axolotl cannot run more than one process on CPU: it places each rank on an accelerator",
                    world,
                    "one process for Axolotl on CPU"
                    + (f", or framework: {' / '.join(others)} (torchrun with gloo)" if others else ""),
                )
            )
        return out

    # ------------------------------------------------------------------------------------------ running

    def run_config(self, cfg: dict, build_dir: Path, run_dir: Path, resume_from: str | None = None) -> dict:
        out = super().run_config(cfg, build_dir, run_dir, resume_from)
        for key in ("datasets", "test_datasets"):
            for ds in out.get(key) or []:
                if isinstance(ds, dict) and "path" in ds:
                    ds["path"] = absolute_if_local(ds["path"], build_dir)
        out["dataset_prepared_path"] = str(run_dir / "prepared")
        return out

    def dataset_files(self, cfg: Mapping[str, Any]) -> list[Path]:
        return [Path(d["path"]) for d in cfg.get("datasets") or [] if isinstance(d, dict) and "path" in d]

    def native_request(self, hardware: Hardware | None) -> dict:
        """Axolotl's validate_config takes the target's capabilities: the plan's GPU, not this machine's."""
        if hardware is None or hardware.cpu:
            return {"target": "host"}
        return {
            "target": "gpu",
            "capabilities": {
                "bf16": hardware.bf16,
                "fp8": hardware.fp8,
                "tf32": hardware.bf16,  # TF32 came with Ampere, as bf16 did
                "n_gpu": hardware.gpus,
                "compute_capability": "sm_90" if hardware.fp8 else "sm_80" if hardware.bf16 else "sm_75",
            },
        }

    def prompt_format(self, cfg: Mapping[str, Any]) -> dict:
        datasets = [d for d in cfg.get("datasets") or [] if isinstance(d, dict)]
        if not datasets:
            raise unsupported_prompt(self, "datasets", None, "at least one dataset")
        kinds = {d.get("type") if isinstance(d.get("type"), str) else repr(d.get("type")) for d in datasets}
        if len(kinds) > 1:
            raise unsupported_prompt(self, "datasets[].type", sorted(kinds), "one prompt format for all datasets")
        ds = datasets[0]
        kind = ds.get("type")
        base, _, style = kind.partition(":") if isinstance(kind, str) else ("", "", "")
        if base == "alpaca":
            return {"kind": "alpaca", "prompt_style": style or None, "sequence_len": cfg.get("sequence_len")}
        if base in ("chat_template", SFT_TRANSFORM):
            return {
                "kind": "chat_template",
                "chat_template": ds.get("chat_template") or cfg.get("chat_template") or "tokenizer_default",
                "chat_template_jinja": ds.get("chat_template_jinja") or cfg.get("chat_template_jinja"),
                "jinja": None,
            }
        if base == "completion":
            return {"kind": "completion"}
        raise unsupported_prompt(self, "datasets[0].type", kind, "alpaca, alpaca:<style>, chat_template, completion")

    def merge_command(self, run_dir: Path, cfg: Mapping[str, Any], env) -> tuple[list[str], Path, dict[str, dict]]:
        model_dir = run_dir / "model"
        argv = [str(env.cli(self.cli)), "merge-lora", str(run_dir / "config.yaml"), "--lora-model-dir", str(model_dir)]
        return argv, model_dir / "merged", {}

    def launch_problems(
        self, config_path: Path, launcher: str, world: int, cpu: bool
    ) -> list[tuple[str, str, Any, str]]:
        if cpu and world > 1:
            return [
                (
                    "--nproc",
                    "Axolotl cannot run more than one process on CPU: it places each rank on an accelerator",
                    world,
                    "1 process for Axolotl on CPU, or a framework that runs torchrun with gloo",
                )
            ]
        return []

    def launch_command(
        self,
        config: str,
        env,
        *,
        distributed: bool,
        deepspeed: bool,
        nproc: int,
        nnodes: int,
        node_rank: int,
        master_addr: str | None,
        master_port: int | None,
    ) -> tuple[list[str], dict[str, str]]:
        """`axolotl train CONFIG --launcher python` (one process, no accelerate), else `--launcher torchrun --
        <torchrun args>`."""
        argv = [str(env.cli(self.cli)), "train", config]
        if not distributed:
            return argv + ["--launcher", "python"], {}
        torchrun = ["--nnodes", str(nnodes), "--nproc_per_node", str(nproc)]
        if nnodes == 1 and not master_addr:
            torchrun.append("--standalone")
        else:
            torchrun += [
                "--node_rank",
                str(node_rank),
                "--master_addr",
                str(master_addr),
                "--master_port",
                str(master_port or TORCHRUN_PORT),
            ]
        return argv + ["--launcher", "torchrun", "--", *torchrun], {}


FRAMEWORK = Axolotl()

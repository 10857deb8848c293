"""LLaMA-Factory 0.9.5: its key table, dataset_info.json, files, CLI, env, validator and launch, all in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..tracking import MLFLOW_REQUIREMENTS, MLFLOW_VERSION, WANDB_REQUIREMENT, WANDB_VERSION
from ._base import TORCHRUN_PORT, EnvSpec, Framework, Hardware, Need, Refusal, Step, Traits
from ._dialect import OMEGACONF
from ._table import Reading, Untranslatable, Values, Where, inverse, joint, lookup, num, row, truthy

NAME = "llamafactory"
VERSION = "0.9.5"
# DeepSpeed as its `deepspeed` extra allows (requirements/deepspeed.txt: deepspeed>=0.10.0,<=0.16.9): an sdist whose
# setup.py imports torch, so built without build isolation against the env's torch (ops compiled on first use).
# One constant for the env's install step and the install command `ftgen run` names when an env lacks it.
DEEPSPEED_PIP = ("--no-build-isolation", "deepspeed==0.16.9")
DATASET_INFO = "dataset_info.json"

# ---------------------------------------------------------------------------------------------- value tables

PRECISION = {"bf16": (True, False), "fp16": (False, True), "fp32": (False, False)}
STAGES = {"sft": "sft", "pretrain": "pt", "dpo": "dpo", "orpo": "dpo", "simpo": "dpo", "ipo": "dpo", "kto": "kto"}
PREF_LOSS_TASK = {"sigmoid": "dpo", "orpo": "orpo", "simpo": "simpo", "ipo": "ipo"}  # stage dpo + pref_loss -> task
ATTENTION = {"flash_attention_2": "fa2", "flash_attention_3": "fa3", "sdpa": "sdpa", "eager": "disabled"}
# prompt formats (neutral names; frameworks.translate_template) -> LLaMA-Factory 0.9.5 template names (data/template.py)
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
    "qwen2.5": "qwen",
    "qwen3": "qwen3",
    "qwen3.5": "qwen3_5",
    "phi3": "phi",
    "deepseek2": "deepseek",
    "deepseek3": "deepseek3",
    "exaone": "exaone",
    "falcon_h1": "falcon_h1",
    "pixtral": "pixtral",
    "llava": "llava",
    "qwen2_vl": "qwen2_vl",
}
_ALPACA = {"prompt": "instruction", "query": "input", "response": "output"}
_MESSAGES_TAGS = {"user_tag": "user", "assistant_tag": "assistant", "system_tag": "system"}
_PREFERENCE = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"}
_KTO = {"prompt": "prompt", "response": "completion", "kto_tag": "label"}


def _adapters(values: Values) -> bool:
    return values.get("method") in ("lora", "qlora")


# ---------------------------------------------------------------------------------------------- joint rows


def _write_task(values: Values, where: Where) -> dict[str, Any] | None:
    task = values.get("task")
    if task is None:
        return None
    if task == "grpo":
        raise Untranslatable("LLaMA-Factory 0.9.5 has no GRPO stage (its stages are pt, sft, rm, ppo, dpo, kto)")
    if task not in STAGES:
        return None
    out: dict[str, Any] = {"stage": STAGES[str(task)], "do_train": True}
    if task in ("orpo", "simpo", "ipo"):
        out["pref_loss"] = str(task)
    return out


def _read_task(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    stage = cfg.get("stage", "sft")
    keys = [k for k in ("stage", "pref_loss") if k in cfg]
    if stage == "dpo":
        loss = cfg.get("pref_loss", "sigmoid")
        if loss in PREF_LOSS_TASK:
            r.put("task", PREF_LOSS_TASK[loss], *keys)
            r.put("pref_loss", loss, *(["pref_loss"] if "pref_loss" in cfg else []))
        else:
            r.untranslated["pref_loss"] = f"pref_loss {loss} has no framework-neutral preference stage"
    elif stage in ("sft", "pt", "kto"):
        r.put("task", {"sft": "sft", "pt": "pretrain", "kto": "kto"}[stage], *(["stage"] if "stage" in cfg else []))
    elif stage in ("rm", "ppo"):
        r.untranslated["stage"] = f"stage {stage}: reward modelling and PPO have no framework-neutral form in ftgen"
    else:
        r.untranslated["stage"] = f"stage {stage!r} is not a LLaMA-Factory stage"


def _write_pref_loss(values: Values, where: Where) -> dict[str, Any] | None:
    loss, task = values.get("pref_loss"), values.get("task")
    if loss is None:
        return None
    if task == "kto":
        return {}  # the kto stage has its own loss
    if task == "dpo":
        return {"pref_loss": str(loss)}
    return {} if loss == task else None  # orpo / simpo / ipo: written with the stage


def _write_method(values: Values, where: Where) -> dict[str, Any] | None:
    method, bits = values.get("method"), values.get("quant_bits")
    if method is None:
        return None
    if method == "full":
        return {"finetuning_type": "full"}
    out: dict[str, Any] = {"finetuning_type": "lora"}
    if method == "qlora" or bits:
        out.update(quantization_bit=bits or 4, quantization_method="bnb")
        if method == "qlora" and values.get("double_quant") is None:
            out["double_quantization"] = True
    return out


def _read_method(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    ftype = cfg.get("finetuning_type", "lora")
    qbit = cfg.get("quantization_bit")
    qmethod = cfg.get("quantization_method", "bnb")
    keys = [k for k in ("finetuning_type", "quantization_bit", "quantization_method") if k in cfg]
    if ftype == "lora":
        if qbit is not None and qmethod not in ("bnb", "bitsandbytes"):
            r.untranslated["quantization_method"] = (
                f"on-the-fly {qmethod} quantisation has no framework-neutral form (ftgen quantises with bitsandbytes)"
            )
        else:
            r.put("method", "qlora" if qbit == 4 else "lora", *keys)
            r.put("quant_bits", qbit if qbit in (4, 8) else None, *[k for k in ("quantization_bit",) if k in cfg])
            if qbit not in (None, 4, 8):
                r.untranslated["quantization_bit"] = f"{qbit}-bit loading has no framework-neutral form (4 or 8)"
    elif ftype == "full":
        r.put("method", "full", *keys)
    else:
        r.untranslated["finetuning_type"] = f"finetuning_type {ftype} has no framework-neutral form (lora or full)"
    if ftype != "lora":
        for key in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "use_dora", "use_rslora"):
            if cfg.get(key) is not None:
                r.untranslated[key] = "a LoRA setting without finetuning_type: lora: it has no effect here"
    if "double_quantization" in cfg:
        r.put("double_quant", cfg["double_quantization"], "double_quantization")
    if "quantization_type" in cfg:
        r.put("quant_type", cfg["quantization_type"], "quantization_type")


def _write_quant_options(values: Values, where: Where) -> dict[str, Any] | None:
    out = {}
    if values.get("double_quant") is not None:
        out["double_quantization"] = values["double_quant"]
    if values.get("quant_type") is not None:
        out["quantization_type"] = values["quant_type"]
    return out or None


def _lora_field(name: str, key: str, *, to=lambda v: v, back=lambda v: v) -> Any:
    def read(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
        if cfg.get(key) is not None and cfg.get("finetuning_type", "lora") == "lora":
            r.put(name, back(cfg[key]), key)

    def write(values: Values, where: Where) -> dict[str, Any] | None:
        return {key: to(values[name])} if values.get(name) is not None and _adapters(values) else None

    return joint((name,), (key,), "Method", write, read)


def _targets_to(targets: Any) -> str:
    targets = list(targets)
    return "all" if targets == ["all-linear"] else ",".join(targets)


def _targets_back(value: Any) -> list[str]:
    parts = value if isinstance(value, list) else [t.strip() for t in str(value).split(",") if t.strip()]
    return ["all-linear"] if parts == ["all"] else parts


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
            f"{describe_template(value)}: no LLaMA-Factory template is known to name the same prompt format"
        )
    return {"template": name}


def _read_template(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("template") is not None:
        r.put("chat_template", {NAME: cfg["template"]}, "template")


def _dataset_names(cfg: Mapping[str, Any]) -> list[str]:
    value = cfg.get("dataset")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [d.strip() for d in str(value).split(",") if d.strip()]


def _info_entry(item: Mapping[str, Any], where: Where) -> dict[str, Any]:
    fmt = item.get("format")
    entry: dict[str, Any] = {}
    if item.get("source") == "hub":
        entry["hf_hub_url"] = item["path"]
    else:
        entry["file_name"] = where.path(item["path"])
    if item.get("split") not in (None, "train"):
        entry["split"] = item["split"]
    if item.get("subset"):
        entry["subset"] = item["subset"]
    if fmt == "alpaca":
        entry.update(formatting="alpaca", columns=dict(_ALPACA))
    elif fmt == "sharegpt":
        entry.update(formatting="sharegpt", columns={"messages": "conversations"})
    elif fmt == "messages":
        role, content = item.get("role_field") or "role", item.get("content_field") or "content"
        tags = {"role_tag": role, "content_tag": content}
        if role == "role":  # OpenAI-style messages: user / assistant / system roles
            tags.update(_MESSAGES_TAGS)
        entry.update(formatting="sharegpt", columns={"messages": item.get("messages_field") or "messages"}, tags=tags)
    elif fmt == "preference":
        entry.update(formatting="alpaca", ranking=True, columns=dict(_PREFERENCE))
    elif fmt == "kto":
        entry.update(formatting="alpaca", columns=dict(_KTO))
    elif fmt == "text":
        entry["columns"] = {"prompt": item.get("text_field") or "text"}
    else:
        raise Untranslatable(f"dataset format {fmt!r} has no dataset_info.json formatting")
    return entry


def _write_datasets(values: Values, where: Where) -> dict[str, Any] | None:
    """`dataset` names entries of dataset_info.json, written beside the config (dataset_dir: .). An existing
    dataset_info.json there is merged: its entries stay, an entry with the same content is reused, a name that
    is taken by other content gets a new name."""
    datasets = values.get("datasets")
    if not datasets:
        return None
    existing = where.existing.get(DATASET_INFO)
    info: dict[str, Any] = dict(existing) if isinstance(existing, dict) else {}
    names = []
    for i, item in enumerate(datasets):
        entry = _info_entry(item, where)
        same = next((n for n, e in info.items() if e == entry), None)
        if same is not None:
            names.append(same)
            continue
        name, n = f"train_{i}", 1
        while name in info:
            name, n = f"train_{i}_{n}", n + 1
        info[name] = entry
        names.append(name)
    if existing:
        kept = len(existing)
        where.notes.append(
            f"{DATASET_INFO}: merged with the existing file ({kept} entr{'y' if kept == 1 else 'ies'} kept)"
        )
    where.files[DATASET_INFO] = info
    return {"dataset": ",".join(names), "dataset_dir": "."}


def _read_dataset_entry(entry: Any, dataset_dir: str) -> dict | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("hf_hub_url"):
        item: dict[str, Any] = {"path": entry["hf_hub_url"], "source": "hub"}
    elif entry.get("file_name"):
        name = str(entry["file_name"])
        path = name if Path(name).is_absolute() or dataset_dir in ("", ".") else f"{dataset_dir.rstrip('/')}/{name}"
        item = {"path": path, "source": "file"}
    else:
        return None
    if entry.get("split") not in (None, "train"):
        item["split"] = entry["split"]
    if entry.get("subset"):
        item["subset"] = entry["subset"]
    cols = entry.get("columns") or {}
    fmt = entry.get("formatting", "alpaca")
    if entry.get("ranking"):
        return {**item, "format": "preference"} if fmt == "alpaca" and cols == _PREFERENCE else None
    if fmt == "sharegpt":
        tags = entry.get("tags") or {}
        fields = (cols.get("messages", "conversations"), tags.get("role_tag", "from"), tags.get("content_tag", "value"))
        if fields == ("conversations", "from", "value"):
            return {**item, "format": "sharegpt"}
        item["format"] = "messages"
        if fields != ("messages", "role", "content"):
            item.update(messages_field=fields[0], role_field=fields[1], content_field=fields[2])
        return item
    if fmt == "alpaca":
        if cols == _KTO:
            return {**item, "format": "kto"}
        if set(cols) == {"prompt"}:
            item["format"] = "text"
            if cols["prompt"] != "text":
                item["text_field"] = cols["prompt"]
            return item
        if all(cols.get(k, v) == v for k, v in _ALPACA.items()) and set(cols) <= set(_ALPACA):
            return {**item, "format": "alpaca"}
    return None


def _read_datasets(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    names = _dataset_names(cfg)
    if not names:
        return
    info = where.existing.get(DATASET_INFO)
    dataset_dir = str(cfg.get("dataset_dir", "data"))
    if not isinstance(info, dict):
        r.untranslated["dataset"] = (
            f"dataset names ({', '.join(names)}) resolve through {DATASET_INFO} in dataset_dir ({dataset_dir!r}), "
            "which ftgen did not find"
        )
        return
    out, bad = [], []
    for name in names:
        item = _read_dataset_entry(info.get(name), dataset_dir)
        (out.append(item) if item else bad.append(name))
    if bad:
        r.untranslated["dataset"] = (
            f"{DATASET_INFO} entries {', '.join(bad)} are missing or use a formatting ftgen cannot translate"
        )
    else:
        r.put("datasets", out, "dataset", *(["dataset_dir"] if "dataset_dir" in cfg else []))


def _write_packing(values: Values, where: Where) -> dict[str, Any] | None:
    packing = values.get("packing")
    if packing is None:
        return None
    if not packing:
        return {} if values.get("task") not in ("pretrain",) and "task" in values else {"packing": False}
    out: dict[str, Any] = {"packing": True}
    if values.get("task") in (None, "sft") and not values.get("packing_cross_attention"):
        # packed examples stay apart (block-diagonal attention), as Axolotl's sample packing keeps them;
        # LLaMA-Factory allows it for SFT only ("`neat_packing` cannot be set as True except SFT")
        out["neat_packing"] = True
    return out


def _read_packing(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("packing") is not None:
        packing = truthy(cfg["packing"])
        r.put("packing", packing, *[k for k in ("packing", "neat_packing") if k in cfg])
        if packing and not truthy(cfg.get("neat_packing")) and cfg.get("stage", "sft") == "sft":
            r.put("packing_cross_attention", True, "packing")
    elif truthy(cfg.get("neat_packing")):
        r.put("packing", True, "neat_packing")


def _write_warmup(values: Values, where: Where) -> dict[str, Any] | None:
    ratio, steps = values.get("warmup_ratio"), values.get("warmup_steps")
    if steps is not None:
        return {"warmup_steps": steps}
    if ratio is not None:
        # transformers 5.x deprecates warmup_ratio; a float warmup_steps in [0, 1) is the ratio
        return {"warmup_steps": float(ratio)}
    return None


def _read_warmup(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    steps = num(cfg.get("warmup_steps"))
    if isinstance(steps, float) and 0 < steps < 1:
        r.put("warmup_ratio", steps, "warmup_steps")
    elif steps is not None:
        r.put("warmup_steps", int(steps) if float(steps).is_integer() else steps, "warmup_steps")
    if cfg.get("warmup_ratio") is not None:
        r.put("warmup_ratio", num(cfg["warmup_ratio"]), "warmup_ratio")


def _write_precision(values: Values, where: Where) -> dict[str, Any] | None:
    precision = values.get("precision")
    if precision is None:
        return None
    bf16, fp16 = PRECISION[str(precision)]
    return {"bf16": bf16, "fp16": fp16}


def _read_precision(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    keys = [k for k in ("bf16", "fp16") if k in cfg]
    if truthy(cfg.get("pure_bf16")):
        r.untranslated["pure_bf16"] = "pure bf16 (no fp32 master weights) has no framework-neutral switch"
    if truthy(cfg.get("bf16")):
        r.put("precision", "bf16", *keys)
    elif truthy(cfg.get("fp16")):
        r.put("precision", "fp16", *keys)
    elif keys:
        r.put("precision", "fp32", *keys)


def _write_checkpointing(values: Values, where: Where) -> dict[str, Any] | None:
    gc = values.get("gradient_checkpointing")
    if gc is None:
        return None
    return {} if gc else {"disable_gradient_checkpointing": True}


def _read_checkpointing(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    if cfg.get("disable_gradient_checkpointing") is not None:
        r.put(
            "gradient_checkpointing",
            not truthy(cfg["disable_gradient_checkpointing"]),
            "disable_gradient_checkpointing",
        )


def _read_attention(cfg: Mapping[str, Any], r: Reading, where: Where) -> None:
    attn = cfg.get("flash_attn")
    if attn is None or attn == "auto":
        return
    if attn in inverse(ATTENTION):
        r.put("attn_implementation", inverse(ATTENTION)[attn], "flash_attn")
    else:
        r.untranslated["flash_attn"] = f"flash_attn {attn!r} has no framework-neutral form"


def _write_distributed(values: Values, where: Where) -> dict[str, Any] | None:
    dist = values.get("distributed")
    if dist is None:
        return None
    from ..plan import Distributed  # here: reading a config (ftgen lint) needs no plan

    dist = Distributed(dist)
    if dist.deepspeed:
        return {"deepspeed": dist.deepspeed_file}
    if dist == "fsdp":
        raise Untranslatable(
            "LLaMA-Factory 0.9.5 runs FSDP only through `accelerate launch` with an accelerate config file"
        )
    return {}


def _write_deepspeed(values: Values, where: Where) -> dict[str, Any] | None:
    if values.get("deepspeed") is None or values.get("distributed") is not None:
        return None
    return {"deepspeed": where.path(values["deepspeed"])}


def _implied_eval_strategy(values: Values) -> str:
    return "no"


# ---------------------------------------------------------------------------------------------- the key table

_EVAL = "Evaluation"
ROWS = (
    # Model
    row("base_model", "model_name_or_path", "Model", path=True),
    row("trust_remote_code", "trust_remote_code", "Model", implied=lambda v: False),
    row("model_revision", "model_revision", "Model", implied=lambda v: "main"),
    joint(("chat_template",), ("template",), "Model", _write_template, _read_template),
    # Method
    joint(("task",), ("stage", "do_train"), "Method", _write_task, _read_task),
    joint(
        ("method", "quant_bits"),
        ("finetuning_type", "quantization_bit", "quantization_method"),
        "Method",
        _write_method,
        _read_method,
    ),
    joint(
        ("double_quant", "quant_type"),
        ("double_quantization", "quantization_type"),
        "Method",
        _write_quant_options,
        lambda cfg, r, w: None,
    ),
    _lora_field("lora_r", "lora_rank"),
    _lora_field("lora_alpha", "lora_alpha"),
    _lora_field("lora_dropout", "lora_dropout", back=num),
    _lora_field("lora_target_modules", "lora_target", to=_targets_to, back=_targets_back),
    _lora_field("use_dora", "use_dora"),
    _lora_field("use_rslora", "use_rslora"),
    row("adapter_path", "adapter_name_or_path", "Method", path=True),
    row("loraplus_lr_ratio", "loraplus_lr_ratio", "Method", back=num),
    row("pref_beta", "pref_beta", "Method", back=num),
    joint(("pref_loss",), ("pref_loss",), "Method", _write_pref_loss, lambda cfg, r, w: None),
    row("simpo_gamma", "simpo_gamma", "Method", back=num),
    row("kto_chosen_weight", "kto_chosen_weight", "Method", back=num),
    row("kto_rejected_weight", "kto_rejected_weight", "Method", back=num),
    # Data
    joint(("datasets",), ("dataset", "dataset_dir"), "Data", _write_datasets, _read_datasets),
    row("sequence_len", "cutoff_len", "Data"),
    joint(("packing", "packing_cross_attention"), ("packing", "neat_packing"), "Data", _write_packing, _read_packing),
    row("retokenize", "overwrite_cache", "Data"),
    row("dataset_num_proc", "preprocessing_num_workers", "Data"),
    row("max_samples", "max_samples", "Data"),
    # Output
    row("output_dir", "output_dir", "Output"),
    row("overwrite_output_dir", "overwrite_output_dir", "Output"),
    row("plot_loss", "plot_loss", "Output"),
    row("report_to", "report_to", "Output"),
    row("run_name", "run_name", "Output"),
    row("logging_steps", "logging_steps", "Output"),
    row("save_strategy", "save_strategy", "Output"),
    row("save_steps", "save_steps", "Output"),
    row("save_total_limit", "save_total_limit", "Output"),
    row("save_only_model", "save_only_model", "Output"),
    # Training
    row("micro_batch_size", "per_device_train_batch_size", "Training"),
    row("gradient_accumulation_steps", "gradient_accumulation_steps", "Training"),
    row("learning_rate", "learning_rate", "Training", back=num),
    row("num_epochs", "num_train_epochs", "Training", to=float, back=num),
    row("max_steps", "max_steps", "Training"),
    row("lr_scheduler", "lr_scheduler_type", "Training", to=str),
    row("lr_scheduler_kwargs", "lr_scheduler_kwargs", "Training"),
    joint(("warmup_ratio", "warmup_steps"), ("warmup_ratio", "warmup_steps"), "Training", _write_warmup, _read_warmup),
    row("weight_decay", "weight_decay", "Training", back=num),
    row("optimizer", "optim", "Training"),
    row("max_grad_norm", "max_grad_norm", "Training", back=num),
    row("adam_beta1", "adam_beta1", "Training", back=num),
    row("adam_beta2", "adam_beta2", "Training", back=num),
    row("adam_epsilon", "adam_epsilon", "Training", back=num),
    row("neftune_noise_alpha", "neftune_noise_alpha", "Training", back=num),
    # Hardware
    joint(("precision",), ("bf16", "fp16", "pure_bf16"), "Hardware", _write_precision, _read_precision),
    row("tf32", "tf32", "Hardware", implied=lambda v: False),
    row("use_cpu", "use_cpu", "Hardware", implied=lambda v: False),
    joint(
        ("attn_implementation",),
        ("flash_attn",),
        "Hardware",
        lambda v, w: (
            None
            if v.get("attn_implementation") is None
            else {"flash_attn": lookup(ATTENTION, "LLaMA-Factory flash_attn: attention")(str(v["attn_implementation"]))}
        ),
        _read_attention,
    ),
    joint(
        ("gradient_checkpointing",),
        ("disable_gradient_checkpointing",),
        "Hardware",
        _write_checkpointing,
        _read_checkpointing,
    ),
    row("gradient_checkpointing_kwargs", "gradient_checkpointing_kwargs", "Hardware"),
    row("liger_kernel", "enable_liger_kernel", "Hardware", implied=lambda v: False),
    joint(
        ("distributed",),
        ("deepspeed",),
        "Hardware",
        _write_distributed,
        lambda cfg, r, w: r.put("deepspeed", cfg["deepspeed"], "deepspeed") if cfg.get("deepspeed") else None,
    ),
    joint(("deepspeed",), (), "Hardware", _write_deepspeed, lambda cfg, r, w: None),
    row("torch_compile", "torch_compile", "Hardware"),
    row("dataloader_num_workers", "dataloader_num_workers", "Hardware"),
    row("dataloader_pin_memory", "dataloader_pin_memory", "Hardware"),
    row("ddp_timeout", "ddp_timeout", "Hardware"),
    row("ddp_find_unused_parameters", "ddp_find_unused_parameters", "Hardware"),
    # Evaluation
    row("val_set_size", "val_size", _EVAL, back=num, implied=lambda v: 0),
    row("eval_batch_size", "per_device_eval_batch_size", _EVAL, when=lambda v: v.get("eval_strategy") != "no"),
    row("eval_strategy", "eval_strategy", _EVAL, to=str),
    row("eval_steps", "eval_steps", _EVAL, when=lambda v: v.get("eval_strategy") not in ("no", "epoch")),
    row("seed", "seed", _EVAL),
    row("resume_from_checkpoint", "resume_from_checkpoint", _EVAL),
    row("hub_model_id", "hub_model_id", _EVAL),
    row("hub_strategy", "hub_strategy", _EVAL),
    row("metric_for_best_model", "metric_for_best_model", _EVAL),
    row("greater_is_better", "greater_is_better", _EVAL),
    row("load_best_model_at_end", "load_best_model_at_end", _EVAL),
    row("train_on_inputs", "train_on_prompt", "Data"),
    row("export_dir", "export_dir", "Output"),
)

LOCAL = {
    "freeze_vision_tower": "a multimodal freezing switch",
    "image_max_pixels": "a multimodal processor setting",
    "video_max_pixels": "a multimodal processor setting",
}
ABSENT = {
    "dataset_cache_dir": "LLaMA-Factory's tokenized_path caches in another layout (set it there if wanted)",
    "pad_to_sequence_len": "LLaMA-Factory pads per batch; there is no fixed-length padding switch",
    "lora_kernels": "LLaMA-Factory has no switches for Axolotl-style Triton LoRA kernels",
    "evals_per_epoch": "LLaMA-Factory has no per-epoch eval count; set eval_steps",
    "saves_per_epoch": "LLaMA-Factory has no per-epoch save count; set save_steps",
    "special_tokens": "LLaMA-Factory sets special tokens through the template, not per config",
    "added_tokens": "LLaMA-Factory adds tokens with add_tokens / add_special_tokens (comma-separated strings); "
    "the semantics differ",
    "wandb_project": "LLaMA-Factory takes W&B settings from WANDB_* environment variables (report_to: wandb)",
    "wandb_entity": "LLaMA-Factory takes W&B settings from WANDB_* environment variables (report_to: wandb)",
    "wandb_run_name": "LLaMA-Factory takes W&B settings from WANDB_* environment variables (report_to: wandb)",
    "mlflow_experiment_name": "LLaMA-Factory takes MLflow settings from MLFLOW_* environment variables "
    "(MLFLOW_EXPERIMENT_NAME: `ftgen run` and launch.sh set it)",
    "mlflow_tracking_uri": "LLaMA-Factory takes MLflow settings from MLFLOW_* environment variables "
    "(MLFLOW_TRACKING_URI: `ftgen run` and launch.sh set it)",
    "max_prompt_len": "LLaMA-Factory derives the prompt budget from cutoff_len",
    "use_cut_cross_entropy": "LLaMA-Factory 0.9.5 has no Cut Cross-Entropy switch",
    "include_tokens_per_second": "LLaMA-Factory 0.9.5 does not expose include_tokens_per_second",
    "group_by_length": "LLaMA-Factory 0.9.5 does not expose group_by_length",
    "test_datasets": "LLaMA-Factory names eval sets in eval_dataset through dataset_info.json; ftgen does not translate them",
    "reward_funcs": "LLaMA-Factory 0.9.5 has no GRPO stage",
    "grpo_transform": "LLaMA-Factory 0.9.5 has no GRPO stage",
    "pref_transform": "LLaMA-Factory formats preference rows with its `template` (FT107), no transform",
    "reward_files": "LLaMA-Factory 0.9.5 has no GRPO stage",
    "num_generations": "LLaMA-Factory 0.9.5 has no GRPO stage",
    "max_completion_length": "LLaMA-Factory 0.9.5 has no GRPO stage",
    "use_vllm": "LLaMA-Factory 0.9.5 has no GRPO stage",
}

_MACHINE = (
    (
        re.compile(r"doesn't support bf16/gpu|does not support .?bf16|not support `pure_bf16`"),
        "this machine has no GPU with bf16 (the plan's GPU has)",
    ),
    (
        re.compile(r"FORCE_TORCHRUN|launch distributed training with `llamafactory-cli` or `torchrun`"),
        "DeepSpeed runs only under torchrun (FORCE_TORCHRUN=1) on GPUs; the check here runs one CPU process",
    ),
    (
        # transformers' HfDeepSpeedConfig with deepspeed installed: the json a relative `deepspeed:` path names is
        # looked up from the folder the check runs in, not the one the config is launched from
        re.compile(r"Expected a string path to an existing deepspeed config"),
        "the DeepSpeed config file is not found from here (a relative path is read from the launch folder)",
    ),
    (
        re.compile(r"'(deepspeed)[^']*' distribution was not found"),
        "DeepSpeed is not installed in the LLaMA-Factory env",
    ),
    (
        re.compile(r"PackageNotFoundError|No package metadata|is not installed|ModuleNotFoundError|ImportError"),
        "a package the config needs is not installed in the LLaMA-Factory env",
    ),
    (
        re.compile(r"CUDA|cuda|requires a GPU|fp16.*(gpu|GPU|device)"),
        "the check needs a GPU this machine does not have",
    ),
)


# ---------------------------------------------------------------------------------------------- lint

_SRC = "llamafactory 0.9.5 llamafactory/hparams/parser.py"


def _lint_qlora_without_4bit(ctx) -> None:
    """FTL101: 4-bit options without quantization_bit: LLaMA-Factory ignores them and trains a 16-bit LoRA."""
    c = ctx.cfg
    if c.get("finetuning_type", "lora") == "lora" and c.get("quantization_bit") is None:
        set_4bit = [k for k in ("quantization_type", "double_quantization") if k in c]
        if set_4bit:
            ctx.report(
                set_4bit[0],
                "4-bit options without quantization_bit: LLaMA-Factory ignores them and trains a 16-bit LoRA",
                severity="warning",
                allowed="quantization_bit: 4",
                when="silent",
            )


def _lint_quantized_full(ctx) -> None:
    """FTL109: LLaMA-Factory's _verify_model_args refuses quantisation with a full / freeze fine-tune."""
    c = ctx.cfg
    if c.get("quantization_bit") is not None and c.get("finetuning_type", "lora") not in ("lora", "oft"):
        ctx.report(
            "quantization_bit",
            "quantisation with a full/freeze fine-tune: LLaMA-Factory refuses it "
            '("Quantization is only compatible with the LoRA or OFT method")',
            found=c.get("quantization_bit"),
            allowed="finetuning_type: lora",
            when="validate",
            source=_SRC + ":190",
        )


# ---------------------------------------------------------------------------------------------- launch.sh

# The body of launch.sh's `llamafactory)` case (see axolotl.LAUNCH_SH).
LAUNCH_SH = """\
{% if ctx.deepspeed_file %}
    # LLaMA-Factory relaunches itself under torchrun when FORCE_TORCHRUN is set; with DeepSpeed
    # ({{ ctx.deepspeed_file | comment }}) it must, even for one process.
    export FORCE_TORCHRUN=1 NNODES NODE_RANK NPROC_PER_NODE
    if [ -n "${MASTER_ADDR:-}" ]; then export MASTER_ADDR; fi
    if [ -n "${MASTER_PORT:-}" ]; then export MASTER_PORT; fi
{% else %}
    # LLaMA-Factory relaunches itself under torchrun when FORCE_TORCHRUN is set.
    if [ "$world" -gt 1 ]; then
      export FORCE_TORCHRUN=1 NNODES NODE_RANK NPROC_PER_NODE
      if [ -n "${MASTER_ADDR:-}" ]; then export MASTER_ADDR; fi
      if [ -n "${MASTER_PORT:-}" ]; then export MASTER_PORT; fi
    fi
{% endif %}
    exec llamafactory-cli train {{ config | q }} "$@"
"""


# ---------------------------------------------------------------------------------------------- the framework


class LlamaFactory(Framework):
    name = NAME
    label = "LLaMA-Factory"
    version = VERSION
    config_name = "llamafactory.yaml"
    extra_files = (DATASET_INFO,)
    model_keys = ("model_name_or_path",)
    # imports(): none. Its 0.9.5 train path imports no module named by its config: the v1 plugins (only with
    # USE_V1) import from inside llamafactory.v1 only, and a dataset_info.json `script_url` reaches datasets
    # 4.0.0, which refuses loading scripts. What its config can change is which model loads (model_keys).
    cli = "llamafactory-cli"
    env = EnvSpec(
        framework=NAME,
        version=VERSION,
        dist="llamafactory",
        module="llamafactory",
        python=">=3.11",
        steps=(
            Step("create virtualenv", action="venv"),
            Step("upgrade pip", pip=("-U", "pip")),
            Step("install torch", pip=("{torch}",)),
            Step(
                "install LLaMA-Factory requirements (gradio pinned)",
                pip=("{torch}", "@llamafactory-0.9.5-requirements.txt"),
            ),
            Step(
                "install llamafactory 0.9.5 and torchaudio (no deps)",
                pip=("--no-deps", "llamafactory==0.9.5", "torchaudio==2.11.1"),
            ),
            # torchaudio 2.11.1's compiled extensions are CUDA-linked and built for torch
            # 2.11; LLaMA-Factory imports torchaudio but the text path needs no extension.
            Step("remove torchaudio's compiled extensions", action="strip-torchaudio-libs"),
            Step("install bitsandbytes 0.50.2 (QLoRA)", pip=("{torch}", "bitsandbytes==0.50.2")),
            Step(f"install MLflow {MLFLOW_VERSION} (experiment tracking)", pip=("{torch}", *MLFLOW_REQUIREMENTS)),
            Step(f"install W&B {WANDB_VERSION} (experiment tracking)", pip=("{torch}", WANDB_REQUIREMENT)),
            Step("install deepspeed 0.16.9 (ZeRO)", pip=(*DEEPSPEED_PIP[:-1], "{torch}", DEEPSPEED_PIP[-1])),
            # What LLaMA-Factory's optional requirements add for GPUs beyond DeepSpeed: liger-kernel (>=0.5.5; 0.8.1,
            # the version Axolotl pins for transformers 5). flash-attn is left out: PyPI has only its source (a long
            # CUDA build) and no wheel for torch 2.13; `ftgen run` names the install command when a config asks for it.
            Step(
                "install GPU extras: liger-kernel",
                pip=("{torch}", "liger-kernel==0.8.1"),
                flavors=("cuda",),
            ),
        ),
        clis=("llamafactory-cli", "accelerate", "torchrun"),
    )
    cli_args = "key=value"
    launch_sh = LAUNCH_SH

    def needs(self, config: Mapping[str, Any]) -> list[Need]:
        out = []
        if config.get("deepspeed"):
            out.append(Need("deepspeed", "deepspeed", "a DeepSpeed ZeRO config", DEEPSPEED_PIP))
        if truthy(config.get("enable_liger_kernel")):
            out.append(Need("liger_kernel", "enable_liger_kernel", "the Liger kernels", ("liger-kernel==0.8.1",)))
        if config.get("flash_attn") == "fa2":
            out.append(
                Need(
                    "flash_attn",
                    "flash_attn",
                    "FlashAttention-2 (builds from source: needs the CUDA toolkit, and takes long)",
                    ("--no-build-isolation", "flash-attn==2.8.3"),
                )
            )
        # trackers LLaMA-Factory reports to through transformers' callbacks: an env installed before its W&B step
        # lacks wandb; TensorBoard is not installed (MLflow is in every env: generator/tracking.py).
        report_to = config.get("report_to")
        trackers = set(report_to) if isinstance(report_to, list) else {report_to}
        if "wandb" in trackers:
            out.append(Need("wandb", "report_to", "logging to Weights & Biases", (WANDB_REQUIREMENT,)))
        if "tensorboard" in trackers:
            out.append(Need("tensorboard", "report_to", "TensorBoard event files", ("tensorboard",)))
        return out

    quiet_env = {"DISABLE_VERSION_CHECK": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    dialect = OMEGACONF
    rows = ROWS
    local = LOCAL
    absent = ABSENT
    templates = TEMPLATES
    markers = (
        "model_name_or_path",
        "stage",
        "finetuning_type",
        "dataset",
        "template",
        "cutoff_len",
        "per_device_train_batch_size",
        "num_train_epochs",
        "lora_rank",
        "lora_target",
        "export_dir",
        "adapter_name_or_path",
        "do_train",
        "do_predict",
    )
    # LLaMA-Factory v1 configs (llamafactory.v1) say `model:` and `train_dataset:`.
    v1_markers = ("model", "model_class", "train_dataset", "dist_config", "kernel_config", "peft_config")
    # Sources: LLaMA-Factory 0.9.5 `stage:` choices (pt, sft, rm, ppo, dpo, kto; ORPO is stage dpo, pref_loss orpo).
    targets = {
        "sft": ("qlora", "lora", "full"),
        "pretrain": ("qlora", "lora", "full"),
        "dpo": ("qlora", "lora", "full"),
        "kto": ("qlora", "lora", "full"),
        "orpo": ("qlora", "lora", "full"),
    }
    unsupported = {"grpo": "LLaMA-Factory 0.9.5 has no GRPO stage (its stages are pt, sft, rm, ppo, dpo, kto)"}
    preferred = {
        "dpo": "LLaMA-Factory runs every preference stage from one `stage:` key",
        "kto": "LLaMA-Factory runs every preference stage from one `stage:` key",
        "orpo": "LLaMA-Factory runs every preference stage from one `stage:` key",
    }
    proven = {
        ("sft", "lora"): "run",
        ("sft", "qlora"): "run",
        ("sft", "full"): "run",
        ("pretrain", "lora"): "cell",
        ("dpo", "lora"): "run",
        ("dpo", "qlora"): "cell",
        ("dpo", "full"): "cell",
        ("kto", "lora"): "cell",
        ("orpo", "lora"): "cell",
    }
    traits = Traits(
        unknown_keys="refused",
        type_errors="train",
        precision_conflict="validate",
        unknown_refusal='"Some keys are not used by the HfArgumentParser"',
        missing_model='"Please provide `model_name_or_path`."',
        missing_model_source="llamafactory 0.9.5 hparams/model_args.py (BaseModelArguments.__post_init__)",
    )
    eval_data_key = "eval_dataset"
    lint_checks = {"FTL101": _lint_qlora_without_4bit, "FTL109": _lint_quantized_full}
    native_script = "llamafactory_validate.py"
    schema_script = "llamafactory_schema.py"
    machine_facts = _MACHINE

    def trains(self, cfg: Mapping[str, Any]) -> bool:
        """Export (export_dir) and predict / eval-only configs do not train."""
        return bool(cfg.get("do_train")) or not (cfg.get("export_dir") or cfg.get("do_predict") or cfg.get("do_eval"))

    def implied(self, fields: Values) -> dict[str, Any]:
        out: dict[str, Any] = {
            "packing": fields.get("task") == "pretrain",  # LLaMA-Factory packs pt unless told not to
            "eval_strategy": _implied_eval_strategy(fields),
            "gradient_checkpointing": True,
        }
        rank = fields.get("lora_r", 8)
        if isinstance(rank, int) and fields.get("method") in ("lora", "qlora"):
            out["lora_alpha"] = 2 * rank  # lora_alpha None means 2 x lora_rank
        return out

    def model_template(self, card) -> str | None:
        """The model's chat template; a base model (no chat template) trains on alpaca prompts, as Axolotl's
        `type: alpaca` formats them (data/template.py `alpaca`), so one spec has one prompt format."""
        return card.llamafactory_template if card.chat else "alpaca"

    def uses_template(self, task: str, formats: tuple[str, ...], chat: bool = False) -> bool:
        """LLaMA-Factory formats every stage but pretraining through its template."""
        return task != "pretrain"

    def refusals(self, values: Values, cpu: bool, world: int) -> list[Refusal]:
        if values.get("distributed") == "fsdp":
            return [
                Refusal(
                    "overrides.distributed",
                    "LLaMA-Factory 0.9.5 runs FSDP only through `accelerate launch` with an accelerate config file, "
                    "which ftgen does not write",
                    "fsdp",
                    "zero2, zero3 or zero3_offload, or another framework",
                )
            ]
        return []

    def master_dtype(self, method: str) -> str:
        """LLaMA-Factory keeps fp32 master weights for full fine-tunes (model/adapter.py casts trainable
        parameters to fp32 unless pure_bf16)."""
        return "fp32" if method == "full" else "auto"

    # ------------------------------------------------------------------------------------------ running

    def run_config(self, cfg: dict, build_dir: Path, run_dir: Path, resume_from: str | None = None) -> dict:
        out = super().run_config(cfg, build_dir, run_dir, resume_from)
        out["dataset_dir"] = str(Path(build_dir, out.get("dataset_dir", ".")).resolve())
        return out

    def dataset_files(self, cfg: Mapping[str, Any]) -> list[Path]:
        from .._io import read_json
        from ..errors import FtgenError

        folder = Path(str(cfg.get("dataset_dir", ".")))
        try:
            info = read_json(folder / DATASET_INFO)
        except FtgenError:  # no dataset_info.json: nothing to hash (the run itself says what is missing)
            return []
        entries = info.values() if isinstance(info, dict) else []
        return [folder / e["file_name"] for e in entries if isinstance(e, dict) and isinstance(e.get("file_name"), str)]

    def native_request(self, hardware: Hardware | None) -> dict:
        """LLaMA-Factory checks bf16 / tf32 against this machine: "gpu" judges them as on an Ampere+ GPU."""
        if hardware is None or hardware.cpu:
            return {"target": "host"}
        return {"target": "gpu"}

    def prompt_format(self, cfg: Mapping[str, Any]) -> dict:
        if cfg.get("stage") == "pt":
            return {"kind": "completion"}
        return {"kind": "llamafactory", "template": cfg.get("template")}

    def merge_command(self, run_dir: Path, cfg: Mapping[str, Any], env) -> tuple[list[str], Path, dict[str, dict]]:
        target = run_dir / "merged"
        export = {
            "model_name_or_path": cfg["model_name_or_path"],
            "adapter_name_or_path": str(run_dir / "model"),
            "template": cfg.get("template", "default"),
            "finetuning_type": "lora",
            "trust_remote_code": bool(cfg.get("trust_remote_code", False)),
            "export_dir": str(target),
            "export_size": 5,
            "export_device": "cpu",
            "export_legacy_format": False,
        }
        argv = [str(env.cli(self.cli)), "export", str(run_dir / "export.yaml")]
        return argv, target, {"export.yaml": export}

    def launch_problems(
        self, config_path: Path, launcher: str, world: int, cpu: bool
    ) -> list[tuple[str, str, Any, str]]:
        if any(ch.isspace() for ch in str(config_path)) and (world > 1 or launcher == "torchrun"):
            return [
                (
                    "config",
                    "LLaMA-Factory re-splits its arguments on spaces when it relaunches under torchrun",
                    str(config_path),
                    "a config path without spaces (run from its folder with a relative path)",
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
        """`llamafactory-cli train CONFIG`; it relaunches itself under torchrun with FORCE_TORCHRUN and NNODES /
        NODE_RANK / NPROC_PER_NODE / MASTER_ADDR / MASTER_PORT (DeepSpeed needs it even for one process)."""
        argv = [str(env.cli(self.cli)), "train", config]
        if not distributed and not deepspeed:
            # One process: also when the machine has several GPUs (LLaMA-Factory would use them all).
            return argv, {"FORCE_TORCHRUN": "0", "NPROC_PER_NODE": "1"}
        extra = {
            "FORCE_TORCHRUN": "1",
            "NNODES": str(nnodes),
            "NODE_RANK": str(node_rank),
            "NPROC_PER_NODE": str(nproc),
        }
        if master_addr:
            extra["MASTER_ADDR"] = master_addr
        if master_port or nnodes > 1:
            extra["MASTER_PORT"] = str(master_port or TORCHRUN_PORT)
        return argv, extra


FRAMEWORK = LlamaFactory()

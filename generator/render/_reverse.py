"""Reverse key maps: framework config keys -> framework-neutral fields (the Plan's names), and neutral -> config.

The forward maps (render/axolotl.py, render/llamafactory.py) turn a Plan into a config; these tables read a
config that someone wrote by hand, for `ftgen lint` and `ftgen convert`. Field names follow the Plan:
method, lora_r, learning_rate, micro_batch_size, sequence_len, packing, precision, ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import axolotl as _ax_forward
from . import llamafactory as _lf_forward

# ----------------------------------------------------------------------------------------------------------------
# one-to-one keys: the same value means the same thing in both frameworks (HF TrainingArguments names mostly)

SIMPLE: dict[str, dict[str, str]] = {
    "axolotl": {
        "base_model": "base_model",
        "trust_remote_code": "trust_remote_code",
        "lora_r": "lora_r",
        "lora_alpha": "lora_alpha",
        "lora_dropout": "lora_dropout",
        "peft_use_dora": "use_dora",
        "peft_use_rslora": "use_rslora",
        "lora_model_dir": "adapter_path",
        "loraplus_lr_ratio": "loraplus_lr_ratio",
        "learning_rate": "learning_rate",
        "micro_batch_size": "micro_batch_size",
        "eval_batch_size": "eval_batch_size",
        "gradient_accumulation_steps": "gradient_accumulation_steps",
        "num_epochs": "num_epochs",
        "max_steps": "max_steps",
        "optimizer": "optimizer",
        "lr_scheduler": "lr_scheduler",
        "lr_scheduler_kwargs": "lr_scheduler_kwargs",
        "warmup_ratio": "warmup_ratio",
        "warmup_steps": "warmup_steps",
        "weight_decay": "weight_decay",
        "max_grad_norm": "max_grad_norm",
        "adam_beta1": "adam_beta1",
        "adam_beta2": "adam_beta2",
        "adam_epsilon": "adam_epsilon",
        "sequence_len": "sequence_len",
        "sample_packing": "packing",
        "tf32": "tf32",
        "deepspeed": "deepspeed",
        "val_set_size": "val_set_size",
        "eval_strategy": "eval_strategy",
        "eval_steps": "eval_steps",
        "save_strategy": "save_strategy",
        "save_steps": "save_steps",
        "save_total_limit": "save_total_limit",
        "save_only_model": "save_only_model",
        "logging_steps": "logging_steps",
        "seed": "seed",
        "output_dir": "output_dir",
        "rl_beta": "pref_beta",
        "neftune_noise_alpha": "neftune_noise_alpha",
        "resume_from_checkpoint": "resume_from_checkpoint",
        "hub_model_id": "hub_model_id",
        "hub_strategy": "hub_strategy",
        "dataloader_num_workers": "dataloader_num_workers",
        "dataloader_pin_memory": "dataloader_pin_memory",
        "ddp_timeout": "ddp_timeout",
        "ddp_find_unused_parameters": "ddp_find_unused_parameters",
        "dataset_num_proc": "dataset_num_proc",
        "group_by_length": "group_by_length",
        "gradient_checkpointing_kwargs": "gradient_checkpointing_kwargs",
        "torch_compile": "torch_compile",
        "metric_for_best_model": "metric_for_best_model",
        "greater_is_better": "greater_is_better",
        "load_best_model_at_end": "load_best_model_at_end",
        "include_tokens_per_second": "include_tokens_per_second",
        "simpo_gamma": "simpo_gamma",
        "kto_desirable_weight": "kto_chosen_weight",
        "kto_undesirable_weight": "kto_rejected_weight",
        "cut_cross_entropy": "use_cut_cross_entropy",
    },
    "llamafactory": {
        "model_name_or_path": "base_model",
        "trust_remote_code": "trust_remote_code",
        "lora_rank": "lora_r",
        "lora_alpha": "lora_alpha",
        "lora_dropout": "lora_dropout",
        "use_dora": "use_dora",
        "use_rslora": "use_rslora",
        "adapter_name_or_path": "adapter_path",
        "loraplus_lr_ratio": "loraplus_lr_ratio",
        "learning_rate": "learning_rate",
        "per_device_train_batch_size": "micro_batch_size",
        "per_device_eval_batch_size": "eval_batch_size",
        "gradient_accumulation_steps": "gradient_accumulation_steps",
        "num_train_epochs": "num_epochs",
        "max_steps": "max_steps",
        "optim": "optimizer",
        "lr_scheduler_type": "lr_scheduler",
        "lr_scheduler_kwargs": "lr_scheduler_kwargs",
        "warmup_ratio": "warmup_ratio",
        "warmup_steps": "warmup_steps",
        "weight_decay": "weight_decay",
        "max_grad_norm": "max_grad_norm",
        "adam_beta1": "adam_beta1",
        "adam_beta2": "adam_beta2",
        "adam_epsilon": "adam_epsilon",
        "cutoff_len": "sequence_len",
        "packing": "packing",
        "tf32": "tf32",
        "deepspeed": "deepspeed",
        "val_size": "val_set_size",
        "eval_strategy": "eval_strategy",
        "eval_steps": "eval_steps",
        "save_strategy": "save_strategy",
        "save_steps": "save_steps",
        "save_total_limit": "save_total_limit",
        "save_only_model": "save_only_model",
        "logging_steps": "logging_steps",
        "seed": "seed",
        "output_dir": "output_dir",
        "pref_beta": "pref_beta",
        "neftune_noise_alpha": "neftune_noise_alpha",
        "resume_from_checkpoint": "resume_from_checkpoint",
        "hub_model_id": "hub_model_id",
        "hub_strategy": "hub_strategy",
        "dataloader_num_workers": "dataloader_num_workers",
        "dataloader_pin_memory": "dataloader_pin_memory",
        "ddp_timeout": "ddp_timeout",
        "ddp_find_unused_parameters": "ddp_find_unused_parameters",
        "preprocessing_num_workers": "dataset_num_proc",
        "group_by_length": "group_by_length",
        "gradient_checkpointing_kwargs": "gradient_checkpointing_kwargs",
        "torch_compile": "torch_compile",
        "metric_for_best_model": "metric_for_best_model",
        "greater_is_better": "greater_is_better",
        "load_best_model_at_end": "load_best_model_at_end",
        "include_tokens_per_second": "include_tokens_per_second",
        "simpo_gamma": "simpo_gamma",
        "kto_chosen_weight": "kto_chosen_weight",
        "kto_rejected_weight": "kto_rejected_weight",
        "use_cut_cross_entropy": "use_cut_cross_entropy",
    },
}
# Keys each composite translator below reads (so they are not reported as untranslated).
COMPOSITE_KEYS: dict[str, set[str]] = {
    "axolotl": {
        "adapter",
        "load_in_4bit",
        "plugins",
        "bnb_config_kwargs",
        "load_in_8bit",
        "lora_target_modules",
        "lora_target_linear",
        "bf16",
        "fp16",
        "gradient_checkpointing",
        "attn_implementation",
        "flash_attention",
        "sdp_attention",
        "xformers_attention",
        "eager_attention",
        "flex_attention",
        "rl",
        "datasets",
        "pretraining_dataset",
        "chat_template",
    },
    "llamafactory": {
        "finetuning_type",
        "quantization_bit",
        "quantization_method",
        "double_quantization",
        "quantization_type",
        "lora_target",
        "bf16",
        "fp16",
        "pure_bf16",
        "disable_gradient_checkpointing",
        "flash_attn",
        "stage",
        "pref_loss",
        "dataset",
        "dataset_dir",
        "template",
        "do_train",
    },
}

# Keys that do not carry over, and why (anything else not translated gets the generic reason).
WHY_NOT: dict[str, dict[str, str]] = {
    "axolotl": {
        "dataset_prepared_path": "Axolotl's tokenised-data cache folder; LLaMA-Factory's tokenized_path caches in "
        "another layout (set it there if wanted)",
        "wandb_project": "Axolotl's W&B settings; LLaMA-Factory uses report_to plus WANDB_* environment variables",
        "wandb_entity": "Axolotl's W&B settings; LLaMA-Factory uses report_to plus WANDB_* environment variables",
        "wandb_name": "Axolotl's W&B settings; LLaMA-Factory uses report_to plus WANDB_* environment variables",
        "wandb_watch": "Axolotl's W&B settings; LLaMA-Factory uses report_to plus WANDB_* environment variables",
        "wandb_log_model": "Axolotl's W&B settings; LLaMA-Factory uses report_to plus WANDB_* environment variables",
        "special_tokens": "LLaMA-Factory sets special tokens through the template, not per config",
        "tokens": "LLaMA-Factory adds tokens with add_tokens / add_special_tokens (comma-separated strings); "
        "the semantics differ",
        "evals_per_epoch": "LLaMA-Factory has no per-epoch eval count; set eval_steps",
        "saves_per_epoch": "LLaMA-Factory has no per-epoch save count; set save_steps",
        "train_on_inputs": "LLaMA-Factory's train_on_prompt is per stage and masks differently",
        "pad_to_sequence_len": "LLaMA-Factory pads per batch; no fixed-length padding switch",
        "fsdp_config": "LLaMA-Factory takes FSDP settings from the accelerate config, not the training YAML",
        "fsdp_version": "LLaMA-Factory takes FSDP settings from the accelerate config, not the training YAML",
        "strict": "an Axolotl loader switch without a LLaMA-Factory counterpart",
        "flash_attn_cross_entropy": "an Axolotl kernel switch without a LLaMA-Factory counterpart",
        "flash_attn_fuse_mlp": "an Axolotl kernel switch without a LLaMA-Factory counterpart",
        "lora_mlp_kernel": "Axolotl's Triton LoRA kernels have no LLaMA-Factory counterpart",
        "lora_qkv_kernel": "Axolotl's Triton LoRA kernels have no LLaMA-Factory counterpart",
        "lora_o_kernel": "Axolotl's Triton LoRA kernels have no LLaMA-Factory counterpart",
        "lora_embedding_kernel": "Axolotl's Triton LoRA kernels have no LLaMA-Factory counterpart",
        "max_prompt_len": "LLaMA-Factory derives the prompt budget from cutoff_len",
    },
    "llamafactory": {
        "overwrite_cache": "LLaMA-Factory's re-tokenise switch; Axolotl re-tokenises when dataset_prepared_path "
        "does not match",
        "overwrite_output_dir": "LLaMA-Factory resumes into an existing output_dir unless this is set; Axolotl "
        "has no such switch",
        "plot_loss": "LLaMA-Factory's loss plot; Axolotl logs to trackers instead",
        "report_to": "LLaMA-Factory's tracker list; Axolotl uses use_wandb / wandb_project / use_mlflow ...",
        "max_samples": "LLaMA-Factory truncates each dataset to max_samples; Axolotl has no such key",
        "freeze_vision_tower": "a multimodal freezing switch without an Axolotl key",
        "image_max_pixels": "a multimodal processor setting without an Axolotl key",
        "video_max_pixels": "a multimodal processor setting without an Axolotl key",
        "export_dir": "an export (merge) config: Axolotl merges with `axolotl merge-lora`, not through the "
        "training config",
    },
}

_BNB_KWARGS = {"bnb_4bit_use_double_quant": "double_quant", "bnb_4bit_quant_type": "quant_type"}
CCE_PLUGIN = "axolotl.integrations.cut_cross_entropy.CutCrossEntropyPlugin"

# Chat/prompt templates that name the same prompt format in both frameworks.
TEMPLATES_AX_TO_LF = {
    "alpaca": "alpaca",
    "chatml": "chatml",
    "llama3": "llama3",
    "llama4": "llama4",
    "gemma": "gemma",
    "gemma3": "gemma3",
    "gemma3n": "gemma3n",
    "gemma4": "gemma4",
    "cohere": "cohere",
    "qwen_25": "qwen",
    "qwen3": "qwen3",
    "qwen3_5": "qwen3_5",
    "phi_3": "phi",
    "deepseek_v2": "deepseek",
    "deepseek_v3": "deepseek3",
    "exaone": "exaone",
    "falcon_h1": "falcon_h1",
    "pixtral": "pixtral",
    "llava": "llava",
    "qwen2_vl": "qwen2_vl",
}
TEMPLATES_LF_TO_AX = {v: k for k, v in TEMPLATES_AX_TO_LF.items()}

# LLaMA-Factory flash_attn <-> attn_implementation (the forward map's _ATTN, plus FA3).
ATTN_LF_TO_NEUTRAL = {**{v: k for k, v in _lf_forward._ATTN.items()}, "fa3": "flash_attention_3"}
ATTN_NEUTRAL_TO_LF = {v: k for k, v in ATTN_LF_TO_NEUTRAL.items()}
_AX_LEGACY_ATTN = {
    "flash_attention": "flash_attention_2",
    "sdp_attention": "sdpa",
    "xformers_attention": "xformers",
    "eager_attention": "eager",
    "flex_attention": "flex_attention",
}

# task <-> Axolotl rl / LLaMA-Factory stage + pref_loss
_STAGE_TO_TASK = {"sft": "sft", "pt": "pretrain", "kto": "kto", "rm": "rm", "ppo": "ppo"}
_PREF_LOSS_TO_TASK = {"sigmoid": "dpo", "orpo": "orpo", "simpo": "simpo", "ipo": "ipo"}
_AX_RL_TASKS = ("dpo", "kto", "orpo", "simpo", "ipo", "grpo")


@dataclass
class Neutral:
    """Framework-neutral fields read from one config; `origin` says which config keys each came from."""

    fields: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, tuple[str, ...]] = field(default_factory=dict)
    untranslated: dict[str, str] = field(default_factory=dict)  # source key -> why it cannot be translated

    def put(self, name: str, value: Any, *keys: str) -> None:
        self.fields[name] = value
        self.origin[name] = tuple(keys)

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def _num(value: Any) -> Any:
    """'2e-5' -> 2e-05 (both frameworks read numeric strings as numbers)."""
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return value
        return int(f) if f.is_integer() and re.fullmatch(r"[-+]?\d+", value.strip()) else f
    return value


_NUMERIC = {
    "learning_rate",
    "warmup_ratio",
    "weight_decay",
    "lora_dropout",
    "max_grad_norm",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "val_set_size",
    "pref_beta",
    "neftune_noise_alpha",
    "num_epochs",
    "loraplus_lr_ratio",
    "simpo_gamma",
}


# ---------------------------------------------------------------------------------------------- config -> neutral


def to_neutral(framework: str, cfg: dict, dataset_info: dict | None = None) -> Neutral:
    """Read a config's translatable settings into neutral fields; everything else lands in `untranslated`."""
    n = Neutral()
    if not isinstance(cfg, dict):
        return n
    for key, name in SIMPLE[framework].items():
        if key in cfg and cfg[key] is not None:
            value = cfg[key]
            n.put(name, _num(value) if name in _NUMERIC else value, key)
    (_ax_composite if framework == "axolotl" else _lf_composite)(cfg, n, dataset_info)
    used = set(SIMPLE[framework]) | COMPOSITE_KEYS[framework]
    for key, value in cfg.items():
        if key in used or value is None:
            continue
        n.untranslated.setdefault(key, WHY_NOT[framework].get(key) or _generic_why(framework))
    return n


def _generic_why(framework: str) -> str:
    other = "LLaMA-Factory" if framework == "axolotl" else "Axolotl"
    return f"no {other} counterpart known to ftgen"


def _ax_composite(cfg: dict, n: Neutral, _info: dict | None) -> None:
    adapter = cfg.get("adapter")
    four, eight = bool(cfg.get("load_in_4bit")), bool(cfg.get("load_in_8bit"))
    if adapter in ("lora", "qlora"):
        method = "qlora" if (adapter == "qlora" or four) else "lora"
        n.put("method", method, *[k for k in ("adapter", "load_in_4bit", "load_in_8bit") if k in cfg])
        n.put(
            "quant_bits",
            4 if four else 8 if eight else None,
            *[k for k in ("load_in_4bit", "load_in_8bit") if k in cfg],
        )
    elif adapter is None and "adapter" in cfg or adapter is None:
        if not (four or eight):
            n.put("method", "full", *(["adapter"] if "adapter" in cfg else []))
        else:
            n.untranslated["load_in_4bit" if four else "load_in_8bit"] = (
                "quantised loading without an adapter: Axolotl refuses it (full fine-tune of a quantised model)"
            )
    else:
        n.untranslated["adapter"] = f"adapter {adapter!r} has no LLaMA-Factory counterpart (lora only)"
    if adapter not in ("lora", "qlora"):
        for key in ("lora_target_linear", "lora_target_modules", "lora_r", "lora_alpha", "lora_dropout"):
            if cfg.get(key) is not None:
                n.untranslated[key] = "a LoRA setting without a LoRA adapter: it has no effect here"
                n.fields.pop(SIMPLE["axolotl"].get(key, ""), None)
                n.origin.pop(SIMPLE["axolotl"].get(key, ""), None)
    elif cfg.get("lora_target_linear"):
        n.put(
            "lora_target_modules",
            ["all-linear"],
            "lora_target_linear",
            *(["lora_target_modules"] if cfg.get("lora_target_modules") else []),
        )
    elif cfg.get("lora_target_modules"):
        t = cfg["lora_target_modules"]
        n.put("lora_target_modules", [t] if isinstance(t, str) else list(t), "lora_target_modules")
    bnb = cfg.get("bnb_config_kwargs")
    if isinstance(bnb, dict):
        for key, value in bnb.items():
            if key in _BNB_KWARGS and value is not None:
                n.put(_BNB_KWARGS[key], value, "bnb_config_kwargs")
            else:
                n.untranslated[f"bnb_config_kwargs.{key}"] = "a bitsandbytes option LLaMA-Factory does not expose"
    # precision
    bf16, fp16 = cfg.get("bf16", "auto"), cfg.get("fp16")
    if bf16 == "auto" and not fp16:
        if "bf16" in cfg:
            n.untranslated["bf16"] = (
                "bf16: auto picks bf16 where the GPU has it; LLaMA-Factory needs an explicit bf16: true or false"
            )
    elif bf16 is True or bf16 == "true":
        n.put("precision", "bf16", *[k for k in ("bf16", "fp16") if k in cfg])
    elif fp16:
        n.put("precision", "fp16", *[k for k in ("bf16", "fp16") if k in cfg])
    elif bf16 is False:
        n.put("precision", "fp32", *[k for k in ("bf16", "fp16") if k in cfg])
    gc = cfg.get("gradient_checkpointing")
    if isinstance(gc, bool):
        n.put("gradient_checkpointing", gc, "gradient_checkpointing")
    elif gc is not None:
        n.untranslated["gradient_checkpointing"] = (
            f"gradient_checkpointing: {gc} (activation offloading) has no LLaMA-Factory counterpart"
        )
    attn = cfg.get("attn_implementation")
    legacy = [k for k in _AX_LEGACY_ATTN if cfg.get(k)]
    if attn:
        if attn in ATTN_NEUTRAL_TO_LF:
            n.put("attn_implementation", attn, "attn_implementation")
        else:
            n.untranslated["attn_implementation"] = f"{attn!r} has no LLaMA-Factory flash_attn counterpart"
    elif legacy:
        value = _AX_LEGACY_ATTN[legacy[0]]
        if value in ATTN_NEUTRAL_TO_LF:
            n.put("attn_implementation", value, *legacy)
        else:
            n.untranslated[legacy[0]] = f"{value} attention has no LLaMA-Factory flash_attn counterpart"
    # task
    rl = cfg.get("rl")
    if rl is None:
        pretrain = bool(cfg.get("pretraining_dataset")) or _all_completion(cfg.get("datasets"))
        n.put("task", "pretrain" if pretrain else "sft", *(["rl"] if "rl" in cfg else []))
    elif rl in _AX_RL_TASKS:
        n.put("task", rl, "rl")
    else:
        n.untranslated["rl"] = f"rl: {rl} has no LLaMA-Factory stage"
    # chat template
    tmpl = cfg.get("chat_template")
    if tmpl is not None:
        if tmpl in TEMPLATES_AX_TO_LF:
            n.put("chat_template", tmpl, "chat_template")
        else:
            n.untranslated["chat_template"] = (
                f"chat_template {tmpl!r} has no LLaMA-Factory template known to name the same prompt format"
            )
    # datasets
    datasets = cfg.get("datasets")
    if isinstance(datasets, list):
        out, ok = [], True
        for i, ds in enumerate(datasets):
            item, why = _ax_dataset(ds)
            if item is None:
                n.untranslated[f"datasets[{i}]"] = why
                ok = False
            else:
                out.append(item)
                for extra, reason in why_extra(ds):
                    n.untranslated[f"datasets[{i}].{extra}"] = reason
        if out and ok:
            n.put("datasets", out, "datasets")
        elif out:
            n.untranslated.setdefault("datasets", "some entries cannot be translated (listed one by one)")
    if cfg.get("pretraining_dataset"):
        n.untranslated["pretraining_dataset"] = "streaming pretraining datasets have no LLaMA-Factory counterpart here"
    plugins = cfg.get("plugins")
    if isinstance(plugins, list):
        others = [p for p in plugins if p != CCE_PLUGIN or not cfg.get("cut_cross_entropy")]
        if others:
            n.untranslated["plugins"] = (
                f"Axolotl plugins without a LLaMA-Factory counterpart: {', '.join(map(str, others))}"
            )


_AX_DS_KEYS = {
    "path",
    "type",
    "split",
    "ds_type",
    "field_messages",
    "message_property_mappings",
    "field",
    "data_files",
    "name",
}


def why_extra(ds: dict) -> list[tuple[str, str]]:
    return [
        (k, "a per-dataset Axolotl option without a dataset_info.json counterpart")
        for k, v in ds.items()
        if k not in _AX_DS_KEYS and v is not None
    ]


def _all_completion(datasets: Any) -> bool:
    return (
        isinstance(datasets, list)
        and bool(datasets)
        and all(isinstance(d, dict) and d.get("type") == "completion" for d in datasets)
    )


def _is_file(path: str, ds_type: Any) -> bool:
    return (
        bool(ds_type)
        or bool(re.search(r"\.(jsonl?|parquet|csv|arrow|txt)$", str(path)))
        or str(path).startswith(("/", "./", "../"))
    )


def _ax_dataset(ds: Any) -> tuple[dict | None, str]:
    if not isinstance(ds, dict) or not ds.get("path"):
        return None, "a dataset entry without a path"
    t = ds.get("type")
    item: dict[str, Any] = {"path": ds["path"], "source": "file" if _is_file(ds["path"], ds.get("ds_type")) else "hub"}
    if ds.get("split") not in (None, "train"):
        item["split"] = ds["split"]
    if ds.get("name"):
        item["subset"] = ds["name"]
    if t == "alpaca":
        item["format"] = "alpaca"
    elif t == "chat_template":
        item["format"] = "messages"
        item["messages_field"] = ds.get("field_messages") or "messages"
        mapping = ds.get("message_property_mappings") or {}
        item["role_field"] = mapping.get("role", "role")
        item["content_field"] = mapping.get("content", "content")
    elif t == "completion":
        item["format"] = "text"
        item["text_field"] = ds.get("field") or "text"
    else:
        return None, (
            f"dataset type {t!r} has no dataset_info.json formatting ftgen can write "
            "(alpaca, chat_template and completion translate)"
        )
    return item, ""


def _lf_composite(cfg: dict, n: Neutral, info: dict | None) -> None:
    ftype = cfg.get("finetuning_type", "lora")
    qbit = cfg.get("quantization_bit")
    qmethod = cfg.get("quantization_method", "bnb")
    keys = [k for k in ("finetuning_type", "quantization_bit", "quantization_method") if k in cfg]
    if ftype == "lora":
        if qbit is not None and qmethod not in ("bnb", "bitsandbytes"):
            n.untranslated["quantization_method"] = (
                f"on-the-fly {qmethod} quantisation has no Axolotl counterpart (Axolotl quantises with bitsandbytes)"
            )
        else:
            n.put("method", "qlora" if qbit == 4 else "lora", *keys)
            n.put("quant_bits", qbit if qbit in (4, 8) else None, *[k for k in ("quantization_bit",) if k in cfg])
            if qbit not in (None, 4, 8):
                n.untranslated["quantization_bit"] = f"{qbit}-bit loading has no Axolotl counterpart (4 or 8)"
    elif ftype == "full":
        n.put("method", "full", *keys)
    else:
        n.untranslated["finetuning_type"] = f"finetuning_type {ftype} has no Axolotl counterpart (lora or full)"
    if ftype != "lora":
        for key in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "use_dora", "use_rslora"):
            if key in cfg and cfg[key] is not None:
                n.untranslated[key] = "a LoRA setting without finetuning_type: lora: it has no effect here"
                n.fields.pop(SIMPLE["llamafactory"].get(key, ""), None)
                n.origin.pop(SIMPLE["llamafactory"].get(key, ""), None)
    if "double_quantization" in cfg:
        n.put("double_quant", cfg["double_quantization"], "double_quantization")
    if "quantization_type" in cfg:
        n.put("quant_type", cfg["quantization_type"], "quantization_type")
    target = cfg.get("lora_target")
    if target is not None and ftype == "lora":
        parts = target if isinstance(target, list) else [t.strip() for t in str(target).split(",") if t.strip()]
        n.put("lora_target_modules", ["all-linear"] if parts == ["all"] else parts, "lora_target")
    bf16, fp16, pure = cfg.get("bf16"), cfg.get("fp16"), cfg.get("pure_bf16")
    if pure:
        n.untranslated["pure_bf16"] = "pure bf16 (no fp32 master weights) has no Axolotl switch"
    if bf16:
        n.put("precision", "bf16", *[k for k in ("bf16", "fp16") if k in cfg])
    elif fp16:
        n.put("precision", "fp16", *[k for k in ("bf16", "fp16") if k in cfg])
    elif "bf16" in cfg or "fp16" in cfg:
        n.put("precision", "fp32", *[k for k in ("bf16", "fp16") if k in cfg])
    if "disable_gradient_checkpointing" in cfg:
        n.put("gradient_checkpointing", not cfg["disable_gradient_checkpointing"], "disable_gradient_checkpointing")
    attn = cfg.get("flash_attn")
    if attn is not None and attn != "auto":
        if attn in ATTN_LF_TO_NEUTRAL:
            n.put("attn_implementation", ATTN_LF_TO_NEUTRAL[attn], "flash_attn")
        else:
            n.untranslated["flash_attn"] = f"flash_attn {attn!r} has no Axolotl counterpart"
    stage = cfg.get("stage", "sft")
    if stage == "dpo":
        loss = cfg.get("pref_loss", "sigmoid")
        if loss in _PREF_LOSS_TO_TASK:
            n.put("task", _PREF_LOSS_TO_TASK[loss], *[k for k in ("stage", "pref_loss") if k in cfg])
        else:
            n.untranslated["pref_loss"] = f"pref_loss {loss} has no Axolotl rl type"
    elif stage in _STAGE_TO_TASK:
        task = _STAGE_TO_TASK[stage]
        if task in ("rm", "ppo"):
            n.untranslated["stage"] = f"stage {stage} has no Axolotl counterpart ftgen translates"
        else:
            n.put("task", task, *(["stage"] if "stage" in cfg else []))
    else:
        n.untranslated["stage"] = f"stage {stage!r} is not a LLaMA-Factory stage"
    tmpl = cfg.get("template")
    if tmpl is not None:
        if tmpl in TEMPLATES_LF_TO_AX:
            n.put("chat_template", TEMPLATES_LF_TO_AX[tmpl], "template")
        else:
            n.untranslated["template"] = f"template {tmpl!r} has no Axolotl chat_template known to name the same format"
    if cfg.get("dataset") is not None:
        names = (
            cfg["dataset"]
            if isinstance(cfg["dataset"], list)
            else [d.strip() for d in str(cfg["dataset"]).split(",") if d.strip()]
        )
        if info is None:
            n.untranslated["dataset"] = (
                f"dataset names ({', '.join(names)}) resolve through dataset_info.json in "
                f"dataset_dir ({cfg.get('dataset_dir', 'data')!r}), which ftgen did not find"
            )
        else:
            out, bad = [], []
            for name in names:
                item = _lf_dataset(info.get(name))
                (out.append(item) if item else bad.append(name))
            if bad:
                n.untranslated["dataset"] = (
                    f"dataset_info.json entries {', '.join(bad)} are missing or use a formatting ftgen cannot translate"
                )
            else:
                n.put("datasets", out, "dataset", *(["dataset_dir"] if "dataset_dir" in cfg else []))


def _lf_dataset(entry: Any) -> dict | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("hf_hub_url"):
        item: dict[str, Any] = {"path": entry["hf_hub_url"], "source": "hub"}
    elif entry.get("file_name"):
        item = {"path": entry["file_name"], "source": "file"}
    else:
        return None
    if entry.get("split") not in (None, "train"):
        item["split"] = entry["split"]
    if entry.get("subset"):
        item["subset"] = entry["subset"]
    if entry.get("ranking"):
        return None
    cols = entry.get("columns") or {}
    fmt = entry.get("formatting", "alpaca")
    if fmt == "sharegpt":
        tags = entry.get("tags") or {}
        item.update(
            format="messages",
            messages_field=cols.get("messages", "conversations"),
            role_field=tags.get("role_tag", "from"),
            content_field=tags.get("content_tag", "value"),
        )
        return item
    if fmt == "alpaca":
        if set(cols) <= {"prompt"} and cols:
            item.update(format="text", text_field=cols["prompt"])
            return item
        expected = {"prompt": "instruction", "query": "input", "response": "output"}
        if all(cols.get(k, v) == v for k, v in expected.items()) and set(cols) <= set(expected):
            item["format"] = "alpaca"
            return item
    return None


# ---------------------------------------------------------------------------------------------- neutral -> config


@dataclass
class Emitted:
    """A config written from neutral fields, plus what could not be written and what was added."""

    config: dict = field(default_factory=dict)
    extra_files: dict[str, Any] = field(default_factory=dict)
    untranslated: dict[str, str] = field(default_factory=dict)  # neutral field -> why not
    notes: list[str] = field(default_factory=list)


def from_neutral(framework: str, n: Neutral) -> Emitted:
    """Write neutral fields as one framework's config keys."""
    out = Emitted()
    inverse = {name: key for key, name in SIMPLE[framework].items()}
    f = n.fields
    for name, value in f.items():
        if name in inverse:
            out.config[inverse[name]] = value
    (_to_ax if framework == "axolotl" else _to_lf)(f, out)
    return out


def _to_ax(f: dict, out: Emitted) -> None:
    c = out.config
    method, bits = f.get("method"), f.get("quant_bits")
    if method == "qlora":
        c["adapter"], c["load_in_4bit"] = "qlora", True
    elif method == "lora":
        c["adapter"] = "lora"
        if bits == 8:
            c["load_in_8bit"] = True
        elif bits == 4:
            c["load_in_4bit"] = True
    bnb = {k: f[name] for k, name in _BNB_KWARGS.items() if name in f}
    if bnb:
        c["bnb_config_kwargs"] = bnb
    targets = f.get("lora_target_modules")
    if targets == ["all-linear"]:
        c["lora_target_linear"] = True
    elif targets:
        c["lora_target_modules"] = list(targets)
    prec = f.get("precision")
    if prec:
        c["bf16"], c["fp16"] = _ax_forward._PRECISION[prec]
    if "gradient_checkpointing" in f:
        c["gradient_checkpointing"] = f["gradient_checkpointing"]
    if f.get("attn_implementation"):
        c["attn_implementation"] = f["attn_implementation"]
    task = f.get("task")
    if task in _AX_RL_TASKS:
        c["rl"] = task
    elif task in ("rm", "ppo"):
        out.untranslated["task"] = f"task {task} has no Axolotl rl type ftgen writes"
    if f.get("chat_template"):
        c["chat_template"] = f["chat_template"]
    if f.get("datasets"):
        c["datasets"] = [_ax_entry(d, task) for d in f["datasets"]]
    elif task == "pretrain":
        out.untranslated["task"] = (
            "Axolotl has no stage switch: pretraining follows from completion datasets or "
            "pretraining_dataset, and the datasets did not translate"
        )
    if c.get("cut_cross_entropy"):
        c["plugins"] = [CCE_PLUGIN]


def _ax_entry(d: dict, task: str | None) -> dict:
    e: dict[str, Any] = {"path": d["path"]}
    if d.get("subset"):
        e["name"] = d["subset"]
    if d.get("split"):
        e["split"] = d["split"]
    if d["source"] == "file" and str(d["path"]).endswith((".json", ".jsonl")):
        e["ds_type"] = "json"
    if d["format"] == "alpaca":
        e["type"] = "alpaca"
    elif d["format"] == "messages":
        e["type"] = "chat_template"
        e["field_messages"] = d["messages_field"]
        e["message_property_mappings"] = {"role": d["role_field"], "content": d["content_field"]}
    elif d["format"] == "text":
        e["type"] = "completion"
        e["field"] = d["text_field"]
    return e


def _to_lf(f: dict, out: Emitted) -> None:
    c = out.config
    method, bits = f.get("method"), f.get("quant_bits")
    if method in ("qlora", "lora"):
        c["finetuning_type"] = "lora"
        if bits:
            c["quantization_bit"] = bits
            c["quantization_method"] = "bnb"
    elif method == "full":
        c["finetuning_type"] = "full"
    if "double_quant" in f:
        c["double_quantization"] = f["double_quant"]
    if "quant_type" in f:
        c["quantization_type"] = f["quant_type"]
    targets = f.get("lora_target_modules")
    if targets and method in ("lora", "qlora"):
        c["lora_target"] = "all" if targets == ["all-linear"] else ",".join(targets)
    prec = f.get("precision")
    if prec:
        c["bf16"], c["fp16"] = _lf_forward._PRECISION[prec]
    if "gradient_checkpointing" in f:
        c["disable_gradient_checkpointing"] = not f["gradient_checkpointing"]
    attn = f.get("attn_implementation")
    if attn:
        c["flash_attn"] = ATTN_NEUTRAL_TO_LF[attn]
    task = f.get("task")
    if task:
        if task == "grpo":
            out.untranslated["task"] = (
                "LLaMA-Factory 0.9.5 has no GRPO stage (its stages are pt, sft, rm, ppo, dpo, kto)"
            )
        elif task in ("dpo", "orpo", "simpo", "ipo"):
            c["stage"] = "dpo"
            if task != "dpo":
                c["pref_loss"] = {v: k for k, v in _PREF_LOSS_TO_TASK.items()}[task]
        else:
            c["stage"] = {"sft": "sft", "pretrain": "pt", "kto": "kto"}[task]
        c.setdefault("do_train", True)
        out.notes.append("do_train: true added (LLaMA-Factory trains only when asked)")
    if f.get("chat_template"):
        c["template"] = TEMPLATES_AX_TO_LF[f["chat_template"]]
    if f.get("datasets"):
        info = {}
        for i, d in enumerate(f["datasets"]):
            info[f"dataset_{i}"] = _lf_entry(d)
        c["dataset"] = ",".join(info)
        c["dataset_dir"] = "."
        out.extra_files["dataset_info.json"] = info
        out.notes.append("dataset_info.json written beside the config (dataset_dir: .) for the translated datasets")


def _lf_entry(d: dict) -> dict:
    e: dict[str, Any] = {("file_name" if d["source"] == "file" else "hf_hub_url"): d["path"]}
    if d.get("split"):
        e["split"] = d["split"]
    if d.get("subset"):
        e["subset"] = d["subset"]
    if d["format"] == "alpaca":
        e.update(formatting="alpaca", columns={"prompt": "instruction", "query": "input", "response": "output"})
    elif d["format"] == "messages":
        tags = {"role_tag": d["role_field"], "content_tag": d["content_field"]}
        if d["role_field"] == "role":  # OpenAI-style messages: user / assistant / system roles
            tags.update(user_tag="user", assistant_tag="assistant", system_tag="system")
        e.update(formatting="sharegpt", columns={"messages": d["messages_field"]}, tags=tags)
    elif d["format"] == "text":
        e["columns"] = {"prompt": d["text_field"]}
    return e

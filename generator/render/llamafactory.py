"""Key map Plan -> LLaMA-Factory 0.9.5 config keys and its dataset_info.json."""

from __future__ import annotations

from ._common import DEEPSPEED_FILE, Inputs
from ._entries import Entries

VERSION = "0.9.5"
_STAGE = {"sft": "sft", "pretrain": "pt", "dpo": "dpo", "orpo": "dpo", "kto": "kto"}
_PRECISION = {"bf16": (True, False), "fp16": (False, True), "fp32": (False, False)}
_ATTN = {"flash_attention_2": "fa2", "sdpa": "sdpa", "eager": "disabled"}
_COLUMNS = {
    "alpaca": {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    "sharegpt": {"formatting": "sharegpt", "columns": {"messages": "conversations"}},
    "messages": {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    },
    "preference": {
        "formatting": "alpaca",
        "ranking": True,
        "columns": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
    },
    "kto": {"formatting": "alpaca", "columns": {"prompt": "prompt", "response": "completion", "kto_tag": "label"}},
    "text": {"columns": {"prompt": "text"}},
}


def dataset_names(inp: Inputs) -> list[str]:
    return [f"train_{i}" for i in range(len(inp.spec.data.train))]


def dataset_info(inp: Inputs) -> dict:
    """The dataset_info.json LLaMA-Factory reads from dataset_dir: one entry per training dataset."""
    info = {}
    for name, entry in zip(dataset_names(inp), inp.spec.data.train):
        item: dict = {}
        if inp.is_hub(entry):
            item["hf_hub_url"] = entry.path
            if entry.split != "train":
                item["split"] = entry.split
        else:
            item["file_name"] = inp.rel(entry.path)
        item.update({k: (dict(v) if isinstance(v, dict) else v) for k, v in _COLUMNS[entry.format].items()})
        info[name] = item
    return info


def entries(inp: Inputs) -> Entries:
    plan, spec, model = inp.plan, inp.spec, inp.facts.model
    e = Entries()
    e.put("model_name_or_path", inp.model_ref(), "spec", "base_model in the spec")
    if plan["trust_remote_code"]:
        e.from_plan("trust_remote_code", plan, "trust_remote_code")
    method = plan.method
    e.from_plan("stage", plan, "task", value=_STAGE[spec.task])
    e.put("do_train", True, "FT100", "train, then evaluate on the held-out split")
    e.from_plan("finetuning_type", plan, "method", value="full" if method == "full" else "lora")
    if method == "qlora":
        e.from_plan("quantization_bit", plan, "method", value=4)
        e.from_plan("quantization_method", plan, "method", value="bnb")
        e.from_plan("double_quantization", plan, "method", value=True)
    if method != "full":
        e.from_plan("lora_rank", plan, "lora_r")
        e.from_plan("lora_alpha", plan, "lora_alpha")
        e.from_plan("lora_dropout", plan, "lora_dropout")
        targets = plan["lora_target_modules"]
        e.from_plan(
            "lora_target", plan, "lora_target_modules", value="all" if targets == ["all-linear"] else ",".join(targets)
        )
    if spec.task in ("dpo", "kto", "orpo"):
        e.from_plan("pref_beta", plan, "pref_beta")
        if spec.task != "kto":
            e.from_plan("pref_loss", plan, "pref_loss")
    e.put("dataset", ",".join(dataset_names(inp)), "spec", "data.train in the spec (entries in dataset_info.json)")
    e.put("dataset_dir", ".", "FT104", "dataset_info.json is written beside this config")
    if spec.task != "pretrain":
        e.put(
            "template",
            model.llamafactory_template,
            "FT104",
            f"{model.id}'s prompt template as LLaMA-Factory names it (model catalog)",
        )
    e.from_plan("cutoff_len", plan, "sequence_len")
    if plan["packing"]:
        e.from_plan("packing", plan, "packing")
        e.from_plan("neat_packing", plan, "packing", value=True)
    e.put("overwrite_cache", True, "FT104", "re-tokenise when the data changes")
    e.put("preprocessing_num_workers", 2 if inp.cpu else 8, "FT104", "tokenisation workers")
    e.put("output_dir", "./out", "FT104", "`ftgen run` points this at a fresh runs/<run-id>/ folder")
    e.put(
        "overwrite_output_dir",
        False,
        "FT104",
        "never resume or overwrite by accident; `ftgen run` gives each run a new folder",
    )
    e.put("plot_loss", True, "FT150", "write training_loss.png")
    e.put("report_to", "none", "FT104", "no telemetry; metrics are collected by `ftgen run`")
    e.from_plan("logging_steps", plan, "logging_steps")
    e.from_plan("save_steps", plan, "save_steps")
    e.from_plan("save_total_limit", plan, "save_total_limit")
    e.from_plan("per_device_train_batch_size", plan, "micro_batch_size")
    e.from_plan("gradient_accumulation_steps", plan, "gradient_accumulation_steps")
    e.from_plan("learning_rate", plan, "learning_rate")
    e.from_plan("num_train_epochs", plan, "num_epochs", transform=float)
    if plan.get("max_steps"):
        e.from_plan("max_steps", plan, "max_steps")
    e.from_plan("lr_scheduler_type", plan, "lr_scheduler")
    # transformers 5.x deprecates warmup_ratio; a float warmup_steps in [0, 1) is the ratio
    e.from_plan("warmup_steps", plan, "warmup_ratio")
    e.from_plan("weight_decay", plan, "weight_decay")
    e.from_plan("optim", plan, "optimizer")
    bf16, fp16 = _PRECISION[plan["precision"]]
    e.from_plan("bf16", plan, "precision", value=bf16)
    e.from_plan("fp16", plan, "precision", value=fp16)
    if inp.cpu:
        e.from_plan("use_cpu", plan, "precision", value=True)
    e.from_plan("flash_attn", plan, "attn_implementation", transform=_ATTN.get)
    if not plan["gradient_checkpointing"]:
        e.from_plan("disable_gradient_checkpointing", plan, "gradient_checkpointing", value=True)
    dist = plan["distributed"]
    if dist in DEEPSPEED_FILE:
        e.from_plan("deepspeed", plan, "distributed", value=DEEPSPEED_FILE[dist])
    if plan["val_set_size"]:
        e.from_plan("val_size", plan, "val_set_size")
        e.from_plan("per_device_eval_batch_size", plan, "micro_batch_size")
        e.from_plan("eval_strategy", plan, "eval_steps", value="steps")
        e.from_plan("eval_steps", plan, "eval_steps")
    else:  # no held-out split: LLaMA-Factory refuses step evaluation without eval data
        e.from_plan("eval_strategy", plan, "val_set_size", value="no")
    e.put(
        "seed",
        spec.seed,
        "spec" if "seed" in spec.lines else "FT104",
        "seed in the spec" if "seed" in spec.lines else "fixed seed (42) for reproducible runs",
    )
    return e

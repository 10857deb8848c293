"""Key map Plan -> Axolotl 0.19.0 config keys (with the rule and reason of each)."""

from __future__ import annotations

from ._common import DEEPSPEED_FILE, Inputs
from ._entries import Entries

VERSION = "0.19.0"
_PRECISION = {"bf16": (True, False), "fp16": (False, True), "fp32": (False, False)}
_SCHEDULER = {
    "cosine": "cosine",
    "linear": "linear",
    "constant": "constant",
    "constant_with_warmup": "constant_with_warmup",
}


def _dataset(inp: Inputs, entry) -> dict:
    task = inp.spec.task
    out: dict = {"path": inp.rel(entry.path)}
    hub = inp.is_hub(entry)
    if entry.split != "train" or hub:
        out["split"] = entry.split
    fmt = entry.format
    if task in ("dpo", "kto"):
        out["type"] = (
            {"field_prompt": "prompt", "field_chosen": "chosen", "field_rejected": "rejected"}
            if task == "dpo"
            else {"field_prompt": "prompt", "field_completion": "completion", "field_label": "label"}
        )
        return out
    if not hub:
        out["ds_type"] = "json"
    if task == "grpo":
        return out
    if fmt == "alpaca":
        out["type"] = "alpaca"
    elif fmt == "sharegpt":
        out.update(
            type="chat_template",
            field_messages="conversations",
            message_property_mappings={"role": "from", "content": "value"},
        )
    elif fmt == "messages":
        out.update(type="chat_template", field_messages="messages")
    elif fmt == "text":
        out.update(type="completion", field="text")
    return out


def entries(inp: Inputs) -> Entries:
    plan, spec, model = inp.plan, inp.spec, inp.facts.model
    e = Entries()
    e.put("base_model", inp.model_ref(), "spec", "base_model in the spec")
    if plan["trust_remote_code"]:
        e.from_plan("trust_remote_code", plan, "trust_remote_code")
    method = plan.method
    if method == "qlora":
        e.from_plan("adapter", plan, "method")
        e.from_plan("load_in_4bit", plan, "method", value=True)
    elif method == "lora":
        e.from_plan("adapter", plan, "method")
    if method != "full":
        e.from_plan("lora_r", plan, "lora_r")
        e.from_plan("lora_alpha", plan, "lora_alpha")
        e.from_plan("lora_dropout", plan, "lora_dropout")
        targets = plan["lora_target_modules"]
        if targets == ["all-linear"]:
            e.from_plan("lora_target_linear", plan, "lora_target_modules", value=True)
        else:
            e.from_plan("lora_target_modules", plan, "lora_target_modules")
    if spec.task in ("dpo", "kto", "grpo"):
        e.from_plan("rl", plan, "task", value=spec.task)
    if spec.task in ("dpo", "kto"):
        e.from_plan("rl_beta", plan, "pref_beta")
    if spec.task == "grpo":
        e.from_plan(
            "trl",
            plan,
            "reward_funcs",
            value={
                "reward_funcs": plan["reward_funcs"],
                "num_generations": plan["num_generations"],
                "max_completion_length": plan["max_completion_length"],
                "use_vllm": False,
            },
        )
    if spec.task in ("sft", "grpo") and any(t.format in ("sharegpt", "messages") for t in spec.data.train):
        e.put(
            "chat_template",
            model.axolotl_chat_template,
            "FT104",
            f"{model.id}'s chat template as Axolotl names it (model catalog)",
        )
    e.put("datasets", [_dataset(inp, t) for t in spec.data.train], "spec", "data.train in the spec")
    e.put("dataset_prepared_path", "prepared", "FT104", "tokenised data is cached beside the run")
    e.from_plan("val_set_size", plan, "val_set_size")
    e.put("output_dir", "./out", "FT104", "`ftgen run` points this at a fresh runs/<run-id>/ folder")
    e.from_plan("sequence_len", plan, "sequence_len")
    e.from_plan("sample_packing", plan, "packing")
    if plan["packing"]:
        e.from_plan("pad_to_sequence_len", plan, "packing", value=True)
    e.from_plan("micro_batch_size", plan, "micro_batch_size")
    e.from_plan("gradient_accumulation_steps", plan, "gradient_accumulation_steps")
    e.from_plan("num_epochs", plan, "num_epochs")
    if plan.get("max_steps"):
        e.from_plan("max_steps", plan, "max_steps")
    e.from_plan("optimizer", plan, "optimizer")
    e.from_plan("lr_scheduler", plan, "lr_scheduler", transform=_SCHEDULER.get)
    e.from_plan("learning_rate", plan, "learning_rate")
    e.from_plan("warmup_ratio", plan, "warmup_ratio")
    e.from_plan("weight_decay", plan, "weight_decay")
    bf16, fp16 = _PRECISION[plan["precision"]]
    e.from_plan("bf16", plan, "precision", value=bf16)
    e.from_plan("fp16", plan, "precision", value=fp16)
    e.from_plan("tf32", plan, "precision", value=bool(bf16 and inp.facts.gpu.bf16 and not inp.cpu))
    e.from_plan("gradient_checkpointing", plan, "gradient_checkpointing")
    e.from_plan("attn_implementation", plan, "attn_implementation")
    if inp.cpu and method != "full":
        for k in ("lora_mlp_kernel", "lora_qkv_kernel", "lora_o_kernel", "lora_embedding_kernel"):
            e.put(k, False, "FT110", "CPU: Axolotl's Triton LoRA kernels need CUDA")
    dist = plan["distributed"]
    if dist in DEEPSPEED_FILE:
        e.from_plan("deepspeed", plan, "distributed", value=DEEPSPEED_FILE[dist])
    elif dist == "fsdp":
        e.from_plan("fsdp_version", plan, "distributed", value=2)
        e.from_plan(
            "fsdp_config",
            plan,
            "distributed",
            value={
                "offload_params": False,
                "state_dict_type": "FULL_STATE_DICT",
                "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                "reshard_after_forward": True,
            },
        )
    if plan["val_set_size"]:
        e.from_plan("eval_steps", plan, "eval_steps")
    e.from_plan("save_steps", plan, "save_steps")
    e.from_plan("save_total_limit", plan, "save_total_limit")
    e.from_plan("logging_steps", plan, "logging_steps")
    e.put(
        "seed",
        spec.seed,
        "spec" if "seed" in spec.lines else "FT104",
        "seed in the spec" if "seed" in spec.lines else "fixed seed (42) for reproducible runs",
    )
    return e

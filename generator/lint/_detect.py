"""Tell an Axolotl config from a LLaMA-Factory one by its keys."""

from __future__ import annotations

from functools import cache

from ..validate import FRAMEWORKS, load_schema

# Keys that name the framework on their own (each framework's own spelling of a core setting).
_MARKERS = {
    "axolotl": (
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
    ),
    "llamafactory": (
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
    ),
}
# LLaMA-Factory v1 configs (llamafactory.v1) say `model:` and `train_dataset:`.
_LF_V1 = ("model", "model_class", "train_dataset", "dist_config", "kernel_config", "peft_config")


@cache
def _own_keys() -> dict[str, frozenset[str]]:
    """Top-level keys only one of the two frameworks knows."""
    keys = {fw: frozenset(load_schema(fw).get("properties", {})) for fw in FRAMEWORKS}
    return {fw: keys[fw] - keys[other] for fw, other in (("axolotl", "llamafactory"), ("llamafactory", "axolotl"))}


def detect(cfg: object) -> tuple[str | None, str]:
    """(framework or None, how it was decided)."""
    if not isinstance(cfg, dict) or not cfg:
        return None, "not a mapping of keys"
    keys = {k for k in cfg if isinstance(k, str)}
    if {"name", "base_model", "data"} <= keys and "datasets" not in keys:
        return None, "this is an ftgen spec, not a framework config (`ftgen check` checks specs)"
    strong = {fw: [k for k in markers if k in keys] for fw, markers in _MARKERS.items()}
    if "base_model" in keys and "model_name_or_path" not in keys:
        return "axolotl", "base_model is Axolotl's model key"
    if "model_name_or_path" in keys and "base_model" not in keys:
        return "llamafactory", "model_name_or_path is LLaMA-Factory's model key"
    v1 = [k for k in _LF_V1 if k in keys]
    if len(v1) >= 2:
        return "llamafactory", f"LLaMA-Factory v1 keys ({', '.join(v1)})"
    own = {fw: len(keys & _own_keys()[fw]) for fw in FRAMEWORKS}
    score = {fw: 2 * len(strong[fw]) + own[fw] for fw in FRAMEWORKS}
    best = max(FRAMEWORKS, key=lambda fw: score[fw])
    other = "llamafactory" if best == "axolotl" else "axolotl"
    if score[best] == 0 or score[best] == score[other]:
        return None, "no key says which framework this config is for"
    return best, f"{own[best]} keys only {best} knows (vs {own[other]})"

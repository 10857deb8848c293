"""DeepSpeed ZeRO config files (neither framework's wheel ships them), using HF's "auto" values."""

from __future__ import annotations

import json

# Keys and "auto" semantics: DeepSpeed config JSON docs and the transformers DeepSpeed integration
# (values "auto" are filled from the Trainer arguments at launch).


def config(stage: str) -> dict:
    zero: dict = {
        "stage": {"zero1": 1, "zero2": 2, "zero3": 3, "zero3_offload": 3}[stage],
        "overlap_comm": True,
        "contiguous_gradients": True,
    }
    if stage in ("zero2",):
        zero.update(allgather_bucket_size=5e8, reduce_bucket_size=5e8)
    if stage in ("zero3", "zero3_offload"):
        zero.update(
            sub_group_size=1e9,
            reduce_bucket_size="auto",
            stage3_prefetch_bucket_size="auto",
            stage3_param_persistence_threshold="auto",
            stage3_max_live_parameters=1e9,
            stage3_max_reuse_distance=1e9,
            stage3_gather_16bit_weights_on_model_save=True,
        )
    if stage == "zero3_offload":
        zero.update(
            offload_optimizer={"device": "cpu", "pin_memory": True}, offload_param={"device": "cpu", "pin_memory": True}
        )
    out: dict = {}
    if stage == "zero3_offload":
        # No "optimizer" section: the Trainer hands DeepSpeed the plan's torch optimizer, which ZeRO-Offload
        # refuses unless told so (ZeRORuntimeException "client provided optimizer"; DeepSpeed 0.19.8).
        out["zero_force_ds_cpu_optimizer"] = False
    return {
        **out,
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "fp16": {
            "enabled": "auto",
            "loss_scale": 0,
            "loss_scale_window": 1000,
            "initial_scale_power": 16,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "wall_clock_breakdown": False,
    }


def text(stage: str) -> str:
    return json.dumps(config(stage), indent=2) + "\n"

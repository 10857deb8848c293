"""Parse DeepSpeed JSON files the way a run does (run with an interpreter that has deepspeed + transformers).

Usage: python _deepspeed_check.py FILE.json ...   Prints one JSON object: {file: {"ok": bool, ...}}.
transformers fills the "auto" values from the Trainer arguments (HfTrainerDeepSpeedConfig), then
DeepSpeed's own DeepSpeedConfig parses the result (pydantic models: unknown keys and bad values raise).
"""

import json
import sys
import tempfile

from deepspeed.runtime.config import DeepSpeedConfig
from transformers import TrainingArguments
from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig


class _Model:
    class config:  # lower case: the shape transformers reads: model.config.hidden_size
        hidden_size = 4096


def _autos(node, path=""):
    if node == "auto":
        return [path]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _autos(v, f"{path}.{k}" if path else k)]
    return []


def check(file):
    with open(file, encoding="utf-8") as fh:
        raw = json.load(fh)
    out = {"ok": True, "stage": None, "cases": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for mbs, gas, precision in ((1, 1, "bf16"), (4, 8, "bf16"), (2, 16, "fp16")):
            args = TrainingArguments(
                output_dir=tmp,
                per_device_train_batch_size=mbs,
                gradient_accumulation_steps=gas,
                max_grad_norm=1.0,
                report_to=[],
                use_cpu=True,
                **{precision: True},
            )
            hf = HfTrainerDeepSpeedConfig(json.loads(json.dumps(raw)))
            hf.trainer_config_process(args)
            hf.trainer_config_finalize(args, _Model, num_training_steps=100)
            left = _autos(hf.config)
            if left:
                return {"ok": False, "error": f"'auto' left unfilled at {left}"}
            try:
                ds = DeepSpeedConfig(hf.config)
            except Exception as exc:
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            if ds.train_micro_batch_size_per_gpu != mbs or ds.gradient_accumulation_steps != gas:
                return {"ok": False, "error": "batch sizes not taken from the Trainer arguments"}
            out["stage"] = int(ds.zero_optimization_stage)
            out["offload_param"] = bool(ds.zero_config.offload_param) and str(ds.zero_config.offload_param.device)
            out["offload_optimizer"] = bool(ds.zero_config.offload_optimizer) and str(
                ds.zero_config.offload_optimizer.device
            )
            out["cases"] += 1
    return out


if __name__ == "__main__":
    print(json.dumps({f: check(f) for f in sys.argv[1:]}, default=str))

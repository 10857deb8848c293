"""Start a DeepSpeed engine from a ZeRO JSON and take one optimizer step on CPU (gloo), as a Trainer would.

Usage: python _deepspeed_step.py FILE.json PORT   Prints one JSON object: {"ok": bool, "error": str}.
The "auto" values are filled by transformers (HfTrainerDeepSpeedConfig); the optimizer is a client
torch AdamW, which is what the HF Trainer hands DeepSpeed when the JSON has no "optimizer" section.
"""

import json
import os
import sys
import tempfile

import deepspeed
import torch
from transformers import TrainingArguments
from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig


class _Model:
    class config:  # lower case: the shape transformers reads
        hidden_size = 16


def main(file, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=2, gradient_accumulation_steps=1, report_to=[], use_cpu=True
        )
        with open(file, encoding="utf-8") as fh:
            hf = HfTrainerDeepSpeedConfig(json.load(fh))
        hf.trainer_config_process(args)
        hf.trainer_config_finalize(args, _Model, num_training_steps=10)
    config = hf.config
    config["zero_allow_untested_optimizer"] = True  # transformers adds this with a client optimizer
    deepspeed.init_distributed(dist_backend="gloo")
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Linear(16, 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    try:
        engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
        loss = engine(torch.randn(2, 16)).sum()
        engine.backward(loss)
        engine.step()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "error": ""}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))

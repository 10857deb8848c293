"""A third framework for the registry tests: one module (this) plus one schema (toyfw-1.0.schema.json)."""

from __future__ import annotations

from pathlib import Path

from generator.frameworks import EnvSpec, Framework, Step, Traits
from generator.frameworks._table import joint, num, row

NAME = "toyfw"


def _write_method(values, where):
    method = values.get("method")
    return (
        None
        if method is None
        else {"tuning": "adapter" if method in ("lora", "qlora") else "all", "bits": 4 if method == "qlora" else 16}
    )


def _read_method(cfg, reading, where):
    if cfg.get("tuning") == "adapter":
        reading.put("method", "qlora" if cfg.get("bits") == 4 else "lora", "tuning", "bits")
    elif cfg.get("tuning") == "all":
        reading.put("method", "full", "tuning")


def _write_data(values, where):
    items = values.get("datasets")
    if not items:
        return None
    return {
        "data": [
            {"file": where.path(d["path"]) if d.get("source") == "file" else d["path"], "format": d["format"]}
            for d in items
        ]
    }


def _read_data(cfg, reading, where):
    if isinstance(cfg.get("data"), list):
        reading.put(
            "datasets", [{"path": d["file"], "source": "file", "format": d["format"]} for d in cfg["data"]], "data"
        )


LAUNCH_SH = """\
    exec toytrain {{ config | q }} "$@"
"""


class Toy(Framework):
    name = NAME
    label = "ToyTrain"
    version = "1.0"
    config_name = "toyfw.yaml"
    cli = "toytrain"
    cli_args = "--key value"
    schema_dir = Path(__file__).parent
    launch_sh = LAUNCH_SH
    env = EnvSpec(
        NAME, "1.0", "toytrain", "toytrain", ">=3.10", (Step("create virtualenv", action="venv"),), ("toytrain",)
    )
    rows = (
        row("base_model", "model", "Model", path=True),
        joint(("method",), ("tuning", "bits"), "Method", _write_method, _read_method),
        row("lora_r", "rank", "Method"),
        joint(("datasets",), ("data",), "Data", _write_data, _read_data),
        row("sequence_len", "max_len", "Data"),
        row("learning_rate", "lr", "Training", back=num),
        row("micro_batch_size", "batch", "Training"),
        row("num_epochs", "epochs", "Training", back=num),
        row("optimizer", "optim", "Training"),
        row("output_dir", "out", "Output"),
        row("seed", "seed", "Output"),
    )
    markers = ("tuning", "lr", "max_len", "batch")
    targets = {"sft": ("qlora", "lora", "full")}
    unsupported = {"dpo": "ToyTrain trains SFT only"}
    traits = Traits(unknown_keys="refused", type_errors="validate", precision_conflict="validate")
    absent = {"precision": "ToyTrain always trains in fp32"}


FRAMEWORK = Toy()

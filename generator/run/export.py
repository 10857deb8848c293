"""`ftgen export`: merge a LoRA adapter into its base model with the framework's own tool."""

from __future__ import annotations

from pathlib import Path

from .. import envs, frameworks
from .._yaml import load_file
from ..errors import FtgenError, Problem
from ..render._yamlsafe import yaml_document
from ..write import atomic_write
from .record import RunRecord
from .runner import console_printer, stream


def _problem(record: RunRecord, message: str, allowed: str | None = None) -> FtgenError:
    return FtgenError([Problem(record.path, "", message, allowed=allowed)])


def merge(record: RunRecord, env_root: Path | None = None, on_line=None) -> Path:
    run_dir = Path(record.path)
    cfg = load_file(run_dir / "config.yaml").data
    model_dir = run_dir / "model"
    if not (model_dir / "adapter_config.json").is_file():
        raise _problem(
            record,
            "no LoRA adapter in this run (a full fine-tune is already a whole model, or the run did not finish)",
            allowed=f"use {model_dir} directly",
        )
    env = envs.get_env(record.framework, env_root)
    if env is None:
        raise _problem(record, f"no {record.framework} env", allowed=f"ftgen env install {record.framework}")
    argv, target, files = frameworks.get(record.framework).merge_command(run_dir, cfg, env)
    for name, data in files.items():
        atomic_write(run_dir / name, yaml_document(data))
    outcome = stream(
        argv,
        cwd=run_dir,
        env=env.subprocess_env(),
        log_path=run_dir / "export.log",
        on_line=on_line or console_printer(),
    )
    if outcome.exit_code != 0 or not any(target.glob("*.safetensors")):
        raise _problem(record, f"the framework's merge failed (exit {outcome.exit_code}); see {run_dir / 'export.log'}")
    record.merged_model = str(target)
    record.save()
    return target

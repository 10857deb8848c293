"""What both key maps share: data paths relative to the output folder, hub ids, the CPU flag."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..facts.types import Facts
from ..plan import Plan
from ..spec import Spec, TrainData


@dataclass(frozen=True)
class Inputs:
    plan: Plan
    spec: Spec
    facts: Facts
    out_dir: Path  # where the config is written; local paths are made relative to it

    @property
    def cpu(self) -> bool:
        return self.facts.gpu.is_cpu

    def local_path(self, path: str) -> Path | None:
        p = Path(path)
        p = p if p.is_absolute() else self.spec.base_dir / p
        return p if p.exists() else None

    def rel(self, path: str) -> str:
        """A local path as seen from the output folder (portable across checkouts)."""
        p = self.local_path(path)
        if p is None:
            return path
        return Path(os.path.relpath(p.resolve(), self.out_dir.resolve())).as_posix()

    def model_ref(self) -> str:
        """The model as the config names it: a local directory relative to the output folder, else the hub id
        (a catalog alias or a lock's requested spelling resolved to the hub's id, never written verbatim)."""
        return self.rel(self.spec.base_model) if self.facts.model.source == "local" else self.facts.model.id

    def is_hub(self, entry: TrainData) -> bool:
        return self.local_path(entry.path) is None


DEEPSPEED_FILE = {
    "zero1": "deepspeed_zero1.json",
    "zero2": "deepspeed_zero2.json",
    "zero3": "deepspeed_zero3.json",
    "zero3_offload": "deepspeed_zero3_offload.json",
}

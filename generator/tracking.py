"""Experiment tracking without the trackers: URIs rebased between folders, and the environment a run gets.

Nothing here imports MLflow or W&B (ftgen's build path stays light); generator/run/tracker.py talks to them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The one MLflow version ftgen, and both framework envs, install: mlflow-skinny (the client, the file and SQL
# stores) plus what its SQL store needs. The full `mlflow` 3.17.2 pins pyarrow<26 and would downgrade the
# frameworks' pyarrow 26.0.1 (pip --dry-run in both envs); skinny leaves every pin there as it is.
MLFLOW_VERSION = "3.17.2"
MLFLOW_REQUIREMENTS = (f"mlflow-skinny=={MLFLOW_VERSION}", "sqlalchemy>=1.4,<3", "alembic>=1.4,<2,!=1.10.0")
# The one W&B version: ftgen's optional `wandb` extra (pyproject) and both framework envs (Axolotl 0.19.0 requires
# it; the LLaMA-Factory env gets it as its own step). wandb 0.31.0 needs protobuf>=5,<8: pip --dry-run in the
# LLaMA-Factory env (protobuf 7.36.2) only adds packages.
WANDB_VERSION = "0.31.0"
WANDB_REQUIREMENT = f"wandb=={WANDB_VERSION}"
DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"  # beside the spec: the store MLflow itself defaults to, in one file
# What the trackers write that git should not hold (the .gitignore `ftgen build` keeps in its output root).
TRACKER_FILES = ("mlruns/", "mlartifacts/", "wandb/", "mlflow.db")
# Tracker variables ftgen sets for a run; the credentials (WANDB_API_KEY, MLFLOW_TRACKING_TOKEN, ...) come from
# the caller's environment only and are never written.
_SQLITE = re.compile(r"^sqlite:///(?P<path>.*)$", re.I)
_FILE = re.compile(r"^file:(//)?(?P<path>.*)$", re.I)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def keep_gitignore(out_root: Path) -> Path:
    """The .gitignore `ftgen build` keeps in its output root: run folders and what trackers write stay out of git.
    Lines the file lacks are added; nothing a user wrote there is removed."""
    from .write import atomic_write

    path = Path(out_root) / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return path  # a file ftgen cannot read is the user's to fix; the build itself is written
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in ("*/runs/", *TRACKER_FILES) if line not in have]
    if missing:
        head = "" if text else "# kept by `ftgen build`: run folders and experiment-tracker files stay out of git\n"
        sep = "" if not text or text.endswith("\n") else "\n"
        atomic_write(path, text + sep + head + "\n".join(missing) + "\n")
    return path


def _split(uri: str) -> tuple[str, str] | None:
    """(prefix, local path) of a URI naming a local store (sqlite:///, file:, a plain path); None otherwise."""
    if uri.lower() in ("databricks", "databricks-uc"):
        return None  # MLflow's names for a Databricks workspace
    m = _SQLITE.match(uri)
    if m:
        return "sqlite:///", m.group("path")
    m = _FILE.match(uri)
    if m:
        return "file:", m.group("path")
    if _SCHEME.match(uri):
        return None  # http(s), databricks, ...
    return "", uri


def rebase(uri: str, base: Path, out: Path) -> str:
    """`uri` (local paths relative to `base`) as seen from `out`: a relative local path is rewritten relative to
    `out`; absolute paths and servers are unchanged."""
    split = _split(uri)
    if split is None or not split[1] or Path(split[1]).is_absolute():
        return uri
    prefix, path = split
    target = (Path(base) / path).resolve()
    return prefix + Path(os.path.relpath(target, Path(out).resolve())).as_posix()


def absolute(uri: str, base: Path) -> str:
    """`uri` with a relative local path made absolute from `base` (what a process with another cwd needs)."""
    split = _split(uri)
    if split is None or not split[1] or Path(split[1]).is_absolute():
        return uri
    prefix, path = split
    target = (Path(base) / path).resolve().as_posix()
    return ("file://" + target) if prefix == "file:" else prefix + target


def local_store(uri: str, base: Path) -> Path | None:
    """The file or folder a local store URI names (relative to `base`), or None for a server."""
    split = _split(uri)
    if split is None or not split[1]:
        return None
    return (Path(base) / split[1]).resolve()


@dataclass(frozen=True)
class Tracking:
    """A build's trackers as plan.json records them (`tracking`); paths relative to the build folder."""

    backends: tuple[str, ...]
    run_name: str
    mlflow_experiment: str | None = None
    mlflow_uri: str | None = None  # relative paths are relative to the build folder
    wandb_project: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def mlflow(self) -> bool:
        return "mlflow" in self.backends

    @property
    def wandb(self) -> bool:
        return "wandb" in self.backends

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backends": list(self.backends), "run_name": self.run_name}
        if self.mlflow:
            out["mlflow"] = {"experiment": self.mlflow_experiment, "uri": self.mlflow_uri}
        if self.wandb:
            out["wandb"] = {"project": self.wandb_project}
        out["tags"] = dict(self.tags)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Tracking | None:
        if not isinstance(data, Mapping) or not data.get("backends"):
            return None
        ml = data.get("mlflow") or {}
        wb = data.get("wandb") or {}
        return cls(
            tuple(str(b) for b in data["backends"]),
            str(data.get("run_name") or ""),
            ml.get("experiment"),
            ml.get("uri"),
            wb.get("project"),
            {str(k): str(v) for k, v in (data.get("tags") or {}).items()},
        )

    def env(self, build_dir: Path | None = None, run_name: str | None = None) -> dict[str, str]:
        """The tracker variables a trainer needs (no credentials). With `build_dir`, a relative MLflow store is made
        absolute (`ftgen run` starts the trainer in the run folder); without, it stays relative to the build folder
        (launch.sh starts there)."""
        out: dict[str, str] = {}
        if self.mlflow:
            uri = self.mlflow_uri or DEFAULT_MLFLOW_URI
            out["MLFLOW_TRACKING_URI"] = absolute(uri, build_dir) if build_dir is not None else uri
            if self.mlflow_experiment:
                out["MLFLOW_EXPERIMENT_NAME"] = self.mlflow_experiment
        if self.wandb:
            if self.wandb_project:
                out["WANDB_PROJECT"] = self.wandb_project
            if run_name or self.run_name:
                out["WANDB_NAME"] = run_name or self.run_name
            if self.tags:
                out["WANDB_TAGS"] = ",".join(f"{k}:{v}" for k, v in self.tags.items())
        return out


def from_plan(plan, spec, out_dir: Path) -> Tracking | None:
    """The build's Tracking (None when the spec has no tracker): plan values, the store rebased to `out_dir`."""
    backends = plan.get("report_to")
    names = [backends] if isinstance(backends, str) else list(backends or [])
    if spec.tracking is None or names in ([], ["none"]):
        return None
    uri = plan.get("mlflow_tracking_uri")
    return Tracking(
        tuple(str(n) for n in names),
        str(plan.get("run_name") or spec.name),
        plan.get("mlflow_experiment_name"),
        rebase(uri, spec.base_dir, out_dir) if uri else None,
        plan.get("wandb_project"),
        dict(plan.get("tracking_tags") or {}),
    )

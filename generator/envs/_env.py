"""The Env and EnvInfo records, the env root, and the environment variables for subprocesses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .._offline import OFFLINE_VARS, offline_reason

MANIFEST = "ftgen-env.json"

# Set for every framework subprocess: no telemetry, no update checks. The hub stays reachable (a run downloads
# the model and hub datasets it names) unless the user's environment says offline: see subprocess_env.
FIXED_VARS = {
    "WANDB_MODE": "disabled",
    "WANDB_DISABLED": "true",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}  # plus each framework's own telemetry / update-check switches (Framework.quiet_env)

_WANDB_OFF = ("WANDB_MODE", "WANDB_DISABLED")
_MLFLOW_OFF = ("DISABLE_MLFLOW_INTEGRATION", "MLFLOW_TRACKING_DISABLED")

# Parent variables that would leak ftgen's own interpreter setup into the env.
_DROPPED_VARS = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "__PYVENV_LAUNCHER__")


def env_root(root: Path | str | None = None) -> Path:
    """Where managed envs live: `root`, else $FTGEN_HOME/envs, else ~/.cache/ftgen/envs."""
    if root is not None:
        return Path(root).expanduser()
    home = os.environ.get("FTGEN_HOME")
    if home:
        return Path(home).expanduser() / "envs"
    return Path.home() / ".cache" / "ftgen" / "envs"


def redact(variables: dict[str, str]) -> dict[str, str]:
    """A copy safe to log: values of secret-looking variables (HF_TOKEN, WANDB_API_KEY, ...) masked."""
    from .._secrets import mask_env

    return mask_env(variables)


@dataclass(frozen=True)
class Env:
    """A framework environment ftgen can run: its interpreter, bin folder and versions."""

    framework: str
    version: str
    root: Path  # the env folder (for an external env: its record folder under the env root)
    python: Path
    bin_dir: Path
    torch_flavor: str = "cpu"  # cpu | cuda | unknown (external)
    external: bool = False
    venv: Path | None = None  # the virtualenv that owns `python`, when there is one

    def cli(self, name: str) -> Path:
        """The path of a console script in the env (axolotl, llamafactory-cli, accelerate, torchrun)."""
        return self.bin_dir / name

    def subprocess_env(
        self, extra: dict[str, str] | None = None, base: dict[str, str] | None = None, trackers: tuple[str, ...] = ()
    ) -> dict:
        """Environment variables for a framework subprocess.

        Starts from `base` (default: this process's environment, so secrets such as
        HF_TOKEN or WANDB_API_KEY, and HF_ENDPOINT, pass through), puts the env's bin first on PATH,
        sets VIRTUAL_ENV and the no-telemetry variables, then `extra`. The network stays on unless
        the environment says offline (HF_HUB_OFFLINE or FTGEN_OFFLINE true, which `ftgen run --offline`
        sets): then HF_HUB_OFFLINE, HF_DATASETS_OFFLINE and TRANSFORMERS_OFFLINE are all set.
        `trackers` (the spec's tracking backends) stay on: W&B is not disabled when it is one of them (a
        WANDB_MODE the caller set, e.g. offline, stands) and no variable switching MLflow off is passed on.
        Log it only through `redact`.
        """
        out = dict(os.environ if base is None else base)
        for name in _DROPPED_VARS:
            out.pop(name, None)
        path = out.get("PATH", "")
        out["PATH"] = str(self.bin_dir) + (os.pathsep + path if path else "")
        if self.venv is not None:
            out["VIRTUAL_ENV"] = str(self.venv)
        else:
            out.pop("VIRTUAL_ENV", None)
        fixed = dict(FIXED_VARS)
        if "wandb" in trackers:
            for name in _WANDB_OFF:
                fixed.pop(name, None)
                if out.get(name, "").lower() in ("disabled", "true", "1"):
                    out.pop(name)  # the spec asks for W&B: an inherited off switch would silently win
        if "mlflow" in trackers:
            for name in _MLFLOW_OFF:
                out.pop(name, None)
        out.update(fixed)
        out.update(_quiet_env(self.framework))
        if extra:
            out.update({k: str(v) for k, v in extra.items()})
        if offline_reason(out):
            out.update(OFFLINE_VARS)
        return out


def _quiet_env(framework: str) -> dict[str, str]:
    """The framework's own variables that turn its telemetry and update checks off (none for an unknown name)."""
    from .. import frameworks

    return dict(frameworks.get(framework).quiet_env) if framework in frameworks.names() else {}


@dataclass(frozen=True)
class EnvInfo:
    """One line of `ftgen env list`."""

    framework: str
    version: str
    path: Path
    size_mb: float | None
    health: str  # ok | broken | external
    detail: str = ""  # why it is broken, or the external interpreter
    torch_flavor: str = ""
    python: Path | None = None

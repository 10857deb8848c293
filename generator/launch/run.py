"""Launch commands for `ftgen run`: argv and env for local/torchrun runs here, sbatch / sky launch submission."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import frameworks
from .._yaml import load_file
from ..errors import Collector, Exit, FtgenError, Problem

LAUNCHERS = ("local", "torchrun", "slurm", "skypilot")
_HERE = ("local", "torchrun")
_WHERE = "ftgen run"


def _uses_deepspeed(config_path: Path) -> bool:
    try:
        data = load_file(config_path).data
    except FtgenError:
        return False
    return isinstance(data, dict) and bool(data.get("deepspeed"))


def _check(
    framework: str, config_path: Path, launcher: str, nproc: int, nnodes: int, cpu: bool, master_addr: str | None
):
    c = Collector(_WHERE)
    if framework not in frameworks.names():
        c.add("framework", "unsupported framework", framework, ", ".join(frameworks.names()))
    if launcher not in _HERE:
        c.add(
            "--launcher",
            "only local and torchrun run here; slurm and skypilot are submitted with submit()",
            launcher,
            ", ".join(_HERE),
        )
    if not isinstance(nproc, int) or nproc < 1:
        c.add("--nproc", "processes per node must be a whole number of at least 1", nproc)
    if not isinstance(nnodes, int) or nnodes < 1:
        c.add("--nnodes", "nodes must be a whole number of at least 1", nnodes)
    c.raise_if_any()
    fw = frameworks.get(framework)
    world = nproc * nnodes
    for key, message, found, allowed in fw.launch_problems(config_path, launcher, world, cpu):
        c.add(key, message, found, allowed)
    if nnodes > 1 and not master_addr:
        c.add(
            "--nnodes",
            "several nodes need the address of node 0 (master_addr); slurm.sbatch and sky.yaml set it",
            nnodes,
            "nnodes 1, or master_addr, or --launcher slurm | skypilot",
        )
    c.raise_if_any()
    return fw


def launch_command(
    framework: str,
    config_path: Path | str,
    env,
    *,
    launcher: str,
    nproc: int,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str | None = None,
    master_port: int | None = None,
    cpu: bool | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment variables that train `config_path` here.

    launcher "local": one process with the framework's own launcher when nproc * nnodes is 1, else as
    "torchrun". "torchrun": always through torchrun (how, each framework module's `launch_command` says). Pass
    the extra variables to `env.subprocess_env(extra)`, which also puts the env's bin (torchrun, accelerate)
    first on PATH. `cpu` defaults to the env's torch flavor. Raises FtgenError for a launch that cannot work.
    """
    config_path = Path(config_path)
    cpu = (getattr(env, "torch_flavor", "") == "cpu") if cpu is None else cpu
    fw = _check(framework, config_path, launcher, nproc, nnodes, cpu, master_addr)
    return fw.launch_command(
        str(config_path),
        env,
        distributed=launcher == "torchrun" or nproc * nnodes > 1,
        deepspeed=_uses_deepspeed(config_path),
        nproc=nproc,
        nnodes=nnodes,
        node_rank=node_rank,
        master_addr=master_addr,
        master_port=master_port,
    )


@dataclass(frozen=True)
class Submission:
    """What submit() did: the command, the folder it runs in, whether it ran, and the tool's output."""

    launcher: str
    argv: tuple[str, ...]
    cwd: Path
    ran: bool
    output: str = ""

    @property
    def shell(self) -> str:
        """The exact command to type, from any folder."""
        return f"cd {shlex.quote(str(self.cwd))} && {shlex.join(self.argv)}"

    def __str__(self) -> str:
        if self.ran:
            return self.output.strip() or f"submitted: {self.shell}"
        return f"{self.argv[0]} is not installed here; to submit, run:\n  {self.shell}"


def _sky_cluster(out_dir: Path) -> str:
    try:
        data = load_file(out_dir / "sky.yaml").data
        name = data.get("name") if isinstance(data, dict) else None
    except FtgenError:
        name = None
    return str(name or f"ftgen-{out_dir.resolve().name}")


def submit_command(out_dir: Path | str, launcher: str) -> list[str]:
    """The argv that submits the build in out_dir (run it with out_dir as the working folder)."""
    out_dir = Path(out_dir)
    file = {"slurm": "slurm.sbatch", "skypilot": "sky.yaml"}.get(launcher)
    if file is None:
        raise FtgenError(
            [Problem(_WHERE, "--launcher", "only slurm and skypilot are submitted", launcher, "slurm, skypilot")]
        )
    if not (out_dir / file).is_file():
        raise FtgenError(
            [
                Problem(
                    str(out_dir),
                    file,
                    "not found: builds for GPU hardware write it "
                    "(a CPU build writes launch.sh and slurm.sbatch); run `ftgen build` first"
                    if file == "sky.yaml"
                    else "not found: run `ftgen build` first",
                )
            ]
        )
    if launcher == "slurm":
        return ["sbatch", file]
    argv = ["sky", "launch", "-c", _sky_cluster(out_dir), file]
    if os.environ.get("HF_TOKEN"):
        argv += ["--secret", "HF_TOKEN"]  # the value is read from this environment, never put in argv
    return argv


def submit(out_dir: Path | str, launcher: str) -> Submission:
    """Submit with `sbatch slurm.sbatch` or `sky launch -c <name> sky.yaml` when the tool is on PATH.

    Without the tool nothing runs and the Submission says the exact command (str() prints it).
    A tool that fails raises FtgenError with exit status RUN_FAILED.
    """
    out_dir = Path(out_dir)
    argv = submit_command(out_dir, launcher)
    cwd = out_dir.resolve()
    exe = shutil.which(argv[0])
    if exe is None:
        return Submission(launcher, tuple(argv), cwd, ran=False)
    capture = launcher == "slurm"  # sky launch asks for confirmation and streams logs: leave it the terminal
    proc = subprocess.run([exe, *argv[1:]], check=False, cwd=cwd, text=True, capture_output=capture)
    output = (proc.stdout or "") + (proc.stderr or "") if capture else ""
    if proc.returncode != 0:
        raise FtgenError(
            [
                Problem(
                    _WHERE,
                    "--launcher",
                    f"{argv[0]} failed with exit status {proc.returncode}: {output.strip()[-2000:]}",
                    shlex.join(argv),
                )
            ],
            Exit.RUN_FAILED,
        )
    return Submission(launcher, tuple(argv), cwd, ran=True, output=output)

"""Launch files (launch.sh, slurm.sbatch, sky.yaml, pytorchjob.yaml) and launch commands for `ftgen run`."""

from ._context import SKY_ACCELERATOR, LaunchContext, context
from ._files import CLUSTER_FILES, EXECUTABLE, file_names, generate, render_all
from .run import LAUNCHERS, Submission, launch_command, submit, submit_command

__all__ = [
    "CLUSTER_FILES",
    "EXECUTABLE",
    "LAUNCHERS",
    "SKY_ACCELERATOR",
    "LaunchContext",
    "Submission",
    "context",
    "file_names",
    "generate",
    "launch_command",
    "render_all",
    "submit",
    "submit_command",
]

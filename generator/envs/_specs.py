"""The plain table of supported framework environments and their install steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_DATA = Path(__file__).resolve().parent / "_data"

TORCH_VERSION = "2.13.0"
TORCH_FLAVORS = ("cpu", "cuda")

# Distributions whose versions are recorded in every manifest (the framework's own is added).
RECORDED_DISTS = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes")


@dataclass(frozen=True)
class Step:
    """One install step: a virtualenv, a `pip install`, or a named file action.

    `pip` holds the arguments after `python -m pip install`; "{torch}" stands for
    the torch requirement of the chosen flavor and "@file" for the requirement
    lines of a file in generator/envs/_data/.
    """

    description: str
    pip: tuple[str, ...] = ()
    action: str | None = None  # "venv" | "strip-torchaudio-libs"


@dataclass(frozen=True)
class EnvSpec:
    """One supported environment: a framework at one pinned version."""

    framework: str
    version: str
    dist: str  # distribution name on the package registry
    module: str  # import name
    python: str  # Python requirement, e.g. ">=3.10,<3.12"
    steps: tuple[Step, ...]
    clis: tuple[str, ...]


SPECS: dict[str, EnvSpec] = {
    "axolotl": EnvSpec(
        framework="axolotl",
        version="0.19.0",
        dist="axolotl",
        module="axolotl",
        python=">=3.10",  # 0.20+ needs >=3.12
        steps=(
            Step("create virtualenv", action="venv"),
            Step("upgrade pip", pip=("-U", "pip")),
            Step("install torch", pip=("{torch}",)),
            Step("install axolotl 0.19.0", pip=("{torch}", "axolotl==0.19.0", "matplotlib")),
        ),
        clis=("axolotl", "accelerate", "torchrun"),
    ),
    "llamafactory": EnvSpec(
        framework="llamafactory",
        version="0.9.5",
        dist="llamafactory",
        module="llamafactory",
        python=">=3.11",
        steps=(
            Step("create virtualenv", action="venv"),
            Step("upgrade pip", pip=("-U", "pip")),
            Step("install torch", pip=("{torch}",)),
            Step(
                "install LLaMA-Factory requirements (gradio pinned)",
                pip=("{torch}", "@llamafactory-0.9.5-requirements.txt"),
            ),
            Step(
                "install llamafactory 0.9.5 and torchaudio (no deps)",
                pip=("--no-deps", "llamafactory==0.9.5", "torchaudio==2.11.1"),
            ),
            # torchaudio 2.11.1's compiled extensions are CUDA-linked and built for torch
            # 2.11; LLaMA-Factory imports torchaudio but the text path needs no extension.
            Step("remove torchaudio's compiled extensions", action="strip-torchaudio-libs"),
            Step("install bitsandbytes 0.50.2 (QLoRA)", pip=("{torch}", "bitsandbytes==0.50.2")),
        ),
        clis=("llamafactory-cli", "accelerate", "torchrun"),
    ),
}

FRAMEWORKS = tuple(SPECS)


def torch_requirement(flavor: str) -> str:
    """The pip requirement for torch in `flavor`.

    "cpu" is `torch==2.13.0`: a local `+cpu` wheel (find-links) sorts above the
    registry's plain 2.13.0 and wins. "cuda" is `torch===2.13.0` (arbitrary
    equality), which matches only the registry's CUDA build, never `2.13.0+cpu`.
    """
    if flavor == "cuda":
        return f"torch==={TORCH_VERSION}"
    return f"torch=={TORCH_VERSION}"


def read_requirements(name: str) -> list[str]:
    """The requirement lines of a data file, comments and blanks dropped."""
    lines = (_DATA / name).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def expand_pip_args(step: Step, flavor: str) -> list[str]:
    """The concrete `pip install` arguments of a step for a torch flavor."""
    out: list[str] = []
    for arg in step.pip:
        if arg == "{torch}":
            out.append(torch_requirement(flavor))
        elif arg.startswith("@"):
            out.extend(read_requirements(arg[1:]))
        else:
            out.append(arg)
    return out


def python_satisfies(requirement: str, version: tuple[int, ...]) -> bool:
    """True when a Python version meets a requirement like ">=3.10,<3.13"."""
    ops = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        "==": lambda a, b: a == b,
    }
    for clause in filter(None, (c.strip() for c in requirement.split(","))):
        for op in (">=", "<=", "==", ">", "<"):
            if clause.startswith(op):
                want = tuple(int(x) for x in clause[len(op) :].strip().split("."))
                if not ops[op](tuple(version[: len(want)]), want):
                    return False
                break
        else:
            raise ValueError(f"unsupported Python requirement clause {clause!r}")
    return True

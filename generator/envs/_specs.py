"""The plain table of supported framework environments and their install steps."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from ..frameworks._base import EnvSpec, Step

_DATA = Path(__file__).resolve().parent / "_data"

TORCH_VERSION = "2.13.0"
TORCH_FLAVORS = ("cpu", "cuda")

# Distributions whose versions are recorded in every manifest (the framework's own is added).
RECORDED_DISTS = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes")


class _Specs(Mapping):
    """framework -> EnvSpec, read from the framework registry (each framework module declares its env)."""

    def _all(self) -> dict[str, EnvSpec]:
        from .. import frameworks

        return {fw.name: fw.env for fw in frameworks.all_frameworks()}

    def __getitem__(self, name: str) -> EnvSpec:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


SPECS: Mapping[str, EnvSpec] = _Specs()


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

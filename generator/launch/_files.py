"""Render the launch files of a Build from templates/launch/*.j2 and prove the YAML ones parse back."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache

import jinja2

from .._datacache import load_json_file
from .._fastschema import quick_valid
from .._resources import schemas_dir
from .._templates import environment
from .._yaml import load_trusted
from ..errors import FtgenError, Problem
from ..facts.gpus import load_gpus
from ..render._yamlsafe import UnsafeValue, yaml_value
from ._context import LaunchContext, context
from ._quote import comment, job_name, sbatch_value, shell_word

# Every pod of the PyTorchJob runs this image; the manifest says how to swap it for a prebuilt one.
K8S_IMAGE = "python:3.11"

# launch.sh and slurm.sbatch are written for every build (a CPU build's job asks for no GPU: CPU clusters,
# and the local Slurm of the tests); sky.yaml and pytorchjob.yaml only for GPU hardware.
CLUSTER_FILES = ("slurm.sbatch", "sky.yaml", "pytorchjob.yaml")
EXECUTABLE = frozenset({"launch.sh"})


# launch.sh's case for each framework is a template its framework module holds (Framework.launch_sh), loaded by
# name like the files under templates/ so that the jinja2 bytecode cache keeps it compiled: name -> text. The name
# carries a digest of the text, so a framework registered anew with other text gets a template of its own.
_ARMS: dict[str, str] = {}


def _arm_source(name: str) -> tuple[str, None, Callable[[], bool]] | None:
    text = _ARMS.get(name)
    return None if text is None else (text, None, lambda: True)


@cache
def _env() -> jinja2.Environment:
    env = environment({"q": shell_word, "y": yaml_value, "name": job_name, "comment": comment, "sbatch": sbatch_value})
    env.loader = jinja2.ChoiceLoader([env.loader, jinja2.FunctionLoader(_arm_source)])
    env.globals["launch_arm"] = _launch_arm
    return env


def _launch_arm(fw, ctx: LaunchContext) -> str:
    """launch.sh's case for one framework, from the framework module's `launch_sh` template."""
    name = f"launch-arm/{fw.name}.{hashlib.sha256(fw.launch_sh.encode()).hexdigest()[:16]}"
    _ARMS.setdefault(name, fw.launch_sh)
    return _env().get_template(name).render(ctx=ctx, config=ctx.configs[fw.name]).rstrip("\n")


# SkyPilot's own keyword: jsonschema's validator (as SkyPilot's schema is used here) ignores it, so does the quick check
SKY_DIALECT = ("case_insensitive_enum",)


@cache
def sky_schema() -> dict:
    """SkyPilot's own task schema, vendored by scripts/gen_skypilot_schema.py (version inside)."""
    return load_json_file(schemas_dir() / "skypilot-task.schema.json")


@cache
def _sky_validator():
    from jsonschema import Draft202012Validator  # only to word the errors: a valid task never imports it

    return Draft202012Validator(sky_schema())


def sky_problems(text: str, file: str = "sky.yaml") -> list[Problem]:
    """Where a sky.yaml breaks SkyPilot's task schema (none for what ftgen writes)."""
    data = load_trusted(text)
    if quick_valid(sky_schema(), data, ignore=SKY_DIALECT):
        return []
    from .._schema_errors import schema_problems

    return schema_problems(_sky_validator(), data, file)


def file_names(cpu: bool) -> tuple[str, ...]:
    """The launch files a build writes: launch.sh and slurm.sbatch, plus sky.yaml and pytorchjob.yaml unless CPU."""
    return ("launch.sh", "slurm.sbatch") if cpu else ("launch.sh", *CLUSTER_FILES)


def _render(name: str, **values) -> str:
    text = _env().get_template(f"launch/{name}.j2").render(**values)
    return text.rstrip("\n") + "\n"


def _check_yaml(name: str, text: str, expect: dict, file: str) -> None:
    """The rendered YAML says what we meant: each dotted key in `expect` parses back to its value."""
    data = load_trusted(text)
    for key, want in expect.items():
        node = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != want:
            raise FtgenError(
                [Problem(file, key, f"internal error: rendered {name} does not parse back", found=node, allowed=want)]
            )


def render_all(ctx: LaunchContext, file: str = "<spec>") -> dict[str, str]:
    """Render the launch files for a context; raise FtgenError when a value cannot be written safely."""
    out: dict[str, str] = {}
    try:
        out["launch.sh"] = _render("launch.sh", ctx=ctx)
        out["slurm.sbatch"] = _render("slurm.sbatch", ctx=ctx)
        if ctx.cpu:
            return out
        accelerators = ctx.sky_accelerators(load_gpus())
        out["sky.yaml"] = _render("sky.yaml", ctx=ctx, accelerators=accelerators)
        out["pytorchjob.yaml"] = _render("pytorchjob.yaml", ctx=ctx, image=K8S_IMAGE)
    except UnsafeValue as exc:
        raise FtgenError([Problem(file, "name", f"cannot write launch files: {exc}")]) from None
    _check_yaml(
        "sky.yaml",
        out["sky.yaml"],
        {
            "name": ctx.job,
            "num_nodes": ctx.nodes,
            "resources.accelerators": accelerators,
            "envs.FTGEN_FRAMEWORK": ctx.default_framework,
        },
        file,
    )
    problems = sky_problems(out["sky.yaml"], file)
    if problems:
        raise FtgenError(
            [
                Problem(p.file, f"sky.yaml {p.key}", "internal error: breaks SkyPilot's task schema: " + p.message)
                for p in problems
            ]
        )
    _check_yaml(
        "pytorchjob.yaml",
        out["pytorchjob.yaml"],
        {
            "metadata.name": ctx.job,
            "spec.nprocPerNode": str(ctx.gpus_per_node),
            "spec.pytorchReplicaSpecs.Master.replicas": 1,
            "spec.pytorchReplicaSpecs.Worker.replicas": ctx.nodes - 1 if ctx.nodes > 1 else None,
        },
        file,
    )
    return out


def generate(build) -> dict[str, str]:
    """The launch files of a compiled Build, name -> text (see file_names for which)."""
    return render_all(context(build), build.spec.file)

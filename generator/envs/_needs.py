"""Does a framework env have the modules a config needs (DeepSpeed, Liger, flash-attn)? Asked of the env's own
Python with importlib.util.find_spec: nothing is imported, and ftgen's core never imports torch."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..frameworks import get as get_framework
from ..frameworks._base import Need
from ._env import Env

_PROBE = (
    "import importlib.util, json, sys\n"
    "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))\n"
)


def probe(python: Path, modules: Sequence[str]) -> dict[str, bool]:
    """module -> whether `python` can import it (find_spec, no import). Tests replace this function."""
    if not modules:
        return {}
    try:
        done = subprocess.run(
            [str(python), "-c", _PROBE, *modules], capture_output=True, text=True, timeout=60, check=False
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {m: False for m in modules}
    return {m: bool(found.get(m)) for m in modules}


def install_command(env: Env, need: Need) -> str:
    return shlex.join([str(env.python), "-m", "pip", "install", *need.pip])


def missing(framework: str, config: Mapping[str, Any], env: Env) -> list[Need]:
    """The needs of `config` that `env` cannot import."""
    needs = get_framework(framework).needs(config)
    if not needs:
        return []
    found = probe(env.python, [n.module for n in needs])
    return [n for n in needs if not found.get(n.module)]


def problems(framework: str, config: Mapping[str, Any], env: Env, config_file: str) -> list[Problem]:
    """One problem per missing module, naming the config key that asks for it and the exact install command."""
    return [
        Problem(
            config_file,
            n.key,
            f"the {framework} env ({env.root}) cannot import {n.module}, which {n.why} needs",
            found=n.module,
            allowed=f"install it into the env: {install_command(env, n)}",
        )
        for n in missing(framework, config, env)
    ]

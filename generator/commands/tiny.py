"""`ftgen tiny-model`: a random-initialised tiny Llama and a locally trained tokenizer, for demos and tests."""

from __future__ import annotations

from pathlib import Path

import click

from .._cli_common import FrameworkChoice, escape, handle_errors, out
from ..errors import FtgenError, Problem
from ..frameworks import names as framework_names


@click.command("tiny-model")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="JSONL files whose text trains the tokenizer (repeatable).",
)
@click.option(
    "--framework",
    type=FrameworkChoice(),
    default=None,
    help="Whose env (torch, transformers, tokenizers) builds the model (default: the first one installed).",
)
@click.option("--env-dir", type=click.Path(path_type=Path), default=None)
@handle_errors
def tiny_model(out_dir, data, framework, env_dir):
    """Make a tiny model in OUT_DIR (keeps an existing config.json's shape). Nothing is downloaded."""
    from .. import envs

    if framework is None:
        framework = next((n for n in framework_names() if envs.get_env(n, env_dir)), framework_names()[0])
    env = envs.get_env(framework, env_dir)
    if env is None:
        raise FtgenError(
            [Problem("<environment>", framework, "no managed environment", allowed=f"ftgen env install {framework}")]
        )
    try:
        info = envs.run_json(
            env.python,
            "make_tiny_model.py",
            [str(out_dir), "--data", *map(str, data)],
            env=env.subprocess_env(),
            timeout=600,
        )
    except envs.ScriptError as exc:
        raise FtgenError([Problem(str(out_dir), "", f"could not make the tiny model: {exc}")]) from None
    out.print(f"[green]tiny model[/] {escape(info['path'])}: {info['params']:,} parameters, vocab {info['vocab']}")


COMMANDS = [tiny_model]

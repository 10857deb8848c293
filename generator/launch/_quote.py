"""The only ways values enter launch files: shell-quoted words, checked job names, one-line comments."""

from __future__ import annotations

import re
import shlex

from ..render._yamlsafe import UnsafeValue, comment

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def shell_word(value: object) -> str:
    """One shell word for `value` (jinja filter `q`): shlex.quote, refusing control characters.

    Control characters (newlines above all) are refused so a quoted word can also sit inside a
    YAML block scalar or a `#SBATCH` line without changing its structure.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise UnsafeValue(f"{value!r}: only strings and integers are written into shell text")
    text = str(value)
    if any(not ch.isprintable() for ch in text):
        raise UnsafeValue(f"{text!r} holds control characters and cannot be written into a script")
    return shlex.quote(text)


def job_name(value: object) -> str:
    """A name for Slurm, SkyPilot and Kubernetes (filter `name`): letters, digits, '.', '_', '-' only."""
    text = str(value)
    if not _NAME.match(text):
        raise UnsafeValue(f"{text!r} is not a plain job name (letters, digits, '.', '_', '-')")
    return text


_SBATCH = re.compile(r"^[A-Za-z0-9_.,:=@%/+-]+$")


def sbatch_value(value: object) -> str:
    """A value for an #SBATCH line (filter `sbatch`): sbatch reads these lines itself, not the shell, so only
    characters that need no quoting pass (the spec schema allows no others)."""
    text = str(value)
    if not _SBATCH.match(text):
        raise UnsafeValue(f"{text!r} cannot be written on an #SBATCH line (letters, digits and _.,:=@%/+- only)")
    return text


__all__ = ["UnsafeValue", "comment", "job_name", "sbatch_value", "shell_word"]

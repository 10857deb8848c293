"""The one way ftgen builds jinja2 environments: templates/ loader, StrictUndefined, on-disk bytecode cache."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import cache

import jinja2

from ._resources import templates_dir


@cache
def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates cached on disk (keyed by source), so a cold `ftgen build` skips compiling them."""
    base = os.environ.get("FTGEN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "ftgen")
    for folder in (os.path.join(base, "jinja"), os.path.join(tempfile.gettempdir(), f"ftgen-jinja-{os.getuid()}")):
        try:
            os.makedirs(folder, exist_ok=True)
            if os.access(folder, os.W_OK):
                return jinja2.FileSystemBytecodeCache(folder)
        except OSError:
            continue
    return None


def environment(
    filters: dict[str, Callable] | None = None, globals_: dict | None = None, autoescape: bool = False
) -> jinja2.Environment:
    """A jinja2 environment over templates/ with StrictUndefined and the given filters (and globals)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=bytecode_cache(),
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters or {})
    env.globals.update(globals_ or {})
    return env

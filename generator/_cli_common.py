"""What every CLI command shares: the consoles, the problem listing, the error-to-exit-code wrapper."""

from __future__ import annotations

import functools
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import FtgenError, Problem

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_CODES = """
Exit codes: 0 ok; 1 drift or lint findings; 2 invalid input or a plan that cannot work; 3 run failed.
"""


def print_problems(problems: list[Problem]) -> None:
    n = len(problems)
    err.print(f"[bold red]{n} problem{'s' if n != 1 else ''} found:[/]")
    for p in problems:
        colour = {"error": "red", "warning": "yellow", "info": "cyan"}.get(p.severity, "white")
        err.print(f"  [{colour}]{p.severity}[/] {escape(p.render())}")


def handle_errors(fn):
    """Turn FtgenError into a listing and its exit code; never show a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FtgenError as exc:
            print_problems(exc.problems)
            sys.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)

    return wrapper


def table(*columns: str, header: bool = True) -> Table:
    """A borderless table whose cells wrap instead of being cut (ids and paths must stay whole)."""
    t = Table(box=None, show_header=header, pad_edge=False)
    for i, name in enumerate(columns):
        t.add_column(name, overflow="fold", no_wrap=i == 0)  # the first column is the key: never split it
    return t


class FrameworkChoice(click.Choice):
    """A framework name, checked against the registry when the command runs (a registered framework counts);
    `extra` adds words such as "both" or "all"."""

    def __init__(self, *extra: str):
        self.extra = extra
        super().__init__(self._names())

    def _names(self) -> list[str]:
        from .frameworks import names

        return [*names(), *self.extra]

    def convert(self, value, param, ctx):
        self.choices = self._names()
        return super().convert(value, param, ctx)

    def get_metavar(self, param, *args, **kwargs):
        self.choices = self._names()
        return super().get_metavar(param, *args, **kwargs)

"""What every CLI command shares: the consoles, the problem listing, the error-to-exit-code wrapper."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from .errors import FtgenError, Problem

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


class _LazyConsole:
    """A rich Console made on first use: importing rich costs more than `ftgen lint` may take in all, and a
    command that prints plain text (lint, --json) never needs it."""

    def __init__(self, **options: Any):
        self._options = options
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def escape(text: str) -> str:
    """rich's markup escape (rich imported when something is printed with markup anyway)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


# emoji=False: a value such as `:x:` in an error or a table is printed as written, never as an emoji
out: Console = _LazyConsole(highlight=False, soft_wrap=True, emoji=False)  # type: ignore[assignment]
err: Console = _LazyConsole(stderr=True, highlight=False, soft_wrap=True, emoji=False)  # type: ignore[assignment]

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
    from rich.table import Table

    t = Table(box=None, show_header=header, pad_edge=False)
    for i, name in enumerate(columns):
        t.add_column(name, overflow="fold", no_wrap=i == 0)  # the first column is the key: never split it
    return t


# ---------------------------------------------------------------------------------------------- listings

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def cell_text(value: Any) -> str:
    """A value as one table cell: text, with control characters (newlines, terminal escapes) shown escaped."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return _CONTROL.sub(
        lambda m: {"\n": "\\n", "\r": "\\r", "\t": " "}.get(m.group(), f"\\x{ord(m.group()):02x}"), text
    )


@dataclass(frozen=True)
class Column:
    """One column of a listing: the row key (also its JSON key), the header, how a value is shown, its colour."""

    key: str
    header: str
    fmt: Callable[[Any], str] = cell_text
    style: Callable[[Any], str | None] | None = None


def listing(
    columns: Sequence[Column], rows: Iterable[dict], *, as_json: bool = False, console: Console | None = None
) -> None:
    """Print rows as JSON (`--json`: a list of objects, values typed), as a table on a terminal wide enough for
    it, or as plain columns (a pipe, a file, a narrow terminal): one row per line, values never folded or cut."""
    console = console or out
    rows = list(rows)
    if as_json:
        console.file.write(json.dumps(rows, indent=2, ensure_ascii=False, default=str) + "\n")
        console.file.flush()
        return
    cells = [[cell_text(c.fmt(r.get(c.key))) for c in columns] for r in rows]
    if console.is_terminal and _fits(columns, cells, console.width):
        grid = table(*(c.header for c in columns))
        for r, row in zip(rows, cells):
            styled = []
            for c, text in zip(columns, row):
                style = c.style(r.get(c.key)) if c.style else None
                styled.append(f"[{style}]{escape(text)}[/]" if style and text else escape(text))
            grid.add_row(*styled)
        console.print(grid)
        return
    console.file.write(plain_columns([c.header for c in columns], cells))
    console.file.flush()


def _fits(columns: Sequence[Column], cells: list[list[str]], width: int) -> bool:
    """Whether the table fits the terminal without folding a value (else: plain columns the terminal may wrap,
    each value still in one piece)."""
    from rich.cells import cell_len

    widths = [max([cell_len(c.header)] + [cell_len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    return sum(widths) + 2 * (len(widths) - 1) <= width


def plain_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest value, two spaces apart, no trailing blanks: grep, cut and awk friendly."""
    from rich.cells import cell_len

    all_rows = [list(headers), *[list(r) for r in rows]]
    widths = [max(cell_len(r[i]) for r in all_rows) for i in range(len(headers))]
    lines = []
    for r in all_rows:
        parts = [text + " " * (widths[i] - cell_len(text)) for i, text in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


class FrameworkChoice(click.Choice):
    """A framework name, checked against the registry when the command runs (a registered framework counts);
    `extra` adds words such as "both" or "all". The registry is read when the choices are first needed, not when
    the command is defined."""

    def __init__(self, *extra: str):
        self.extra = extra
        super().__init__(())

    @property
    def choices(self) -> list[str]:
        from .frameworks import names

        return [*names(), *self.extra]

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ sets it; the registry answers instead
        pass

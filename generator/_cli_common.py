"""What every CLI command shares: the consoles, the problem listing, the error-to-exit-code wrapper."""

from __future__ import annotations

import functools
import json
import os
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
    command that prints plain text (lint, --json) never needs it. One string printed to a pipe or a file (not a
    terminal, no FORCE_COLOR and the like) is written as the text rich would write, without rich: what `ftgen
    build` prints. Anything else (a terminal, a table, text only rich can tell about) goes to rich."""

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

    def print(self, *objects: Any, **kwargs: Any) -> None:
        text = self._plain(objects, kwargs)
        if text is None:
            self._get().print(*objects, **kwargs)
            return
        file = sys.stderr if self._options.get("stderr") else sys.stdout
        try:
            file.write(text + "\n")
            file.flush()
        except BrokenPipeError:
            self._get().on_broken_pipe()

    def _plain(self, objects: tuple, kwargs: dict) -> str | None:
        """What rich would write for one string on a plain stream, or None when that takes rich."""
        if len(objects) != 1 or not isinstance(objects[0], str) or not set(kwargs) <= {"markup", "highlight"}:
            return None
        options = self._options
        if not options.get("soft_wrap") or options.get("highlight", True) or options.get("emoji", True):
            return None
        if not plain_output(stderr=bool(options.get("stderr"))):
            return None
        if kwargs.get("markup") is False:
            return None if any(c in objects[0] for c in _RICH_CHANGES) else objects[0]
        return plain_markup(objects[0])


# rich decides "terminal or not" by these as well as by isatty(): with any of them set, rich decides
_RICH_ENVIRON = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")
_RICH_ENVIRON += ("DATABRICKS_RUNTIME_VERSION",)
# characters rich removes (bell, backspace, vertical tab, form feed, carriage return) or expands (tab)
_RICH_CHANGES = ("\a", "\b", "\v", "\f", "\r", "\t")
# rich.markup's tag and escape patterns
_MARKUP_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])", re.VERBOSE)
_MARKUP_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _plain_stream(file: Any) -> bool:
    """Whether rich would see `file` as no terminal (and so write no styles at all)."""
    if hasattr(sys.stdin, "__module__") and sys.stdin.__module__.startswith("idlelib"):
        return False  # rich's own fudge: leave it to rich
    if "IPython" in sys.modules:
        return False  # rich's Jupyter detection: leave it to rich
    isatty = getattr(file, "isatty", None)
    if isatty is None:
        return False
    try:
        return not isatty()
    except ValueError:
        return False


def plain_output(stderr: bool = False) -> bool:
    """Whether stdout (or stderr) is where rich would write no styles: a pipe or a file, no FORCE_COLOR and the
    like. What a command prints there is plain text (tables as plain columns), written without rich."""
    if any(name in os.environ for name in _RICH_ENVIRON):
        return False
    return _plain_stream(sys.stderr if stderr else sys.stdout)


def plain_markup(markup: str) -> str | None:
    """The text of rich console markup as rich writes it to a plain stream (tags dropped, escapes undone), or None
    when the markup holds something only rich can tell about (a handler tag, a closing tag that matches no open
    tag by its exact name, characters rich strips or expands)."""
    if any(c in markup for c in _RICH_CHANGES):
        return None
    if "[" not in markup:
        return markup
    out: list[str] = []
    opened: list[str] = []
    position = 0
    for match in _MARKUP_TAG.finditer(markup):  # rich.markup._parse and render, without the styles
        full_text, escapes, tag_text = match.groups()
        start, end = match.span()
        if start > position:
            out.append(markup[position:start].replace("\\[", "["))
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            if backslashes:
                out.append("\\" * backslashes)
            if escaped:
                out.append(full_text[len(escapes) :].replace("\\[", "["))
                position = end
                continue
        name = tag_text.partition("=")[0]
        if name.startswith("@"):
            return None
        if name.startswith("/"):
            closing = name[1:].strip()
            if closing:
                if closing not in opened:
                    return None
                del opened[len(opened) - 1 - opened[::-1].index(closing)]
            elif opened:
                opened.pop()
            else:
                return None
        else:
            opened.append(name)
        position = end
    if position < len(markup):
        out.append(markup[position:].replace("\\[", "["))
    return "".join(out)


def escape(text: str) -> str:
    """rich's markup escape (rich.markup.escape: the same pattern and steps), without importing rich."""

    def backslashes(match: re.Match) -> str:
        slashes, tag = match.groups()
        return f"{slashes}{slashes}\\{tag}"

    text = _MARKUP_ESCAPE.sub(backslashes, text)
    if text.endswith("\\") and not text.endswith("\\\\"):
        return text + "\\"
    return text


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
    widths = [max([_cell_len(c.header)] + [_cell_len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    return sum(widths) + 2 * (len(widths) - 1) <= width


def plain_columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest value, two spaces apart, no trailing blanks: grep, cut and awk friendly."""
    all_rows = [list(headers), *[list(r) for r in rows]]
    widths = [max(_cell_len(r[i]) for r in all_rows) for i in range(len(headers))]
    lines = []
    for r in all_rows:
        parts = [text + " " * (widths[i] - _cell_len(text)) for i, text in enumerate(r)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def _cell_len(text: str) -> int:
    """The columns `text` takes on a terminal (rich.cells.cell_len: wide East Asian characters take two); printable
    ASCII takes one per character, without importing rich."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


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

"""The CLI's consoles (generator/_cli_common.py): what they write to a pipe without rich is what rich writes."""

from __future__ import annotations

import io
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.markup import escape as rich_escape

from generator import _cli_common
from generator._cli_common import _LazyConsole, escape, plain_markup

# the characters markup is made of, and some it is not
PIECES = list("ab /=@#[]\\\t\r\a:é界") + ["bold", "red", "/bold", "[/]", "[b]"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
TAGS = st.sampled_from(["[bold]", "[/]", "[/bold]", "[red]", "[bold green]", "[/red]", "[link=x]", "[@click]", "[b]"])


def rich_plain(text: str, **print_options) -> str:
    """What rich writes for `text` to a plain stream, with the options ftgen's consoles have."""
    buf = io.StringIO()
    Console(file=buf, highlight=False, soft_wrap=True, emoji=False).print(text, **print_options)
    return buf.getvalue()


@given(TEXT)
@example("a\\")
@example("[bold]x[/bold] \\[not\\] \\\\[b]y[/b]")
def test_escape_is_richs(text):
    assert escape(text) == rich_escape(text)


@settings(max_examples=500)
@given(st.lists(st.one_of(TAGS, TEXT), max_size=8))
@example(["[bold green]", "built", "[/]", " x"])
@example(["[Bold]", "x", "[/bold]"])
@example(["\\", "[bold]", "x", "[/]"])
def test_plain_markup_is_what_rich_writes_when_it_answers(parts):
    markup = "".join(parts)
    plain = plain_markup(markup)
    if plain is not None:
        assert plain + "\n" == rich_plain(markup)


@settings(max_examples=300)
@given(TEXT, TEXT)
def test_escaped_values_in_ftgen_s_markup_always_print_without_rich(name, value):
    markup = f"[bold green]built[/] {escape(name)}: [bold]{escape(value)}[/]"
    plain = plain_markup(markup)
    if not any(c in name + value for c in "\t\r\a"):
        assert plain is not None
    if plain is not None:
        assert plain + "\n" == rich_plain(markup)


class Pipe(io.StringIO):
    def isatty(self):
        return False


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("markup", [True, False])
def test_a_console_writes_to_a_pipe_without_rich_what_rich_would(monkeypatch, markup):
    pipe = Pipe()
    monkeypatch.setattr(sys, "stdout", pipe)
    console = _LazyConsole(highlight=False, soft_wrap=True, emoji=False)
    text = f"[yellow]would regenerate[/] {escape('out/[x]')}: a, b"
    console.print(text, markup=markup)
    assert console._console is None, "rich was not needed"
    assert pipe.getvalue() == rich_plain(text, markup=markup)


@pytest.mark.parametrize("env", ["FORCE_COLOR", "TTY_COMPATIBLE"])
def test_a_terminal_or_forced_colour_goes_to_rich(monkeypatch, env):
    monkeypatch.setattr(sys, "stdout", Terminal())
    console = _LazyConsole(highlight=False, soft_wrap=True, emoji=False)
    console.print("[bold]x[/]")
    assert console._console is not None
    monkeypatch.setattr(sys, "stdout", Pipe())
    monkeypatch.setenv(env, "1")
    assert _LazyConsole(highlight=False, soft_wrap=True, emoji=False)._plain(("x",), {}) is None


def test_markup_only_rich_can_tell_about_goes_to_rich():
    assert plain_markup("[bold]x[/red]") is None  # rich raises MarkupError: so it still does
    assert plain_markup("x[/]") is None
    assert plain_markup("[@click]x[/]") is None
    assert plain_markup("a\tb") is None
    assert _cli_common._plain_stream(object()) is False  # no isatty: rich decides


CELLS = st.lists(st.sampled_from(list("ab0.-_ ()%") + ["界", "é", "weights", "11.38"]), max_size=8).map("".join)


@settings(max_examples=200)
@given(st.lists(st.tuples(CELLS, CELLS), max_size=6))
def test_plain_columns_say_what_the_rich_table_says_on_a_wide_console(rows):
    """A table printed to a pipe (`ftgen estimate`, the listings) is plain columns: rich's borderless table (what a
    terminal shows) line for line, without its trailing blanks, and without rich."""
    header = ("component", "GiB per GPU")
    grid = _cli_common.table(*header)
    for row in rows:
        grid.add_row(*(escape(cell) for cell in row))
    buf = io.StringIO()
    Console(file=buf, width=500, highlight=False, soft_wrap=True, emoji=False).print(grid)
    assert _cli_common.plain_columns(header, rows) == "".join(
        line.rstrip() + "\n" for line in buf.getvalue().splitlines()
    )


def test_plain_output_follows_rich_s_own_reading_of_the_stream(monkeypatch):
    monkeypatch.setattr(sys, "stdout", Pipe())
    assert _cli_common.plain_output()
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not _cli_common.plain_output()
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert not _cli_common.plain_output()
